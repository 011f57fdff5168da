//! The index as of commit bb46ba9 (rstar over single points), kept only to measure before/after in one run.
#![allow(dead_code)]

use arc_swap::{ArcSwap, ArcSwapOption};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rstar::primitives::GeomWithData;
use rstar::{RTree, AABB};
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};
use yizhan::domain::{AmenitySet, BBox, LonLat, Station};
use yizhan::index::{Hit, NearestQuery};

/// Smallest radius of curvature on WGS-84 (meridian at the equator, b²/a), in metres.
const MIN_CURVATURE_RADIUS: f64 = 6_335_439.327_292;

/// When the geodesic is known to within this many metres from the chord, no geodesic is solved.
const CHORD_TOLERANCE_M: f64 = 1e-3;

/// Overlay size past which a write folds the overlay into a rebuilt base.
const MAX_OVERLAY: usize = 2048;

/// Marks a station open around the clock: no schedule to evaluate.
const ALWAYS_OPEN: u32 = u32::MAX;

type Leaf = GeomWithData<[f64; 3], u32>;

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

/// Per-station data the filters need, kept compact and apart from the full record.
#[derive(Debug, Clone, Copy)]
struct Entry {
    location: LonLat,
    amenities: u32,
    schedule: u32,
    closed_until: i64,
}

/// Which distinct schedules are open at one wall-clock minute.
struct OpenTable {
    minute: i64,
    open: Vec<bool>,
}

/// The bulk-loaded part of a snapshot, rebuilt rarely.
struct Base {
    tree: RTree<Leaf>,
    entries: Vec<Entry>,
    stations: Vec<Arc<Station>>,
    slot_of: HashMap<i64, u32>,
    schedules: Vec<yizhan::domain::Hours>,
    open_cache: ArcSwapOption<OpenTable>,
}

impl Base {
    fn build(stations: Vec<Arc<Station>>) -> Self {
        let mut schedule_ids: HashMap<String, u32> = HashMap::new();
        let mut schedules = Vec::new();
        let mut entries = Vec::with_capacity(stations.len());
        let mut leaves = Vec::with_capacity(stations.len());
        let mut slot_of = HashMap::with_capacity(stations.len());
        for (slot, s) in stations.iter().enumerate() {
            let slot = slot as u32;
            let schedule = if s.opening_hours.is_always_open() {
                ALWAYS_OPEN
            } else {
                *schedule_ids
                    .entry(s.opening_hours.as_str().to_string())
                    .or_insert_with(|| {
                        schedules.push(s.opening_hours.clone());
                        (schedules.len() - 1) as u32
                    })
            };
            entries.push(Entry {
                location: s.location,
                amenities: s.amenities.bits(),
                schedule,
                closed_until: s.closed_until_ts(),
            });
            leaves.push(Leaf::new(s.location.ecef(), slot));
            slot_of.insert(s.id, slot);
        }
        Self {
            tree: RTree::bulk_load(leaves),
            entries,
            stations,
            slot_of,
            schedules,
            open_cache: ArcSwapOption::empty(),
        }
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

/// The k best hits so far, worst on top.
struct TopK {
    limit: usize,
    heap: BinaryHeap<Ranked>,
}

struct Ranked {
    distance: f64,
    id: i64,
    station: Arc<Station>,
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.distance
            .total_cmp(&other.distance)
            .then(self.id.cmp(&other.id))
    }
}

impl TopK {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            heap: BinaryHeap::with_capacity(limit + 1),
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

    fn offer(&mut self, distance: f64, station: &Arc<Station>) {
        let r = Ranked {
            distance,
            id: station.id,
            station: station.clone(),
        };
        if self.heap.len() < self.limit {
            self.heap.push(r);
        } else if self.heap.peek().is_some_and(|worst| r < *worst) {
            self.heap.pop();
            self.heap.push(r);
        }
    }

    fn into_hits(self) -> Vec<Hit> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|r| Hit {
                station: r.station,
                distance_m: r.distance,
            })
            .collect()
    }
}

