//! The county basemap at a few levels of detail, simplified without opening gaps or slivers
//! between neighbours.
//!
//! The seed is a coverage: neighbouring counties carry the same vertices along their common
//! border. Simplifying each polygon on its own would move those vertices differently on either
//! side. So, as TopoJSON does, every ring is cut into arcs at its junctions (points where the
//! set of neighbours changes), each distinct arc is simplified once (Douglas–Peucker, ends
//! fixed) and rounded, and the rings are put back together from the shared arcs: both sides of
//! a border get the very same vertices at every level.

use geo::{Coord, LineString, Polygon, Simplify, Validation};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// One level of detail of the basemap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level {
    /// Its name in `?detail=`.
    pub name: &'static str,
    /// The highest map zoom it is drawn for (Web Mercator, 256-pixel tiles).
    pub max_zoom: u8,
    /// Douglas–Peucker tolerance in degrees (0: the seed's own vertices).
    pub tolerance: f64,
    /// Decimals kept in each coordinate.
    pub decimals: i32,
}

/// The levels, coarse to fine. A pixel at zoom z spans 360/(256·2^z) degrees of longitude:
/// 0.022° at zoom 6 (Jiangxi fills a phone's width there), 0.011° at zoom 7, 0.0027° at zoom 9.
/// `low` drops detail under about a pixel at zoom 7 (~22 KB gzipped), `medium` about a pixel
/// at zoom 9 (~68 KB), and `full` is the seed as shipped (~137 KB, already simplified to
/// 0.003° by `seeds/generate.py`); each keeps coordinates to about a tenth of its pixel.
pub const LEVELS: [Level; 3] = [
    Level {
        name: "low",
        max_zoom: 7,
        tolerance: 0.01,
        decimals: 3,
    },
    Level {
        name: "medium",
        max_zoom: 9,
        tolerance: 0.003,
        decimals: 4,
    },
    Level {
        name: "full",
        max_zoom: 22,
        tolerance: 0.0,
        decimals: 5,
    },
];

/// One level, serialized once.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The level.
    pub level: Level,
    /// The GeoJSON FeatureCollection.
    pub body: String,
    /// A strong ETag: a hash of `body`.
    pub etag: String,
    /// The collection's members other than `features`, for replies cut to a box.
    members: Map<String, Value>,
    /// Each feature with its bounds (west, south, east, north).
    features: Vec<([f64; 4], Value)>,
}

impl Rendered {
    /// The collection with only the features whose bounds meet the box (west, south, east,
    /// north): at street zoom a phone needs full detail for two or three counties, not 100.
    pub fn within(&self, bbox: [f64; 4]) -> String {
        let [w, s, e, n] = bbox;
        let features: Vec<Value> = self
            .features
            .iter()
            .filter(|(b, _)| b[0] <= e && b[2] >= w && b[1] <= n && b[3] >= s)
            .map(|(_, f)| f.clone())
            .collect();
        let mut fc = self.members.clone();
        fc.insert("bbox".into(), json!(bbox));
        fc.insert("features".into(), Value::Array(features));
        Value::Object(fc).to_string()
    }
}

/// West, south, east, north of a GeoJSON geometry's coordinates.
fn bounds(geometry: &Value) -> [f64; 4] {
    fn walk(v: &Value, b: &mut [f64; 4]) {
        match v.as_array() {
            Some(a) if a.len() >= 2 && a[0].is_number() => {
                let (x, y) = (a[0].as_f64().unwrap_or(0.0), a[1].as_f64().unwrap_or(0.0));
                *b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
            }
            Some(a) => a.iter().for_each(|c| walk(c, b)),
            None => {}
        }
    }
    let mut b = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    walk(&geometry["coordinates"], &mut b);
    b
}

/// Exact identity of a vertex (the seed's shared vertices are bit-identical).
type Key = (u64, u64);

fn key(c: Coord) -> Key {
    (c.x.to_bits(), c.y.to_bits())
}

/// A ring as a sequence of arcs, each maybe walked backwards.
type ArcRing = Vec<(usize, bool)>;

/// The rings of every feature as shared arcs.
struct Topology {
    arcs: Vec<Vec<Coord>>,
    /// Per feature, per polygon, per ring (exterior first).
    features: Vec<Vec<Vec<ArcRing>>>,
}

