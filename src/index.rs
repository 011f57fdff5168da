//! The in-memory spatial index: an immutable snapshot answering exact geodesic k-nearest queries.
//!
//! Stations are indexed as 3-D points on the WGS-84 ellipsoid (ECEF metres). The straight chord
//! between two surface points never exceeds the geodesic between them, so walking the stations
//! in chord order and stopping once the next chord exceeds the k-th best geodesic distance is
//! exact. For short chords the geodesic is pinned between the chord and an arc bound (see
//! [`arc_upper_bound`]) closer than a millimetre, so Karney's algorithm only runs for far
//! candidates.
//!
//! Layout, for memory and speed at a million stations: the stations sit in one flat array in
//! Hilbert-curve order, cut into buckets of [`BUCKET`] neighbours; the rstar R-tree indexes the
//! buckets' ECEF boxes, not single stations. A query walks buckets in order of their box's
//! distance and scans each bucket's compact records. About 75 bytes per station instead of the
//! ~190 a tree of single points costs (rstar spends a full node on every leaf).
//!
//! Writers publish a new snapshot (base + small overlay of changed stations); readers load the
//! current one without locks and never wait.

use crate::domain::{AmenitySet, BBox, LonLat, Station};
use arc_swap::{ArcSwap, ArcSwapOption};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rstar::{Envelope, PointDistance, RTree, RTreeObject, AABB};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};

/// Smallest radius of curvature on WGS-84 (meridian at the equator, b²/a), in metres.
const MIN_CURVATURE_RADIUS: f64 = 6_335_439.327_292;

/// When the geodesic is known to within this many metres from the chord, no geodesic is solved.
const CHORD_TOLERANCE_M: f64 = 1e-3;

/// Overlay size past which a write folds the overlay into a rebuilt base.
const MAX_OVERLAY: usize = 2048;

/// Marks a station open around the clock: no schedule to evaluate.
const ALWAYS_OPEN: u32 = u32::MAX;

/// Stations per bucket: the R-tree indexes buckets, a query scans a bucket's records in a row.
/// 16 measured fastest at 1M stations (8: more tree work; 32: more records scanned).
const BUCKET: usize = 16;

/// Set in [`Record::flags`] when the station carries a temporary closure (read from the station).
const HAS_CLOSURE: u32 = 1 << 31;

/// The upper bound of the geodesic length for a chord `c` (metres).
///
/// A geodesic's curvature in space equals the surface's normal curvature along it, at most
/// 1/[`MIN_CURVATURE_RADIUS`]; by Schur's comparison theorem such a curve of length s has a chord
/// at least that of a circular arc of the same length and radius: c ≥ 2R·sin(s/2R).
pub fn arc_upper_bound(chord: f64) -> f64 {
    let r = MIN_CURVATURE_RADIUS;
    if chord >= 2.0 * r {
        f64::INFINITY
    } else {
        2.0 * r * (chord / (2.0 * r)).asin()
    }
}

/// What a rider asks for.
#[derive(Debug, Clone)]
pub struct NearestQuery {
    /// Where the rider is.
    pub origin: LonLat,
    /// How many stations at most.
    pub limit: usize,
    /// Stations must have all of these.
    pub amenities: AmenitySet,
    /// When set, only stations open at this instant (regular hours and no temporary closure).
    pub open_at: Option<DateTime<Utc>>,
    /// When set, only stations within this geodesic distance (metres).
    pub max_distance_m: Option<f64>,
}

/// One answer: a station and its geodesic distance from the origin.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The station.
    pub station: Arc<Station>,
    /// Geodesic distance on WGS-84 in metres.
    pub distance_m: f64,
}

/// What the query loop reads of a station (40 bytes), in bucket order beside its record.
#[derive(Debug, Clone, Copy)]
struct Record {
    ecef: [f64; 3],
    id: i64,
    /// Amenity bits, and [`HAS_CLOSURE`].
    flags: u32,
    /// Index into the distinct schedules, or [`ALWAYS_OPEN`].
    schedule: u32,
}

/// A run of consecutive records and the ECEF box enclosing them: what the R-tree holds.
struct Bucket {
    envelope: AABB<[f64; 3]>,
    start: u32,
    end: u32,
}

impl RTreeObject for Bucket {
    type Envelope = AABB<[f64; 3]>;