/// Geodesic distance from a chord, solving the geodesic only when the bounds are loose.
fn refine(origin: &LonLat, target: &LonLat, chord: f64) -> f64 {
    let upper = arc_upper_bound(chord);
    if upper - chord <= CHORD_TOLERANCE_M {
        0.5 * (chord + upper)
    } else {
        origin.geodesic_distance(target)
    }
}

fn chord(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

impl Snapshot {
    /// Builds a snapshot from every active station (the start-up bulk load).
    pub fn build(stations: Vec<Station>, tz: Tz) -> Self {
        let stations = stations.into_iter().map(Arc::new).collect();
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
            .filter(|id| self.base.slot_of.contains_key(id))
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
            .slot_of
            .get(&id)
            .map(|&slot| self.base.stations[slot as usize].clone())
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
        let mut top = TopK::new(q.limit);
        if q.limit == 0 {
            return Vec::new();
        }
        let max_d = q.max_distance_m.unwrap_or(f64::INFINITY);
        let origin = q.origin.ecef();
        let want = q.amenities.bits();
        let open = q.open_at.map(|now| {
            (
                now,
                now.timestamp(),
                self.base
                    .open_table(now.with_timezone(&self.tz).naive_local()),
            )
        });

        // Changed stations are few: check each one.
        for s in self.overlay.values().flatten() {
            if !s.amenities.contains_all(q.amenities) {
                continue;
            }
            if let Some((now, _, _)) = &open {
                if !self.is_open(s, *now) {
                    continue;
                }
            }
            let d = refine(&q.origin, &s.location, chord(&origin, &s.location.ecef()));
            if d <= max_d {
                top.offer(d, s);
            }
        }

        for (leaf, chord2) in self
            .base
            .tree
            .nearest_neighbor_iter_with_distance_2(&origin)
        {
            let c = chord2.sqrt();
            // Chords never exceed geodesics: nothing further can beat the k-th best or the cap.
            if c > top.bound() || c > max_d {
                break;
            }
            let slot = leaf.data as usize;
            let e = &self.base.entries[slot];
            if e.amenities & want != want {
                continue;
            }
            if let Some((_, now_ts, table)) = &open {
                if e.closed_until > *now_ts {
                    continue;
                }
                if e.schedule != ALWAYS_OPEN && !table.open[e.schedule as usize] {
                    continue;
                }
            }
            let station = &self.base.stations[slot];
            if !self.overlay.is_empty() && self.overlay.contains_key(&station.id) {
                continue;
            }
            let d = refine(&q.origin, &e.location, c);
            if d <= max_d {
                top.offer(d, station);
            }
        }
        top.into_hits()
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
        let mut found: Vec<Arc<Station>> = self
            .base
            .tree
            .locate_in_envelope_intersecting(&env)
            .filter_map(|leaf| {
                let slot = leaf.data as usize;
                let e = &self.base.entries[slot];
                let s = &self.base.stations[slot];
                let keep = bbox.contains(&e.location)
                    && e.amenities & amenities.bits() == amenities.bits()
                    && !self.overlay.contains_key(&s.id);
                keep.then(|| s.clone())
            })
            .collect();
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
            let unchanged_absent = s.is_none() && !self.base.slot_of.contains_key(&id);
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

    /// Bytes held per station by the index structures (tree, filter entries, id map), excluding
    /// the station records themselves.
    pub fn index_bytes_per_station(&self) -> f64 {
        let n = self.base.stations.len().max(1);
        let leaf = std::mem::size_of::<Leaf>();
        // rstar keeps up to 6 children per node with an envelope each; count one envelope per child.
        let envelope = std::mem::size_of::<AABB<[f64; 3]>>();
        let tree = n * (leaf + envelope / 3 + std::mem::size_of::<usize>());
        let entries = self.base.entries.capacity() * std::mem::size_of::<Entry>();
        let ids = self.base.slot_of.capacity() * (std::mem::size_of::<(i64, u32)>() + 1);
        let records = self.base.stations.capacity() * std::mem::size_of::<Arc<Station>>();
        (tree + entries + ids + records) as f64 / n as f64
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

    /// Publishes changed stations (`None` = no longer active). Writers queue; readers don't.
    pub fn apply(&self, changes: Vec<(i64, Option<Station>)>) {
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let next = self.current.load().with_changes(changes);
        self.current.store(Arc::new(next));
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
