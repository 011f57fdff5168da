//! The built graphs, cached beside the extract (`FILE.osm.pbf.yizhan-graph`).
//!
//! The cache is keyed by the extract's SHA-256, [`super::PROFILE_VERSION`] and the speeds;
//! its payload carries a CRC-32 and is validated structurally after reading, so a stale,
//! truncated or corrupt file is rebuilt, never trusted.

use super::graph::{Csr, Graph};
use super::osm::{self, Networks};
use super::{NetworkError, Profile, PROFILE_VERSION};
use crate::domain::{Mode, TravelModel};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"YZGRAPH\0";
const HEADER: usize = 8 + 4 + 32 + 8 + 8 + 8 + 4;

/// Where the graphs built from `extract` are cached.
pub fn cache_path(extract: &Path) -> PathBuf {
    let mut s = extract.as_os_str().to_owned();
    s.push(".yizhan-graph");
    PathBuf::from(s)
}

/// SHA-256 of the extract's bytes.
pub fn extract_key(extract: &Path) -> Result<[u8; 32], NetworkError> {
    let mut f = std::fs::File::open(extract)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

/// Whether the graphs came from the cache or were built (and cached).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Read from a valid cache.
    Cache,
    /// Built from the extract (the cache was missing, stale or corrupt).
    Built,
}

/// The graphs of `extract`: from its cache when that is valid, otherwise built and cached
/// (a cache that cannot be written is logged and skipped).
pub fn load_or_build(
    extract: &Path,
    model: &TravelModel,
) -> Result<(Networks, Origin), NetworkError> {
    let key = extract_key(extract)?;
    let path = cache_path(extract);
    match load(&path, &key, model) {
        Ok(n) => return Ok((n, Origin::Cache)),
        Err(NetworkError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(cache = %path.display(), error = %e, "rebuilding road graph"),
    }
    let nets = osm::read(extract, model)?;
    if let Err(e) = save(&path, &key, model, &nets) {
        tracing::warn!(cache = %path.display(), error = %e, "road graph not cached");
    }
    Ok((nets, Origin::Built))
}

/// Writes both graphs to `path` (through a temporary file, so a crash leaves no half file).
pub fn save(
    path: &Path,
    key: &[u8; 32],
    model: &TravelModel,
    nets: &Networks,
) -> Result<(), NetworkError> {
    let mut payload = Vec::new();
    for g in [&nets.walk, &nets.ebike] {
        put_graph(&mut payload, g);
    }
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&PROFILE_VERSION.to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&model.walk_kmh.to_le_bytes());
    out.extend_from_slice(&model.ebike_kmh.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(&out)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| NetworkError::Io(e.error))?;
    Ok(())
}

/// Reads both graphs from `path` if it was written for the extract with `key` under this
/// build's rules and `model`'s speeds.
pub fn load(path: &Path, key: &[u8; 32], model: &TravelModel) -> Result<Networks, NetworkError> {
    let bytes = std::fs::read(path)?;
    let bad = |m: &str| NetworkError::Cache(m.to_string());
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return Err(bad("not a yizhan graph cache"));
    }
    let mut r = Reader { b: &bytes[8..] };
    if r.u32()? != PROFILE_VERSION {
        return Err(bad("built under other profile rules"));
    }
    if r.take(32)? != key {
        return Err(bad("built from another extract"));
    }
    if r.f64()? != model.walk_kmh || r.f64()? != model.ebike_kmh {
        return Err(bad("built for other speeds"));
    }
    let len = r.u64()?;
    let crc = r.u32()?;
    if r.b.len() as u64 != len || crc32fast::hash(r.b) != crc {
        return Err(bad("payload truncated or corrupt"));
    }
    let walk = get_graph(&mut r, Profile::new(Mode::Walk, model))?;
    let ebike = get_graph(&mut r, Profile::new(Mode::Ebike, model))?;
    Ok(Networks { walk, ebike })
}