    fn envelope(&self) -> Self::Envelope {
        self.envelope
    }
}

impl PointDistance for Bucket {
    /// The squared chord to the nearest point of the box: no record inside is closer.
    fn distance_2(&self, point: &[f64; 3]) -> f64 {
        self.envelope.distance_2(point)
    }
}

/// Which distinct schedules are open at one wall-clock minute.
struct OpenTable {
    minute: i64,
    open: Vec<bool>,
}

/// The bulk-loaded part of a snapshot, rebuilt rarely.
struct Base {
    tree: RTree<Bucket>,
    /// In Hilbert order; `records[i]` describes `stations[i]`.
    records: Vec<Record>,
    stations: Vec<Arc<Station>>,
    /// Positions in `records` sorted by station id, for lookups by id.
    by_id: Vec<u32>,
    schedules: Vec<crate::domain::Hours>,
    open_cache: ArcSwapOption<OpenTable>,
}

/// A 64-bit position on the Hilbert curve through a 2³² × 2³² lon/lat grid: nearby stations get
/// nearby keys, so runs of the sorted array make tight buckets. (Order only shapes the buckets,
/// never the answers.)
fn hilbert_key(p: &LonLat) -> u64 {
    let x = ((p.lon + 180.0) / 360.0 * u32::MAX as f64) as u32;
    let y = ((p.lat + 90.0) / 180.0 * u32::MAX as f64) as u32;
    let (mut x, mut y) = (x, y);
    let mut d = 0u64;
    let mut s = 1u32 << 31;
    while s > 0 {
        let rx = u64::from(x & s != 0);
        let ry = u64::from(y & s != 0);
        d += u64::from(s) * u64::from(s) * ((3 * rx) ^ ry);
        if ry == 0 {
            if rx == 1 {
                x = u32::MAX - x;
                y = u32::MAX - y;
            }
            std::mem::swap(&mut x, &mut y);
        }
        s >>= 1;
    }
    d
}

/// What a bulk load derives from each station in one sequential pass, before anything moves
/// (reading 400-byte records in memory order, not in the scattered Hilbert order).
struct Prepared {
    /// (Hilbert key, input position), sorted: the layout order.
    order: Vec<(u64, u32)>,
    /// In input order.
    records: Vec<Record>,
    schedules: Vec<crate::domain::Hours>,
    ids_sorted: bool,
}

fn prepare<'a>(stations: impl ExactSizeIterator<Item = &'a Station>) -> Prepared {
    let n = stations.len();
    let mut schedule_ids: HashMap<&'a str, u32> = HashMap::new();
    let mut schedules = Vec::new();
    let mut order = Vec::with_capacity(n);
    let mut records = Vec::with_capacity(n);
    let mut ids_sorted = true;
    let mut last_id = i64::MIN;
    for (i, s) in stations.enumerate() {
        ids_sorted &= s.id >= last_id;
        last_id = s.id;
        let schedule = if s.opening_hours.is_always_open() {
            ALWAYS_OPEN
        } else {
            *schedule_ids
                .entry(s.opening_hours.as_str())
                .or_insert_with(|| {
                    schedules.push(s.opening_hours.clone());
                    (schedules.len() - 1) as u32
                })
        };
        let closure = if s.temporary_closure.is_some() {
            HAS_CLOSURE
        } else {
            0
        };
        order.push((hilbert_key(&s.location), i as u32));
        records.push(Record {
            ecef: s.location.ecef(),
            id: s.id,
            flags: s.amenities.bits() | closure,
            schedule,
        });
    }
    // Ties keep input order, so a build is deterministic.
    order.sort_unstable();
    Prepared {
        order,
        records,
        schedules,
        ids_sorted,
    }
}

impl Base {
    fn build(stations: Vec<Arc<Station>>) -> Self {
        let prepared = prepare(stations.iter().map(|s| &**s));
        Self::assemble(stations, prepared)
    }

