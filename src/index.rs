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
//! buckets' ECEF boxes (single precision, rounded outwards), not single stations. A query walks
//! the tree depth first, nearest child first, and scans each bucket's 32-byte records; the
//! `k`-th smallest upper bound found so far prunes every box and record beyond it. At a
//! million stations the walk waits on memory more than it computes, so it prefetches the
//! children it is about to visit. About 75 bytes per station instead of the ~190 a tree of
//! single points costs (rstar spends a full node on every leaf).
//!
//! Writers publish a new snapshot (base + small overlay of changed stations); readers load the
//! current one without locks and never wait.

use crate::domain::{AmenitySet, BBox, LonLat, Station, StationState};
use arc_swap::{ArcSwap, ArcSwapOption};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rstar::{Envelope, ParentNode, RTree, RTreeNode, RTreeObject, AABB};
use std::collections::HashMap;
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

/// Metres added to a bound before it prunes: chords and bounds are computed from ECEF
/// coordinates of about 6.4e6 m, so rounding moves them by nanometres (a station on the pole
/// has a chord of 1e-11 m to the pole itself while its geodesic is 0). A micrometre covers that
/// many times over and prunes nothing a rider could tell apart.
const FLOAT_SLACK_M: f64 = 1e-6;

/// Longest chord (metres) [`arc_upper_bound`] is used for when bounding the answer. Schur's
/// theorem needs the geodesic no longer than half the comparison circle (π·6,335 km), which
/// holds for any chord this short (the surface path along its normal section is barely longer);
/// near-antipodal pairs break it, so longer chords get their geodesic solved instead.
const ARC_BOUND_MAX_CHORD_M: f64 = 1_000_000.0;

/// The upper bound of the geodesic length for a chord `c` (metres), for chords up to
/// [`ARC_BOUND_MAX_CHORD_M`].
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

/// One answer: a station of the snapshot and its geodesic distance from the origin.
///
/// Borrowed from the snapshot the query ran on: answering touches no station record (no
/// reference count), only what the caller then reads of it.
#[derive(Debug, Clone, Copy)]
pub struct Hit<'a> {
    /// The station.
    pub station: &'a Station,
    /// Geodesic distance on WGS-84 in metres.
    pub distance_m: f64,
}

/// What the query loop reads of a station (32 bytes: two to a cache line), in bucket order.
#[derive(Debug, Clone, Copy)]
struct Record {
    ecef: [f64; 3],
    /// Amenity bits, and [`HAS_CLOSURE`].
    flags: u32,
    /// Index into the distinct schedules, or [`ALWAYS_OPEN`].
    schedule: u32,
}

/// A run of consecutive records and the ECEF box enclosing them: what the R-tree holds.
struct Bucket {
    envelope: Box3,
    start: u32,
    end: u32,
}