fn put_vec<T: Copy, const N: usize>(out: &mut Vec<u8>, v: &[T], le: impl Fn(T) -> [u8; N]) {
    out.extend_from_slice(&(v.len() as u64).to_le_bytes());
    out.reserve(v.len() * N);
    for &x in v {
        out.extend_from_slice(&le(x));
    }
}

fn put_graph(out: &mut Vec<u8>, g: &Graph) {
    let pair = |p: [i32; 2]| {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&p[0].to_le_bytes());
        b[4..].copy_from_slice(&p[1].to_le_bytes());
        b
    };
    put_vec(out, &g.coords, pair);
    for csr in [&g.fwd, &g.rev] {
        put_vec(out, &csr.first, u32::to_le_bytes);
        // Heads then weights, as the layout has always been on disk.
        let heads: Vec<u32> = csr.arcs.iter().map(|a| a[0]).collect();
        let weights: Vec<u32> = csr.arcs.iter().map(|a| a[1]).collect();
        put_vec(out, &heads, u32::to_le_bytes);
        put_vec(out, &weights, u32::to_le_bytes);
    }
    put_vec(out, &g.edge_u, u32::to_le_bytes);
    put_vec(out, &g.edge_v, u32::to_le_bytes);
    put_vec(out, &g.edge_len, f64::to_le_bytes);
    put_vec(out, &g.edge_dir, u8::to_le_bytes);
    put_vec(out, &g.interior_first, u32::to_le_bytes);
    put_vec(out, &g.interior, pair);
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], NetworkError> {
        if self.b.len() < n {
            return Err(NetworkError::Cache("payload truncated".into()));
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }

    fn arr<const N: usize>(&mut self) -> Result<[u8; N], NetworkError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u32(&mut self) -> Result<u32, NetworkError> {
        Ok(u32::from_le_bytes(self.arr()?))
    }

    fn u64(&mut self) -> Result<u64, NetworkError> {
        Ok(u64::from_le_bytes(self.arr()?))
    }

    fn f64(&mut self) -> Result<f64, NetworkError> {
        Ok(f64::from_le_bytes(self.arr()?))
    }

    fn vec<T, const N: usize>(
        &mut self,
        from: impl Fn([u8; N]) -> T,
    ) -> Result<Vec<T>, NetworkError> {
        let n = usize::try_from(self.u64()?).map_err(|_| NetworkError::Cache("length".into()))?;
        let bytes = self.take(
            n.checked_mul(N)
                .ok_or_else(|| NetworkError::Cache("length".into()))?,
        )?;
        Ok(bytes
            .chunks_exact(N)
            .map(|c| {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                from(a)
            })
            .collect())
    }
}

fn get_graph(r: &mut Reader<'_>, profile: Profile) -> Result<Graph, NetworkError> {
    let pair = |b: [u8; 8]| {
        [
            i32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        ]
    };
    let coords = r.vec(pair)?;
    let mut csr = || -> Result<Csr, NetworkError> {
        let first = r.vec(u32::from_le_bytes)?;
        let heads = r.vec(u32::from_le_bytes)?;
        let weights = r.vec(u32::from_le_bytes)?;
        if heads.len() != weights.len() {
            return Err(NetworkError::Cache(
                "arc heads and weights differ in number".into(),
            ));
        }
        let arcs = heads
            .into_iter()
            .zip(weights)
            .map(|(h, w)| [h, w])
            .collect();
        Ok(Csr { first, arcs })
    };
    let fwd = csr()?;
    let rev = csr()?;
    let g = Graph {
        profile,
        coords,
        fwd,
        rev,
        edge_u: r.vec(u32::from_le_bytes)?,
        edge_v: r.vec(u32::from_le_bytes)?,
        edge_len: r.vec(f64::from_le_bytes)?,
        edge_dir: r.vec(u8::from_le_bytes)?,
        interior_first: r.vec(u32::from_le_bytes)?,
        interior: r.vec(pair)?,
    };
    g.validate().map_err(NetworkError::Cache)?;
    Ok(g)
}
