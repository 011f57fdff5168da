//! The stations on the road networks: per mode, the [`Labels`] of the index's stations, kept in
//! step with the index, and the nearest-by-time queries riders make.
//!
//! A [`Labelled`] pairs labels with the index snapshot they were computed from, so a reply
//! reads stations and times that agree. Writers never touch it: a task follows the index's
//! published generations, diffs each new snapshot against the labelled one (moved, retired,
//! new stations) and applies `Labels::add/moved/retire` to copies of the labels, then swaps
//! the result in. Readers load the current `Labelled` without locks and never wait on an
//! update (see [`NetworkStations::labelled`] for the short, bounded wait right after a write).
//!
//! Label ids are dense and ordered like station ids (`ids` is ascending), so the labels'
//! tie-break (lower label id) is the reply's (lower station id). A station id lower than the
//! highest labelled one (possible when a replica hears of two creations out of order) cannot
//! keep that order with an appended id: the labels are then rebuilt.

use super::cache::Origin;
use super::labels::{Hit, Labels, Scratch};
use super::roads::Roads;
use super::snap::Snap;
use crate::domain::{LonLat, Mode, Station};
use crate::index::{Snapshot, StationIndex};
use arc_swap::ArcSwap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Labels of every mode over one index snapshot.
pub struct Labelled {
    /// The snapshot the labels describe.
    pub snapshot: Arc<Snapshot>,
    /// Station id of each label id, ascending.
    ids: Arc<Vec<i64>>,
    walk: Arc<Labels>,
    ebike: Arc<Labels>,
}

impl Labelled {
    /// The label id of a station id.
    fn label_of(&self, id: i64) -> Option<u32> {
        self.ids.binary_search(&id).ok().map(|i| i as u32)
    }

    /// The station of a label id, if active in the snapshot.
    pub fn station(&self, label: u32) -> Option<Arc<Station>> {
        self.ids
            .get(label as usize)
            .and_then(|&id| self.snapshot.get(id))
    }

    fn labels(&self, mode: Mode) -> &Labels {
        match mode {
            Mode::Walk => &self.walk,
            Mode::Ebike => &self.ebike,
        }
    }

    /// Whether station `id` is on `mode`'s network (snapped within [`super::MAX_SNAP_M`]).
    pub fn is_on_network(&self, mode: Mode, id: i64) -> bool {
        self.label_of(id)
            .is_some_and(|l| self.labels(mode).station(l).is_some())
    }
}

/// What a rider's query needs of the network: the rider's snap and where to look.
pub struct RiderOnRoads {
    net: Arc<NetworkStations>,
    lab: Arc<Labelled>,
    mode: Mode,
    rider: Snap,
}

/// The stations' labels on the loaded road networks, following the index.
pub struct NetworkStations {
    roads: Arc<Roads>,
    current: ArcSwap<Labelled>,
    /// The generation of the snapshot labelled last.
    labelled: tokio::sync::watch::Sender<u64>,
    /// Search memory per mode, reused across queries.
    scratch: [Mutex<Vec<Scratch>>; 2],
    /// Whether the graphs came from the cache or were built at start-up.
    pub origin: Origin,
}

/// Longest a reader waits for the labels to catch up with a snapshot just published. Updates
/// take milliseconds (an edit) to ~0.1 s (a batch of stations in a debug build); 250 ms was
/// too short for a debug build under load on 2 shared cores (a test then saw the labels of
/// the snapshot before its import). Only the requests that arrive during an update wait.
pub const CATCH_UP_WAIT: Duration = Duration::from_secs(1);

fn snap_all(roads: &Roads, mode: Mode, ids: &[i64], snapshot: &Snapshot) -> Vec<Option<Snap>> {
    let net = roads.mode(mode);
    ids.iter()
        .map(|&id| snapshot.get(id).and_then(|s| net.snap(&s.location)))
        .collect()
}