impl Bucket {
    fn range(&self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

impl RTreeObject for Bucket {
    type Envelope = Box3;

    fn envelope(&self) -> Self::Envelope {
        self.envelope
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
    /// Station ids, `ids[i]` of `records[i]`.
    ids: Vec<i64>,
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
/// (reading ~300-byte records in memory order, not in the scattered Hilbert order).
struct Prepared {
    /// (Hilbert key, input position), sorted: the layout order.
    order: Vec<(u64, u32)>,
    /// In input order.
    records: Vec<Record>,
    ids: Vec<i64>,
    schedules: Vec<crate::domain::Hours>,
    ids_sorted: bool,
}

/// Below this many stations a build computes positions on one thread.
const PARALLEL_FROM: usize = 65_536;

/// The Hilbert key and ECEF position of every station (trigonometry: the costly part of a
/// build), on every core for large inputs.
fn positions<S: std::borrow::Borrow<Station> + Sync>(stations: &[S]) -> Vec<(u64, [f64; 3])> {
    let one = |s: &S| {
        let p = &s.borrow().location;
        (hilbert_key(p), p.ecef())
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if stations.len() < PARALLEL_FROM || threads < 2 {
        return stations.iter().map(one).collect();
    }
    std::thread::scope(|scope| {
        let parts: Vec<_> = stations
            .chunks(stations.len().div_ceil(threads))
            .map(|part| scope.spawn(move || part.iter().map(one).collect::<Vec<_>>()))
            .collect();
        let mut all = Vec::with_capacity(stations.len());
        for part in parts {
            all.extend(part.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
        all
    })
}

fn prepare<S: std::borrow::Borrow<Station> + Sync>(stations: &[S]) -> Prepared {
    let n = stations.len();
    let positions = positions(stations);
    let mut schedule_ids: HashMap<&str, u32> = HashMap::new();
    let mut schedules = Vec::new();
    let mut order = Vec::with_capacity(n);
    let mut records = Vec::with_capacity(n);
    let mut ids = Vec::with_capacity(n);
    let mut ids_sorted = true;
    let mut last_id = i64::MIN;
    for (i, (s, &(key, ecef))) in stations.iter().zip(&positions).enumerate() {
        let s = s.borrow();
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
        order.push((key, i as u32));
        ids.push(s.id);
        records.push(Record {
            ecef,
            flags: s.amenities.bits() | closure,
            schedule,
        });
    }
    // Ties keep input order, so a build is deterministic.
    order.sort_unstable();
    Prepared {
        order,
        records,
        ids,
        schedules,
        ids_sorted,
    }
}

impl Base {
    fn build(stations: Vec<Arc<Station>>) -> Self {
        let prepared = prepare(&stations);
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
            input.sort_unstable_by_key(|&i| (p.ids[i as usize], i));
            input.into_iter().map(|i| landed[i as usize]).collect()
        };
        let records: Vec<Record> = p
            .order
            .iter()
            .map(|&(_, from)| p.records[from as usize])
            .collect();
        let ids: Vec<i64> = p
            .order
            .iter()
            .map(|&(_, from)| p.ids[from as usize])
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
                envelope: enclosing(chunk.iter().map(|r| &r.ecef)),
                start: (b * BUCKET) as u32,
                end: (b * BUCKET + chunk.len()) as u32,
            })
            .collect();

        let tree = RTree::bulk_load(buckets);
        Self {
            tree,
            records,
            ids,
            stations,
            by_id,
            schedules: p.schedules,
            open_cache: ArcSwapOption::empty(),
        }
    }

    /// Where the station with this id sits in `records`/`stations`.
    fn position(&self, id: i64) -> Option<usize> {
        self.by_id
            .binary_search_by_key(&id, |&p| self.ids[p as usize])
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

/// An ECEF box in single precision, rounded outwards: half the bytes of a double box, so a
/// node's children span fewer cache lines. (Within 0.5 m of the exact box at Earth's radius;
/// only ever larger, so distances to it stay lower bounds.)
type Box3 = AABB<[f32; 3]>;

/// The smallest [`Box3`] holding every point.
fn enclosing<'a>(points: impl Iterator<Item = &'a [f64; 3]>) -> Box3 {
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for p in points {
        for k in 0..3 {
            lo[k] = lo[k].min(p[k]);
            hi[k] = hi[k].max(p[k]);
        }
    }
    AABB::from_corners(lo.map(f32_below), hi.map(f32_above))
}

/// The largest `f32` not above `v`.
fn f32_below(v: f64) -> f32 {
    let f = v as f32;
    if f64::from(f) > v {
        f.next_down()
    } else {
        f
    }
}

/// The smallest `f32` not below `v`.
fn f32_above(v: f64) -> f32 {
    let f = v as f32;
    if f64::from(f) < v {
        f.next_up()
    } else {
        f
    }
}

/// Squared distance from a point to a box (0 inside).
fn box_distance2(b: &Box3, p: &[f64; 3]) -> f64 {
    let (lo, hi) = (b.lower(), b.upper());
    let mut d2 = 0.0;
    for k in 0..3 {
        let d = (f64::from(lo[k]) - p[k])
            .max(p[k] - f64::from(hi[k]))
            .max(0.0);
        d2 += d * d;
    }
    d2
}

/// Where a candidate lives: a base position, or a changed station in the overlay.
#[derive(Clone, Copy)]
enum Found<'a> {
    Base(u32),
    Overlay(&'a Arc<Station>),
}

/// The `limit`-th smallest geodesic upper bound among the candidates so far: every station of
/// the answer has a chord (a lower bound) within it.
struct Bounds {
    limit: usize,
    /// Ascending, at most `limit` long.
    uppers: Vec<f64>,
    /// Square of the distance cap.
    cap2: f64,
    /// Squared chord beyond which no station can make the answer.
    reach2: f64,
}

impl Bounds {
    fn new(limit: usize, max_d: f64) -> Self {
        let cap2 = squared(max_d);
        Self {
            limit,
            uppers: Vec::with_capacity(limit.min(MAX_PREALLOCATED)),
            cap2,
            reach2: cap2,
        }
    }

    /// Takes in a candidate at squared chord `c2` (within reach), tightening the reach;
    /// `geodesic` solves its distance when the chord is too long for the arc bound.
    fn admit(&mut self, c2: f64, geodesic: impl FnOnce() -> f64) {
        let full = self.uppers.len() == self.limit;
        // The upper bound is at least the chord: no use computing it when the chord is past
        // the current `limit`-th bound.
        if full && self.uppers.last().is_some_and(|&u| c2 >= u * u) {
            return;
        }
        let upper = if c2 <= squared(ARC_BOUND_MAX_CHORD_M) {
            arc_upper_bound(c2.sqrt())
        } else {
            geodesic()
        };
        if full {
            if self.uppers.last().is_some_and(|&u| upper >= u) {
                return;
            }
            self.uppers.pop();
        }
        let at = self.uppers.partition_point(|&u| u <= upper);
        self.uppers.insert(at, upper);
        if self.uppers.len() == self.limit {
            let kth = self.uppers[self.limit - 1];
            self.reach2 = self.cap2.min(squared(kth + FLOAT_SLACK_M));
        }
    }
}

/// Children of an R-tree node sorted on the stack; rstar's bulk load in 3-D makes nodes of up
/// to (clusters per axis)³ children: at most 8 measured at 1M stations. Larger nodes are walked
/// unsorted (still exact, only slower).
const MAX_CHILDREN: usize = 16;

/// One query's depth-first walk of the base: children nearest first, pruned by the reach.
struct Walk<'a> {
    base: &'a Base,
    overlay: &'a HashMap<i64, Option<Arc<Station>>>,
    origin: [f64; 3],
    origin_lonlat: LonLat,
    want: u32,
    open: Option<(DateTime<Utc>, &'a OpenTable)>,
    bounds: Bounds,
    /// (squared chord, position) of every matching station found within reach when found.
    candidates: Vec<(f64, u32)>,
}

impl<'a> Walk<'a> {
    fn node(&mut self, node: &'a ParentNode<Bucket>) {
        let children = node.children();
        if children.len() > MAX_CHILDREN {
            for child in children {
                self.child(child);
            }
            return;
        }
        let mut order = [(0.0f64, 0u32); MAX_CHILDREN];
        for (i, child) in children.iter().enumerate() {
            let env = match child {
                RTreeNode::Parent(p) => p.envelope(),
                RTreeNode::Leaf(b) => b.envelope,
            };
            // Insertion sort: at most a handful of children.
            let d2 = box_distance2(&env, &self.origin);
            let mut j = i;
            while j > 0 && order[j - 1].0 > d2 {
                order[j] = order[j - 1];
                j -= 1;
            }
            order[j] = (d2, i as u32);
        }
        // The walk is bound by memory latency: ask for the next few children's memory now,
        // so the misses overlap instead of following one another.
        for &(d2, i) in order[..children.len()].iter().take(PREFETCH) {
            if d2 > self.bounds.reach2 {
                break;
            }
            match &children[i as usize] {
                RTreeNode::Parent(p) => prefetch(p.children()),
                RTreeNode::Leaf(b) => prefetch(&self.base.records[b.range()]),
            }
        }
        for &(d2, i) in &order[..children.len()] {
            if d2 > self.bounds.reach2 {
                break;
            }
            match &children[i as usize] {
                RTreeNode::Parent(p) => self.node(p),
                RTreeNode::Leaf(b) => self.bucket(b),
            }
        }
    }

    fn child(&mut self, child: &'a RTreeNode<Bucket>) {
        match child {
            RTreeNode::Parent(p) => {
                if box_distance2(&p.envelope(), &self.origin) <= self.bounds.reach2 {
                    self.node(p)
                }
            }
            RTreeNode::Leaf(b) => self.bucket(b),
        }
    }

    fn bucket(&mut self, bucket: &Bucket) {
        let base = self.base;
        for (pos, r) in bucket.range().zip(&base.records[bucket.range()]) {
            let c2 = chord2(&self.origin, &r.ecef);
            if c2 <= self.bounds.reach2 && self.accepts(pos, r) {
                let (from, to) = (&self.origin_lonlat, &base.stations[pos].location);
                self.bounds.admit(c2, || from.geodesic_distance(to));
                self.candidates.push((c2, pos as u32));
            }
        }
    }

    /// Whether a base station passes the filters (distance aside).
    fn accepts(&self, pos: usize, r: &Record) -> bool {
        if r.flags & self.want != self.want {
            return false;
        }
        if let Some((now, table)) = self.open {
            if r.schedule != ALWAYS_OPEN && !table.open[r.schedule as usize] {
                return false;
            }
            // Rare: the closure is read from the station, to the instant.
            if r.flags & HAS_CLOSURE != 0 && self.base.stations[pos].is_temporarily_closed(now) {
                return false;
            }
        }
        self.overlay.is_empty() || !self.overlay.contains_key(&self.base.ids[pos])
    }
}

/// Children whose memory a node visit prefetches, nearest first.
const PREFETCH: usize = 6;

/// Hints the CPU to load a slice's cache lines (a no-op off x86-64).
#[inline]
fn prefetch<T>(items: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let bytes = std::mem::size_of_val(items);
        let start = items.as_ptr().cast::<i8>();
        for offset in (0..bytes).step_by(64) {
            // SAFETY: SSE is part of the x86-64 baseline, and a prefetch is only a hint: it
            // dereferences nothing and never faults.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(offset)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = items;
}

/// Most bound slots reserved up front (a `limit` may be huge; the vector grows if needed).
const MAX_PREALLOCATED: usize = 128;

/// Geodesic distance in metres between two points given with their ECEF positions, exactly as
/// the index measures its answers (pinned by the chord and the arc bound when they agree to a
/// millimetre, Karney's geodesic otherwise): coverage uses it so its minutes match nearest's.
pub fn distance_m(a: &LonLat, a_ecef: &[f64; 3], b: &LonLat, b_ecef: &[f64; 3]) -> f64 {
    refine(a, chord2(a_ecef, b_ecef).sqrt(), || *b)
}

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
    /// Builds a snapshot from every active station (the start-up bulk load), given as
    /// `Station`s or already shared `Arc<Station>`s (which are kept, not copied).
    pub fn build<S: Into<Arc<Station>>>(stations: Vec<S>, tz: Tz) -> Self {
        let stations: Vec<Arc<Station>> = stations.into_iter().map(Into::into).collect();
        Self {
            base: Arc::new(Base::build(stations)),
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

    /// Stations changed since the base was built (upserted or removed): every query checks
    /// each of them, until a write past [`MAX_OVERLAY`] folds them into a rebuilt base.
    pub fn overlay_len(&self) -> usize {
        self.overlay.len()
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
    pub fn nearest(&self, q: &NearestQuery) -> Vec<Hit<'_>> {
        if q.limit == 0 {
            return Vec::new();
        }
        let base = &*self.base;
        let max_d = q.max_distance_m.unwrap_or(f64::INFINITY);
        let open = q.open_at.map(|now| {
            (
                now,
                base.open_table(now.with_timezone(&self.tz).naive_local()),
            )
        });
        let mut walk = Walk {
            base,
            overlay: &self.overlay,
            origin: q.origin.ecef(),
            origin_lonlat: q.origin,
            want: q.amenities.bits(),
            open: open.as_ref().map(|(now, table)| (*now, &**table)),
            bounds: Bounds::new(q.limit, max_d),
            candidates: Vec::with_capacity(4 * BUCKET),
        };
        walk.node(base.tree.root());

        // Changed stations are few, and after the walk most are pruned by their chord alone.
        let mut overlay_hits = Vec::new();
        for s in self.overlay.values().flatten() {
            if !s.amenities.contains_all(q.amenities) {
                continue;
            }
            let c2 = chord2(&walk.origin, &s.location.ecef());
            if c2 > walk.bounds.reach2 {
                continue;
            }
            if let Some((now, _)) = &open {
                if !self.is_open(s, *now) {
                    continue;
                }
            }
            walk.bounds
                .admit(c2, || q.origin.geodesic_distance(&s.location));
            overlay_hits.push((c2, s));
        }

        // Every station that can make the answer has a chord within reach; solve their
        // geodesics (most are pinned by the chord and the arc bound) and keep the k best.
        let reach2 = walk.bounds.reach2;
        let mut top: Vec<(f64, Found)> = walk
            .candidates
            .iter()
            .filter(|&&(c2, _)| c2 <= reach2)
            .map(|&(c2, pos)| {
                let d = refine(&q.origin, c2.sqrt(), || {
                    base.stations[pos as usize].location
                });
                (d, Found::Base(pos))
            })
            .chain(
                overlay_hits
                    .into_iter()
                    .filter(|&(c2, _)| c2 <= reach2)
                    .map(|(c2, s)| {
                        (
                            refine(&q.origin, c2.sqrt(), || s.location),
                            Found::Overlay(s),
                        )
                    }),
            )
            .filter(|&(d, _)| d <= max_d)
            .collect();
        // Ids break ties only: read them (another cache line each) only then.
        let id = |f: &Found| match *f {
            Found::Base(pos) => base.ids[pos as usize],
            Found::Overlay(s) => s.id,
        };
        top.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then_with(|| id(&a.1).cmp(&id(&b.1))));
        top.truncate(q.limit);
        top.into_iter()
            .map(|(distance_m, found)| Hit {
                station: match found {
                    Found::Base(pos) => &base.stations[pos as usize],
                    Found::Overlay(s) => s,
                },
                distance_m,
            })
            .collect()
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
        let env32 = AABB::from_corners(env.lower().map(f32_below), env.upper().map(f32_above));
        let want = amenities.bits();
        let base = &*self.base;
        let mut found: Vec<Arc<Station>> = Vec::new();
        for bucket in base.tree.locate_in_envelope_intersecting(&env32) {
            let (start, end) = (bucket.start as usize, bucket.end as usize);
            for (pos, r) in (start..end).zip(&base.records[start..end]) {
                if r.flags & want != want || !env.contains_point(&r.ecef) {
                    continue;
                }
                let s = &base.stations[pos];
                if bbox.contains(&s.location) && !self.overlay.contains_key(&s.id) {
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

    /// Visits every active station once, in no particular order: for aggregations (tile
    /// clusters) that need neither the copies nor the sort of [`Snapshot::all`].
    pub fn for_each(&self, mut f: impl FnMut(&Station)) {
        let overlay = &self.overlay;
        for s in &self.base.stations {
            if overlay.is_empty() || !overlay.contains_key(&s.id) {
                f(s);
            }
        }
        for s in overlay.values().flatten() {
            f(s);
        }
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

    /// The ids of stations added, removed or replaced between `older` and this snapshot (a
    /// replaced record may hold the same values). Cheap while both share their base (only the
    /// overlays are compared); after a fold or a full reload every station is compared.
    pub fn changed_since(&self, older: &Snapshot) -> Vec<i64> {
        let same = |a: Option<Arc<Station>>, b: Option<Arc<Station>>| match (a, b) {
            (Some(a), Some(b)) => Arc::ptr_eq(&a, &b),
            (None, None) => true,
            _ => false,
        };
        if Arc::ptr_eq(&self.base, &older.base) {
            let mut ids: Vec<i64> = self
                .overlay
                .keys()
                .chain(older.overlay.keys())
                .copied()
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids.retain(|&id| !same(self.get(id), older.get(id)));
            return ids;
        }
        let (new, old) = (self.all(), older.all());
        let (mut i, mut j) = (0, 0);
        let mut ids = Vec::new();
        while i < new.len() || j < old.len() {
            match (new.get(i), old.get(j)) {
                (Some(a), Some(b)) if a.id == b.id => {
                    if !Arc::ptr_eq(a, b) {
                        ids.push(a.id);
                    }
                    i += 1;
                    j += 1;
                }
                (Some(a), Some(b)) if a.id < b.id => {
                    ids.push(a.id);
                    i += 1;
                }
                (Some(a), None) => {
                    ids.push(a.id);
                    i += 1;
                }
                (_, Some(b)) => {
                    ids.push(b.id);
                    j += 1;
                }
                (None, None) => break,
            }
        }
        ids
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
        let records = b.records.capacity() * std::mem::size_of::<Record>()
            + b.ids.capacity() * std::mem::size_of::<i64>();
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

/// The version each retired station was retired at (its tombstone), so that a state read
/// before the retirement and applied after it is recognised as older and ignored.
///
/// Kept beside the snapshots, not in them: only writers consult it, so folding the overlay
/// into a new base or replacing the snapshot never drops one. One entry per station retired
/// since start-up (two `i64`s in a hash table, about 32 bytes): were every one of the ~190,000
/// stations of the whole country retired, about 6 MB. Ids are never reused, so an entry is
/// never wrong, only removed when the station becomes active again at a newer version.
type Tombstones = HashMap<i64, i64>;

/// The shared handle: readers `load()` a snapshot, writers publish new ones one at a time.
pub struct StationIndex {
    current: ArcSwap<Snapshot>,
    /// Writers queue on this lock, which guards the tombstones.
    writer: Mutex<Tombstones>,
    /// The generation of every published snapshot, for indexes derived from this one
    /// (road-network labels) to follow every write path without polling.
    published: tokio::sync::watch::Sender<u64>,
}

impl StationIndex {
    /// Wraps an initial snapshot.
    pub fn new(snapshot: Snapshot) -> Self {
        let (published, _) = tokio::sync::watch::channel(snapshot.generation);
        Self {
            current: ArcSwap::from_pointee(snapshot),
            writer: Mutex::new(Tombstones::new()),
            published,
        }
    }

    /// A receiver told the generation of every snapshot published from now on.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.published.subscribe()
    }

    /// Makes `next` current and tells the subscribers (called with the writer lock held).
    fn publish(&self, next: Snapshot) {
        let generation = next.generation;
        self.current.store(Arc::new(next));
        self.published.send_replace(generation);
    }

    /// The current snapshot; never blocks.
    pub fn load(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    fn lock_writer(&self) -> std::sync::MutexGuard<'_, Tombstones> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes changed stations (`None` = no longer active) exactly as given, without
    /// ordering them by version or consulting tombstones (tests, benchmarks and derived
    /// indexes: the write path uses [`Self::apply_newer`]). Writers queue; readers don't.
    pub fn apply(&self, changes: Vec<(i64, Option<Station>)>) {
        let _guard = self.lock_writer();
        let next = self.current.load().with_changes(changes);
        self.publish(next);
    }

    /// Publishes station states read from the store, each only if it is newer than what the
    /// index knows of that station: its indexed version, or the version it was retired at.
    /// Two edits finishing out of order, or a resync that read the store just before an edit
    /// or a retirement, must not undo the newer state. Versions only grow (a retirement bumps
    /// it too), so "latest version wins" is exact; a station active again at a version past
    /// its tombstone comes back. Publishes nothing when no visible station changed.
    pub fn apply_newer(&self, changes: Vec<StationState>) {
        let mut tombstones = self.lock_writer();
        let current = self.current.load();
        // The newest state per id in this batch, so a batch may carry one id twice.
        let mut newest: HashMap<i64, StationState> = HashMap::with_capacity(changes.len());
        for change in changes {
            match newest.get(&change.id()) {
                Some(seen) if seen.version() >= change.version() => {}
                _ => {
                    newest.insert(change.id(), change);
                }
            }
        }
        let mut visible = Vec::new();
        for (id, change) in newest {
            let indexed = current.get(id).map(|s| s.version);
            let known = indexed.max(tombstones.get(&id).copied());
            if known.is_some_and(|k| change.version() <= k) {
                continue;
            }
            match change {
                StationState::Active(s) => {
                    tombstones.remove(&id);
                    visible.push((id, Some(s)));
                }
                StationState::Retired { version, .. } => {
                    tombstones.insert(id, version);
                    if indexed.is_some() {
                        visible.push((id, None));
                    }
                }
            }
        }
        if !visible.is_empty() {
            self.publish(current.with_changes(visible));
        }
    }

    /// Whether a state of station `id` at `version` is newer than what the index knows of it
    /// (its indexed version or its tombstone): the resync reads only such stations.
    pub fn is_newer(&self, id: i64, version: i64) -> bool {
        let tombstones = self.lock_writer();
        let indexed = self.current.load().get(id).map(|s| s.version);
        indexed
            .max(tombstones.get(&id).copied())
            .is_none_or(|known| version > known)
    }

    /// The version station `id` was retired at, if the index saw it retired.
    pub fn tombstone(&self, id: i64) -> Option<i64> {
        self.lock_writer().get(&id).copied()
    }

    /// Replaces every station (a full reload from the store), ordered against the tombstones
    /// like any change: a station read at or below the version it was retired at stays out
    /// (the reload read it before the retirement), one read active at a newer version comes
    /// back and loses its tombstone.
    pub fn replace<S: Into<Arc<Station>>>(&self, stations: Vec<S>) {
        let mut tombstones = self.lock_writer();
        let stations: Vec<Arc<Station>> = stations
            .into_iter()
            .map(Into::into)
            .filter(|s| tombstones.get(&s.id).is_none_or(|&t| s.version > t))
            .collect();
        if !tombstones.is_empty() {
            for s in &stations {
                tombstones.remove(&s.id);
            }
        }
        let tz = self.current.load().tz;
        let generation = self.current.load().generation + 1;
        let mut next = Snapshot::build(stations, tz);
        next.generation = generation;
        self.publish(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn station(id: i64, lon: f64) -> Station {
        let now = Utc::now();
        Station {
            id,
            code: format!("T-{id}"),
            name: format!("t{id}"),
            address: String::new(),
            county: "360102".into(),
            location: LonLat::new(lon, 28.0).unwrap(),
            amenities: AmenitySet::EMPTY,
            opening_hours: "24/7".parse().unwrap(),
            temporary_closure: None,
            phone: None,
            photo_url: None,
            notes: None,
            demo: false,
            verified_at: None,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn changed_since_names_every_added_removed_or_replaced_station() {
        let index = StationIndex::new(Snapshot::build(
            (1..=5)
                .map(|id| station(id, 115.0 + id as f64 * 0.01))
                .collect(),
            chrono_tz::Asia::Shanghai,
        ));
        let s0 = index.load();
        index.apply(vec![
            (2, Some(station(2, 115.5))),
            (6, Some(station(6, 115.6))),
        ]);
        let s1 = index.load();
        assert_eq!(s1.changed_since(&s0), vec![2, 6]);
        index.apply(vec![(3, None)]);
        let s2 = index.load();
        // Same base: only the overlays are compared; what s1 had already is not named again.
        assert_eq!(s2.changed_since(&s1), vec![3]);
        assert_eq!(s2.changed_since(&s0), vec![2, 3, 6]);
        assert_eq!(s0.changed_since(&s2), vec![2, 3, 6]);
        // A full reload shares no base: every record differs by identity.
        index.replace((1..=4).map(|id| station(id, 115.0)).collect::<Vec<_>>());
        let s3 = index.load();
        assert_eq!(s3.changed_since(&s2), vec![1, 2, 3, 4, 5, 6]);
        assert!(s3.changed_since(&s3).is_empty());
    }

    #[test]
    fn every_publication_is_announced_with_its_generation() {
        let index = StationIndex::new(Snapshot::build(
            vec![station(1, 115.0)],
            chrono_tz::Asia::Shanghai,
        ));
        let mut rx = index.subscribe();
        assert!(!rx.has_changed().unwrap());
        index.apply(vec![(2, Some(station(2, 115.1)))]);
        assert!(rx.has_changed().unwrap());
        assert_eq!(*rx.borrow_and_update(), index.load().generation());
        index.apply_newer(vec![StationState::Retired { id: 2, version: 2 }]);
        assert_eq!(*rx.borrow_and_update(), index.load().generation());
        index.replace(vec![station(1, 115.0)]);
        assert_eq!(*rx.borrow_and_update(), index.load().generation());
        assert_eq!(index.load().generation(), 3);
    }

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