/// Reads the polygons of a GeoJSON geometry (Polygon or MultiPolygon).
fn polygons(geometry: &Value) -> Result<Vec<Vec<Vec<Coord>>>, String> {
    let ring = |r: &Value| -> Result<Vec<Coord>, String> {
        let pts = r.as_array().ok_or("a ring is not an array")?;
        pts.iter()
            .map(|p| match p.as_array().map(Vec::as_slice) {
                Some([x, y, ..]) => Ok(Coord {
                    x: x.as_f64().ok_or("a longitude is not a number")?,
                    y: y.as_f64().ok_or("a latitude is not a number")?,
                }),
                _ => Err("a position is not [lon, lat]".to_string()),
            })
            .collect()
    };
    let polygon = |p: &Value| -> Result<Vec<Vec<Coord>>, String> {
        p.as_array()
            .ok_or("a polygon is not an array")?
            .iter()
            .map(ring)
            .collect()
    };
    let coords = &geometry["coordinates"];
    match geometry["type"].as_str() {
        Some("Polygon") => Ok(vec![polygon(coords)?]),
        Some("MultiPolygon") => coords
            .as_array()
            .ok_or("MultiPolygon coordinates are not an array")?
            .iter()
            .map(polygon)
            .collect(),
        other => Err(format!("expected a Polygon or MultiPolygon, got {other:?}")),
    }
}