fn build(roads: &Roads, snapshot: Arc<Snapshot>) -> Labelled {
    let started = Instant::now();
    let ids: Vec<i64> = snapshot.all().iter().map(|s| s.id).collect();
    let [walk, ebike] = [Mode::Walk, Mode::Ebike].map(|mode| {
        let stations = snap_all(roads, mode, &ids, &snapshot);
        Arc::new(Labels::build(&roads.mode(mode).graph, &stations))
    });
    tracing::info!(
        stations = ids.len(),
        generation = snapshot.generation(),
        walk_snapped = (0..ids.len() as u32)
            .filter(|&l| walk.station(l).is_some())
            .count(),
        ebike_snapped = (0..ids.len() as u32)
            .filter(|&l| ebike.station(l).is_some())
            .count(),
        ms = started.elapsed().as_millis() as u64,
        "station labels built on the road networks"
    );
    Labelled {
        snapshot,
        ids: Arc::new(ids),
        walk,
        ebike,
    }
}

fn same_place(a: Option<&Station>, b: Option<&Station>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.location == b.location,
        (None, None) => true,
        _ => false,
    }
}

impl NetworkStations {
    /// Labels the stations of `snapshot` on `roads` (blocking: call it off the runtime).
    pub fn build(roads: Arc<Roads>, snapshot: Arc<Snapshot>, origin: Origin) -> Self {
        let lab = build(&roads, snapshot);
        let (labelled, _) = tokio::sync::watch::channel(lab.snapshot.generation());
        Self {
            roads,
            current: ArcSwap::from_pointee(lab),
            labelled,
            scratch: Default::default(),
            origin,
        }
    }

    /// The road networks.
    pub fn roads(&self) -> &Arc<Roads> {
        &self.roads
    }

    /// The current labels, without waiting.
    pub fn current(&self) -> Arc<Labelled> {
        self.current.load_full()
    }

    /// The labels of `generation` or later: right after a write the labels may trail the index
    /// by the update's time (milliseconds), so a reader that saw the new snapshot waits for
    /// them at most [`CATCH_UP_WAIT`], then answers from the older, consistent pair.
    pub async fn labelled(&self, generation: u64) -> Arc<Labelled> {
        let lab = self.current.load_full();
        if lab.snapshot.generation() >= generation {
            return lab;
        }
        let mut rx = self.labelled.subscribe();
        let _ = tokio::time::timeout(CATCH_UP_WAIT, rx.wait_for(|&g| g >= generation)).await;
        self.current.load_full()
    }

    /// Brings the labels to `snapshot` (blocking): the stations that moved, appeared or were
    /// retired since the labelled snapshot are updated in copies of the labels, which are then
    /// published. Returns how many stations changed place. One caller at a time (the follower
    /// task): two concurrent updates would each start from the same labels and one be lost.
    pub fn catch_up(&self, snapshot: Arc<Snapshot>) -> usize {
        let old = self.current.load_full();
        if Arc::ptr_eq(&old.snapshot, &snapshot) {
            return 0;
        }
        let started = Instant::now();
        let mut ids = (*old.ids).clone();
        let mut moves: Vec<(u32, Option<LonLat>)> = Vec::new();
        let mut rebuild = false;
        for id in snapshot.changed_since(&old.snapshot) {
            let (before, after) = (old.snapshot.get(id), snapshot.get(id));
            if same_place(before.as_deref(), after.as_deref()) {
                continue;
            }
            let label = match ids.binary_search(&id) {
                Ok(l) => l as u32,
                Err(at) if at == ids.len() => {
                    ids.push(id);
                    at as u32
                }
                Err(_) => {
                    rebuild = true;
                    break;
                }
            };
            moves.push((label, after.map(|s| s.location)));
        }
        let next = if rebuild {
            tracing::info!("a station id below the highest labelled one: relabelling all");
            build(&self.roads, snapshot)
        } else if moves.is_empty() {
            Labelled {
                snapshot,
                ids: old.ids.clone(),
                walk: old.walk.clone(),
                ebike: old.ebike.clone(),
            }
        } else {
            let [walk, ebike] = [Mode::Walk, Mode::Ebike].map(|mode| {
                let net = self.roads.mode(mode);
                let mut labels = old.labels(mode).clone();
                for &(label, at) in &moves {
                    match at.and_then(|p| net.snap(&p)) {
                        Some(snap) => labels.moved(&net.graph, label, snap),
                        None => labels.retire(&net.graph, label),
                    }
                }
                Arc::new(labels)
            });
            Labelled {
                snapshot,
                ids: Arc::new(ids),
                walk,
                ebike,
            }
        };
        let generation = next.snapshot.generation();
        self.current.store(Arc::new(next));
        self.labelled.send_replace(generation);
        if !moves.is_empty() || rebuild {
            tracing::debug!(
                stations = moves.len(),
                rebuild,
                generation,
                ms = started.elapsed().as_millis() as u64,
                "station labels updated"
            );
        }
        moves.len()
    }