    /// Lays out stations in the order `prepare` chose (both given in the same input order).
    fn assemble(stations: Vec<Arc<Station>>, p: Prepared) -> Self {
        let n = stations.len();
        // Where each input station lands, then the positions in id order.
        let mut landed = vec![0u32; n];
        for (to, &(_, from)) in p.order.iter().enumerate() {
            landed[from as usize] = to as u32;
        }
        let by_id = if p.ids_sorted {
            landed
        } else {
            let mut input: Vec<u32> = (0..n as u32).collect();
            input.sort_unstable_by_key(|&i| (p.records[i as usize].id, i));
            input.into_iter().map(|i| landed[i as usize]).collect()
        };
        let records: Vec<Record> = p
            .order
            .iter()
            .map(|&(_, from)| p.records[from as usize])
            .collect();
        let mut taken: Vec<Option<Arc<Station>>> = stations.into_iter().map(Some).collect();
        let stations: Vec<Arc<Station>> = p
            .order
            .iter()
            .filter_map(|&(_, from)| taken[from as usize].take())
            .collect();
        drop(taken);

        let buckets: Vec<Bucket> = records
            .chunks(BUCKET)
            .enumerate()
            .map(|(b, chunk)| Bucket {
                envelope: AABB::from_points(chunk.iter().map(|r| &r.ecef)),
                start: (b * BUCKET) as u32,
                end: (b * BUCKET + chunk.len()) as u32,
            })
            .collect();

        Self {
            tree: RTree::bulk_load(buckets),
            records,
            stations,
            by_id,
            schedules: p.schedules,
            open_cache: ArcSwapOption::empty(),
        }
    }

    /// Where the station with this id sits in `records`/`stations`.
    fn position(&self, id: i64) -> Option<usize> {
        self.by_id
            .binary_search_by_key(&id, |&p| self.records[p as usize].id)
            .ok()
            .map(|i| self.by_id[i] as usize)
    }

    /// The open/closed table for the minute containing `local`, computed once per minute.
    fn open_table(&self, local: chrono::NaiveDateTime) -> Arc<OpenTable> {
        let minute = local.and_utc().timestamp().div_euclid(60);
        if let Some(t) = self.open_cache.load_full().filter(|t| t.minute == minute) {
            return t;
        }
        // Two readers may both compute a fresh table at a minute's turn; both are right.
        let table = Arc::new(OpenTable {
            minute,
            open: self.schedules.iter().map(|h| h.is_open_at(local)).collect(),
        });
        self.open_cache.store(Some(table.clone()));
        table
    }
}

/// One consistent view of every active station.
pub struct Snapshot {
    base: Arc<Base>,
    /// Stations changed since the base was built: `None` means removed.
    overlay: HashMap<i64, Option<Arc<Station>>>,
    tz: Tz,
    generation: u64,
}

/// Where a candidate lives: a base position, or a changed station in the overlay.
#[derive(Clone, Copy)]
enum Found<'a> {
    Base(u32),
    Overlay(&'a Arc<Station>),
}

/// The k best hits so far, worst on top; stations are only cloned out at the end.
struct TopK<'a> {
    limit: usize,
    heap: BinaryHeap<Ranked<'a>>,
}

struct Ranked<'a> {
    distance: f64,
    id: i64,
    found: Found<'a>,
}

impl PartialEq for Ranked<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Ranked<'_> {}
impl PartialOrd for Ranked<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.distance
            .total_cmp(&other.distance)
            .then(self.id.cmp(&other.id))
    }
}

impl<'a> TopK<'a> {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            heap: BinaryHeap::with_capacity(limit.min(MAX_PREALLOCATED) + 1),
        }
    }

    /// The distance a newcomer must beat, once full.
    fn bound(&self) -> f64 {
        if self.heap.len() < self.limit {
            f64::INFINITY
        } else {
            self.heap.peek().map_or(f64::INFINITY, |r| r.distance)
        }
    }

    fn offer(&mut self, distance: f64, id: i64, found: Found<'a>) {
        let r = Ranked {
            distance,
            id,
            found,
        };
        if self.heap.len() < self.limit {
            self.heap.push(r);
        } else if self.heap.peek().is_some_and(|worst| r < *worst) {
            self.heap.pop();
            self.heap.push(r);
        }
    }

    fn into_hits(self, base: &Base) -> Vec<Hit> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|r| Hit {
                station: match r.found {
                    Found::Base(pos) => base.stations[pos as usize].clone(),
                    Found::Overlay(s) => s.clone(),
                },
                distance_m: r.distance,
            })
            .collect()
    }
}

/// Most result slots reserved up front (a `limit` may be huge; the heap grows if needed).
const MAX_PREALLOCATED: usize = 128;