/// Cuts every ring into arcs between junctions and shares identical arcs.
fn build_topology(rings: &[Vec<Vec<Vec<Coord>>>]) -> Topology {
    // A vertex is a junction when its neighbours differ between two passes over it.
    let mut seen: HashMap<Key, (Key, Key)> = HashMap::new();
    let mut junction: std::collections::HashSet<Key> = Default::default();
    let open = |r: &Vec<Coord>| -> Vec<Coord> {
        let mut r = r.clone();
        if r.len() > 1 && r.first() == r.last() {
            r.pop();
        }
        r
    };
    for ring in rings.iter().flatten().flatten() {
        let r = open(ring);
        let n = r.len();
        for i in 0..n {
            let (a, b) = (key(r[(i + n - 1) % n]), key(r[(i + 1) % n]));
            let pair = if a <= b { (a, b) } else { (b, a) };
            match seen.get(&key(r[i])) {
                None => {
                    seen.insert(key(r[i]), pair);
                }
                Some(p) if *p != pair => {
                    junction.insert(key(r[i]));
                }
                Some(_) => {}
            }
        }
    }
    let mut arcs: Vec<Vec<Coord>> = Vec::new();
    let mut index: HashMap<Vec<Key>, usize> = HashMap::new();
    let mut share = |arc: Vec<Coord>| -> (usize, bool) {
        let fwd: Vec<Key> = arc.iter().copied().map(key).collect();
        let rev: Vec<Key> = fwd.iter().rev().copied().collect();
        let (canon, reversed) = if rev < fwd { (rev, true) } else { (fwd, false) };
        let id = *index.entry(canon).or_insert_with(|| {
            let mut a = arc.clone();
            if reversed {
                a.reverse();
            }
            arcs.push(a);
            arcs.len() - 1
        });
        (id, reversed)
    };
    let features = rings
        .iter()
        .map(|polys| {
            polys
                .iter()
                .map(|poly| {
                    poly.iter()
                        .map(|ring| {
                            let mut r = open(ring);
                            let cuts: Vec<usize> = (0..r.len())
                                .filter(|&i| junction.contains(&key(r[i])))
                                .collect();
                            // No junction: the whole ring is one closed arc, started at its
                            // smallest vertex so another ring tracing it (an enclave's hole)
                            // finds the same arc.
                            let start = match cuts.first() {
                                Some(&c) => c,
                                None => (0..r.len()).min_by_key(|&i| key(r[i])).unwrap_or(0),
                            };
                            r.rotate_left(start);
                            let mut cuts: Vec<usize> = (0..r.len())
                                .filter(|&i| junction.contains(&key(r[i])))
                                .collect();
                            if cuts.is_empty() {
                                cuts.push(0);
                            }
                            cuts.push(r.len());
                            r.push(r[0]);
                            cuts.windows(2)
                                .map(|w| share(r[w[0]..=w[1]].to_vec()))
                                .collect()
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    Topology { arcs, features }
}

fn round_to(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

/// Douglas–Peucker with both ends fixed, then rounding (dropping repeats it creates). A closed
/// arc is split at its farthest vertex first, so the line's two ends are distinct.
fn simplify_arc(arc: &[Coord], tolerance: f64, decimals: i32) -> Vec<Coord> {
    let dp = |part: &[Coord]| -> Vec<Coord> {
        if tolerance <= 0.0 {
            return part.to_vec();
        }
        LineString::from(part.to_vec()).simplify(tolerance).0
    };
    let mut out = if arc.len() > 2 && arc.first() == arc.last() {
        let far = (1..arc.len() - 1)
            .max_by(|&a, &b| {
                let d = |i: usize| (arc[i].x - arc[0].x).hypot(arc[i].y - arc[0].y);
                d(a).total_cmp(&d(b))
            })
            .unwrap_or(1);
        let mut first = dp(&arc[..=far]);
        first.pop();
        first.extend(dp(&arc[far..]));
        first
    } else {
        dp(arc)
    };
    for c in &mut out {
        *c = Coord {
            x: round_to(c.x, decimals),
            y: round_to(c.y, decimals),
        };
    }
    out.dedup();
    out
}

/// A ring put back together from its simplified arcs (closed).
fn assemble(ring: &ArcRing, arcs: &[Vec<Coord>]) -> Vec<Coord> {
    let mut out: Vec<Coord> = Vec::new();
    for &(id, reversed) in ring {
        let mut a = arcs[id].clone();
        if reversed {
            a.reverse();
        }
        if out.last() == a.first() {
            a.remove(0);
        }
        out.extend(a);
    }
    if out.first() != out.last() {
        if let Some(&c) = out.first() {
            out.push(c);
        }
    }
    out
}

/// Simplifies every arc for `level`; where a polygon would come out degenerate or invalid, the
/// arcs it uses are simplified again with half the tolerance (for both sides alike).
fn simplify_topology(t: &Topology, level: Level) -> Vec<Vec<Coord>> {
    let mut tol = vec![level.tolerance; t.arcs.len()];
    let mut out: Vec<Vec<Coord>> = t
        .arcs
        .iter()
        .map(|a| simplify_arc(a, level.tolerance, level.decimals))
        .collect();
    for _ in 0..20 {
        let mut redo: Vec<usize> = Vec::new();
        for poly in t.features.iter().flatten() {
            let rings: Vec<Vec<Coord>> = poly.iter().map(|r| assemble(r, &out)).collect();
            let bad_ring = rings.iter().any(|r| r.len() < 4);
            let valid = !bad_ring && {
                let mut rs = rings.into_iter().map(LineString::from);
                let exterior = rs.next().unwrap_or_else(|| LineString::new(vec![]));
                Polygon::new(exterior, rs.collect()).is_valid()
            };
            if !valid {
                redo.extend(
                    poly.iter()
                        .flatten()
                        .map(|&(id, _)| id)
                        .filter(|&id| tol[id] > 0.0),
                );
            }
        }
        if redo.is_empty() {
            break;
        }
        redo.sort_unstable();
        redo.dedup();
        for id in redo {
            tol[id] = if tol[id] < 1e-6 { 0.0 } else { tol[id] / 2.0 };
            out[id] = simplify_arc(&t.arcs[id], tol[id], level.decimals);
        }
    }
    out
}

/// Builds every level of [`LEVELS`] from the seed's GeoJSON FeatureCollection.
pub fn render_levels(geojson: &str) -> Result<Vec<Rendered>, String> {
    render_levels_with(geojson, &LEVELS)
}

/// Builds `levels` from a GeoJSON FeatureCollection of (Multi)Polygons, properties kept as
/// they are.
pub fn render_levels_with(geojson: &str, levels: &[Level]) -> Result<Vec<Rendered>, String> {
    let doc: Value = serde_json::from_str(geojson).map_err(|e| e.to_string())?;
    let features = doc["features"]
        .as_array()
        .ok_or("no features array in the basemap")?;
    let rings = features
        .iter()
        .map(|f| polygons(&f["geometry"]))
        .collect::<Result<Vec<_>, _>>()?;
    let topology = build_topology(&rings);
    let mut out = Vec::new();
    for &level in levels {
        let arcs = simplify_topology(&topology, level);
        let out_features: Vec<Value> = features
            .iter()
            .zip(&topology.features)
            .map(|(f, polys)| {
                let polys: Vec<Value> = polys
                    .iter()
                    .map(|rings| {
                        let rings: Vec<Value> = rings
                            .iter()
                            .map(|r| {
                                let pts: Vec<Value> = assemble(r, &arcs)
                                    .iter()
                                    .map(|c| json!([c.x, c.y]))
                                    .collect();
                                Value::Array(pts)
                            })
                            .collect();
                        Value::Array(rings)
                    })
                    .collect();
                let geometry = match <[Value; 1]>::try_from(polys) {
                    Ok([one]) => json!({"type": "Polygon", "coordinates": one}),
                    Err(many) => json!({"type": "MultiPolygon", "coordinates": many}),
                };
                json!({"type": "Feature", "properties": f["properties"], "geometry": geometry})
            })
            .collect();
        let mut fc = Map::new();
        fc.insert("type".into(), "FeatureCollection".into());
        for member in ["name", "attribution", "crs_note", "source"] {
            if let Some(v) = doc.get(member) {
                fc.insert(member.into(), v.clone());
            }
        }
        fc.insert("detail".into(), level.name.into());
        fc.insert("max_zoom".into(), level.max_zoom.into());
        let members = fc.clone();
        let features = out_features
            .iter()
            .map(|f| (bounds(&f["geometry"]), f.clone()))
            .collect();
        fc.insert("features".into(), Value::Array(out_features));
        let body = Value::Object(fc).to_string();
        let hash = Sha256::digest(body.as_bytes());
        let etag = format!("\"{}\"", hex::encode(&hash[..12]));
        out.push(Rendered {
            level,
            body,
            etag,
            members,
            features,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two unit squares side by side sharing the edge x = 1, a vertex in its middle.
    const TWO_SQUARES: &str = r#"{"type":"FeatureCollection","features":[
      {"type":"Feature","properties":{"adcode":"1"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,0.5],[1.001,0.6],[1,1],[0,1],[0,0]]]}},
      {"type":"Feature","properties":{"adcode":"2"},"geometry":{"type":"Polygon","coordinates":[[[1,0],[2,0],[2,1],[1,1],[1.001,0.6],[1,0.5],[1,0]]]}}]}"#;

    #[test]
    fn a_shared_border_is_one_arc_simplified_once_for_both_sides() {
        let doc: Value = serde_json::from_str(TWO_SQUARES).unwrap();
        let rings: Vec<_> = doc["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| polygons(&f["geometry"]).unwrap())
            .collect();
        let t = build_topology(&rings);
        // The border, the left square's rest, the right square's rest.
        assert_eq!(t.arcs.len(), 3, "{:?}", t.arcs);
        let level = Level {
            name: "t",
            max_zoom: 1,
            tolerance: 0.01,
            decimals: 3,
        };
        let arcs = simplify_topology(&t, level);
        let left = assemble(&t.features[0][0][0], &arcs);
        let right = assemble(&t.features[1][0][0], &arcs);
        // The 1 mm bump is gone on both sides alike.
        assert!(!left.contains(&Coord { x: 1.001, y: 0.6 }), "{left:?}");
        assert!(!right.contains(&Coord { x: 1.001, y: 0.6 }), "{right:?}");
        assert_eq!(left.len(), 5, "{left:?}");
        assert_eq!(right.len(), 5, "{right:?}");
    }

    #[test]
    fn a_ring_without_junctions_stays_a_valid_ring() {
        let square = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},
          "geometry":{"type":"Polygon","coordinates":[[[0,0],[0.001,0],[0.002,0.0001],[0.002,0.002],[0,0.002],[0,0]]]}}]}"#;
        let levels = render_levels(square).unwrap();
        for l in levels {
            let v: Value = serde_json::from_str(&l.body).unwrap();
            let ring = v["features"][0]["geometry"]["coordinates"][0]
                .as_array()
                .unwrap()
                .clone();
            assert!(ring.len() >= 4, "{}: {ring:?}", l.level.name);
            assert_eq!(ring.first(), ring.last());
        }
    }
}