    /// Follows `index`: every published snapshot is labelled off the runtime, in order,
    /// skipping snapshots superseded while an update ran.
    pub fn spawn_follower(self: &Arc<Self>, index: Arc<StationIndex>) {
        let me = self.clone();
        let mut rx = index.subscribe();
        tokio::spawn(async move {
            loop {
                rx.borrow_and_update();
                let snapshot = index.load();
                let me2 = me.clone();
                if let Err(e) = tokio::task::spawn_blocking(move || me2.catch_up(snapshot)).await {
                    tracing::error!(error = %e, "updating the station labels panicked");
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        });
    }

    /// The rider's place on `mode`'s network in `lab`, or `None` when no road is within
    /// [`super::MAX_SNAP_M`].
    pub fn rider(
        self: &Arc<Self>,
        lab: Arc<Labelled>,
        mode: Mode,
        at: &LonLat,
    ) -> Option<RiderOnRoads> {
        let rider = self.roads.mode(mode).snap(at)?;
        Some(RiderOnRoads {
            net: self.clone(),
            lab,
            mode,
            rider,
        })
    }

    fn with_scratch<T>(&self, mode: Mode, f: impl FnOnce(&mut Scratch) -> T) -> T {
        let pool = &self.scratch[usize::from(mode == Mode::Ebike)];
        let mut s = pool
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default();
        let out = f(&mut s);
        pool.lock().unwrap_or_else(|p| p.into_inner()).push(s);
        out
    }
}

impl RiderOnRoads {
    /// The labelled snapshot this rider is answered from.
    pub fn labelled(&self) -> &Arc<Labelled> {
        &self.lab
    }

    /// The `k` stations accepted by `allow` nearest by time within `limit` deciseconds, if the
    /// labels prove them (fast path: no search).
    pub fn nearest_by_labels(
        &self,
        k: usize,
        limit: u32,
        allow: impl Fn(&Station) -> bool,
    ) -> Option<Vec<Hit>> {
        let g = &self.net.roads.mode(self.mode).graph;
        let mut hits = self
            .lab
            .labels(self.mode)
            .nearest_by_labels(g, &self.rider, k, |l| {
                self.lab.station(l).is_some_and(|s| allow(&s))
            })?;
        hits.retain(|h| h.time <= limit);
        Some(hits)
    }

    /// The same by a forward search bounded by `limit` (always exact; milliseconds on a
    /// provincial graph, so run it off the runtime).
    pub fn nearest_by_search(
        &self,
        k: usize,
        limit: u32,
        allow: impl Fn(&Station) -> bool,
    ) -> Vec<Hit> {
        let g = &self.net.roads.mode(self.mode).graph;
        let labels = self.lab.labels(self.mode);
        self.net.with_scratch(self.mode, |scratch| {
            labels.nearest_by_search(
                g,
                &self.rider,
                k,
                limit,
                |l| self.lab.station(l).is_some_and(|s| allow(&s)),
                scratch,
            )
        })
    }

    /// Deciseconds to each of `ids` within `limit` (absent: unreachable in that time or not on
    /// the network): from the labels when they prove every one, else by search.
    pub fn times_to(&self, ids: &[i64], limit: u32) -> Vec<(i64, u32)> {
        let wanted: Vec<u32> = ids
            .iter()
            .filter(|&&id| self.lab.is_on_network(self.mode, id))
            .filter_map(|&id| self.lab.label_of(id))
            .collect();
        if wanted.is_empty() {
            return Vec::new();
        }
        let g = &self.net.roads.mode(self.mode).graph;
        let labels = self.lab.labels(self.mode);
        let allow = |l: u32| wanted.contains(&l);
        let hits = match labels.nearest_by_labels(g, &self.rider, wanted.len(), allow) {
            Some(h) if h.len() == wanted.len() => h,
            _ => self.net.with_scratch(self.mode, |scratch| {
                labels.nearest_by_search(g, &self.rider, wanted.len(), limit, allow, scratch)
            }),
        };
        hits.into_iter()
            .filter(|h| h.time <= limit)
            .map(|h| (self.lab.ids[h.station as usize], h.time))
            .collect()
    }
}