/// Geodesic distance from a chord, solving the geodesic only when the bounds are loose.
fn refine(origin: &LonLat, chord: f64, target: impl FnOnce() -> LonLat) -> f64 {
    let upper = arc_upper_bound(chord);
    if upper - chord <= CHORD_TOLERANCE_M {
        0.5 * (chord + upper)
    } else {
        origin.geodesic_distance(&target())
    }
}

fn chord2(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    let (dx, dy, dz) = (a[0] - b[0], a[1] - b[1], a[2] - b[2]);
    dx * dx + dy * dy + dz * dz
}

/// The square of a non-negative bound (infinity stays infinity).
fn squared(bound: f64) -> f64 {
    bound * bound
}

impl Snapshot {
    /// Builds a snapshot from every active station (the start-up bulk load).
    pub fn build(stations: Vec<Station>, tz: Tz) -> Self {
        let prepared = prepare(stations.iter());
        let stations = stations.into_iter().map(Arc::new).collect();
        Self {
            base: Arc::new(Base::assemble(stations, prepared)),
            overlay: HashMap::new(),
            tz,
            generation: 0,
        }
    }

    /// Number of active stations.
    pub fn len(&self) -> usize {
        let removed_or_replaced = self
            .overlay
            .keys()
            .filter(|&&id| self.base.position(id).is_some())
            .count();
        let added = self.overlay.values().flatten().count();
        self.base.stations.len() - removed_or_replaced + added
    }

    /// Whether there is no station at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Increases with every published change: a reader can tell snapshots apart.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The time zone opening hours are evaluated in.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// One active station by id.
    pub fn get(&self, id: i64) -> Option<Arc<Station>> {
        if let Some(changed) = self.overlay.get(&id) {
            return changed.clone();
        }
        self.base
            .position(id)
            .map(|pos| self.base.stations[pos].clone())
    }

    /// Whether a station is open at `now`: no temporary closure in force and inside its hours.
    pub fn is_open(&self, s: &Station, now: DateTime<Utc>) -> bool {
        !s.is_temporarily_closed(now)
            && (s.opening_hours.is_always_open()
                || s.opening_hours
                    .is_open_at(now.with_timezone(&self.tz).naive_local()))
    }

    /// The nearest active stations matching the filters, sorted by geodesic distance then id.
    pub fn nearest(&self, q: &NearestQuery) -> Vec<Hit> {
        if q.limit == 0 {
            return Vec::new();
        }
        let base = &*self.base;
        let mut top = TopK::new(q.limit);
        let max_d = q.max_distance_m.unwrap_or(f64::INFINITY);
        let origin = q.origin.ecef();
        let want = q.amenities.bits();
        let open = q.open_at.map(|now| {
            (
                now,
                now.timestamp(),
                base.open_table(now.with_timezone(&self.tz).naive_local()),
            )
        });

        // Chords never exceed geodesics: a station whose chord exceeds the k-th best geodesic
        // (or the distance cap) cannot make the answer, nor can any bucket whose box is as far.
        // Matching stations of opened buckets wait in `pending` and are refined in chord order,
        // each once the next bucket's box is no nearer, so geodesics are only solved for
        // stations that can still make the answer (as a walk over single points would).
        let mut reach2 = squared(top.bound().min(max_d));
        let mut pending: BinaryHeap<Reverse<(u64, u32)>> = BinaryHeap::with_capacity(4 * BUCKET);
        let mut buckets = base.tree.nearest_neighbor_iter_with_distance_2(&origin);
        loop {
            let next = buckets.next();
            let horizon = next.as_ref().map_or(f64::INFINITY, |&(_, box2)| box2);
            // Non-negative floats order as their bits.
            while let Some(&Reverse((bits, pos))) = pending.peek() {
                let c2 = f64::from_bits(bits);
                if c2 > horizon {
                    break;
                }
                pending.pop();
                if c2 > reach2 {
                    pending.clear();
                    break;
                }
                let pos = pos as usize;
                let d = refine(&q.origin, c2.sqrt(), || base.stations[pos].location);
                if d <= max_d {
                    top.offer(d, base.records[pos].id, Found::Base(pos as u32));
                    reach2 = squared(top.bound().min(max_d));
                }
            }
            let Some((bucket, box2)) = next else { break };
            if box2 > reach2 {
                break;
            }
            let (start, end) = (bucket.start as usize, bucket.end as usize);
            for (pos, r) in (start..end).zip(&base.records[start..end]) {
                if r.flags & want != want {
                    continue;
                }
                let c2 = chord2(&origin, &r.ecef);
                if c2 > reach2 {
                    continue;
                }
                if let Some((now, _, table)) = &open {
                    if r.schedule != ALWAYS_OPEN && !table.open[r.schedule as usize] {
                        continue;
                    }
                    // The exact instant, as `is_open` and the reply's `open_now` use: whole
                    // seconds let a closure ending later this second through.
                    if r.flags & HAS_CLOSURE != 0 && base.stations[pos].is_temporarily_closed(*now)
                    {
                        continue;
                    }
                }
                if !self.overlay.is_empty() && self.overlay.contains_key(&r.id) {
                    continue;
                }
                pending.push(Reverse((c2.to_bits(), pos as u32)));
            }
        }

        // Changed stations last, once the base has set a tight bound: most are pruned by their
        // chord alone (a few flops) before any filter or geodesic. The base walk above ran
        // with a looser bound than it would have with them, which only means it stopped later.
        for s in self.overlay.values().flatten() {
            let c = chord2(&origin, &s.location.ecef()).sqrt();
            if c > top.bound().min(max_d) || !s.amenities.contains_all(q.amenities) {
                continue;
            }
            if let Some((now, _, _)) = &open {
                if !self.is_open(s, *now) {
                    continue;
                }
            }
            let d = refine(&q.origin, c, || s.location);
            if d <= max_d {
                top.offer(d, s.id, Found::Overlay(s));
            }
        }
        top.into_hits(base)
    }

    /// Active stations inside a box having all `amenities`, at most `limit`, by id.
    /// Returns the stations and whether more matched than `limit`.
    pub fn in_bbox(
        &self,
        bbox: &BBox,
        amenities: AmenitySet,
        limit: usize,
    ) -> (Vec<Arc<Station>>, bool) {
        let env = ecef_envelope(bbox);
        let want = amenities.bits();
        let base = &*self.base;
        let mut found: Vec<Arc<Station>> = Vec::new();
        for bucket in base.tree.locate_in_envelope_intersecting(&env) {
            let (start, end) = (bucket.start as usize, bucket.end as usize);
            for (pos, r) in (start..end).zip(&base.records[start..end]) {
                if r.flags & want != want || !env.contains_point(&r.ecef) {
                    continue;
                }
                let s = &base.stations[pos];
                if bbox.contains(&s.location) && !self.overlay.contains_key(&r.id) {
                    found.push(s.clone());
                }
            }
        }
        found.extend(
            self.overlay
                .values()
                .flatten()
                .filter(|s| bbox.contains(&s.location) && s.amenities.contains_all(amenities))
                .cloned(),
        );
        found.sort_by_key(|s| s.id);
        let truncated = found.len() > limit;
        found.truncate(limit);
        (found, truncated)
    }

    /// Every active station, by id (for exports and coverage).
    pub fn all(&self) -> Vec<Arc<Station>> {
        let mut all: Vec<Arc<Station>> = self
            .base
            .stations
            .iter()
            .filter(|s| !self.overlay.contains_key(&s.id))
            .cloned()
            .chain(self.overlay.values().flatten().cloned())
            .collect();
        all.sort_by_key(|s| s.id);
        all
    }

    /// A new snapshot with stations upserted (`Some`) or removed (`None`), sharing the base.
    fn with_changes(&self, changes: Vec<(i64, Option<Station>)>) -> Snapshot {
        let mut overlay = self.overlay.clone();
        for (id, s) in changes {
            let unchanged_absent = s.is_none() && self.base.position(id).is_none();
            if unchanged_absent {
                overlay.remove(&id);
            } else {
                overlay.insert(id, s.map(Arc::new));
            }
        }
        if overlay.len() > MAX_OVERLAY {
            let merged = Snapshot {
                base: self.base.clone(),
                overlay,
                tz: self.tz,
                generation: 0,
            };
            let base = Base::build(merged.all());
            return Snapshot {
                base: Arc::new(base),
                overlay: HashMap::new(),
                tz: self.tz,
                generation: self.generation + 1,
            };
        }
        Snapshot {
            base: self.base.clone(),
            overlay,
            tz: self.tz,
            generation: self.generation + 1,
        }
    }

    /// Bytes held per station by the index structures (tree of buckets, records, id order, the
    /// `Arc`s and their headers), excluding the station records themselves. An estimate from
    /// capacities; `benches/index.rs` measures the real heap.
    pub fn index_bytes_per_station(&self) -> f64 {
        let b = &self.base;
        let n = b.stations.len().max(1);
        // Bulk loading packs full nodes: parents add about a fifth of the leaf level again.
        let buckets = n.div_ceil(BUCKET);
        let tree = buckets * std::mem::size_of::<rstar::RTreeNode<Bucket>>() * 6 / 5;
        let records = b.records.capacity() * std::mem::size_of::<Record>();
        let arcs = b.stations.capacity() * std::mem::size_of::<Arc<Station>>()
            + n * 2 * std::mem::size_of::<usize>();
        let ids = b.by_id.capacity() * std::mem::size_of::<u32>();
        (tree + records + arcs + ids) as f64 / n as f64
    }
}

/// An ECEF box enclosing the part of the ellipsoid surface inside a lon/lat box.
fn ecef_envelope(b: &BBox) -> AABB<[f64; 3]> {
    const STEPS: usize = 16;
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for i in 0..=STEPS {
        for j in 0..=STEPS {
            let lon = b.min.lon + (b.max.lon - b.min.lon) * i as f64 / STEPS as f64;
            let lat = b.min.lat + (b.max.lat - b.min.lat) * j as f64 / STEPS as f64;
            let p = LonLat { lon, lat }.ecef();
            for k in 0..3 {
                lo[k] = lo[k].min(p[k]);
                hi[k] = hi[k].max(p[k]);
            }
        }
    }
    // Between samples the surface bulges by at most (spacing)²/(8R): with boxes of at most
    // 10° a side and 16 steps that is under 100 m; keep a generous margin.
    let margin = 1_000.0;
    AABB::from_corners(lo.map(|v| v - margin), hi.map(|v| v + margin))
}

/// The shared handle: readers `load()` a snapshot, writers publish new ones one at a time.
pub struct StationIndex {
    current: ArcSwap<Snapshot>,
    writer: Mutex<()>,
}

impl StationIndex {
    /// Wraps an initial snapshot.
    pub fn new(snapshot: Snapshot) -> Self {
        Self {
            current: ArcSwap::from_pointee(snapshot),
            writer: Mutex::new(()),
        }
    }

    /// The current snapshot; never blocks.
    pub fn load(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Publishes changed stations (`None` = no longer active) as given. Writers queue;
    /// readers don't.
    pub fn apply(&self, changes: Vec<(i64, Option<Station>)>) {
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let next = self.current.load().with_changes(changes);
        self.current.store(Arc::new(next));
    }

    /// Publishes changed stations read from the store, ignoring any older than the one
    /// indexed: two edits finishing out of order, or a resync that read the store just before
    /// an edit, must not undo the newer state. Versions only grow, so the check is exact.
    pub fn apply_newer(&self, changes: Vec<(i64, Option<Station>)>) {
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.current.load();
        let changes: Vec<_> = changes
            .into_iter()
            .filter(|(id, s)| match (s, current.get(*id)) {
                (Some(new), Some(old)) => new.version > old.version,
                _ => true,
            })
            .collect();
        if !changes.is_empty() {
            self.current.store(Arc::new(current.with_changes(changes)));
        }
    }

    /// Replaces everything (a full resync from the store).
    pub fn replace(&self, stations: Vec<Station>) {
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tz = self.current.load().tz;
        let generation = self.current.load().generation + 1;
        let mut next = Snapshot::build(stations, tz);
        next.generation = generation;
        self.current.store(Arc::new(next));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hilbert_keys_are_distinct_on_a_fine_grid_and_local() {
        let mut keys = std::collections::HashSet::new();
        for i in 0..64 {
            for j in 0..64 {
                let p = LonLat::new(115.0 + i as f64 * 1e-3, 28.0 + j as f64 * 1e-3).unwrap();
                assert!(keys.insert(hilbert_key(&p)));
            }
        }
        // Neighbours along the curve are close: consecutive keys of a dense grid are one cell apart.
        let a = LonLat::new(115.0, 28.0).unwrap();
        let b = LonLat::new(-65.0, -28.0).unwrap();
        assert_ne!(hilbert_key(&a) >> 60, hilbert_key(&b) >> 60);
    }
}
