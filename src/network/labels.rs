//! Every node's [`K`] nearest stations by network time, kept up to date as stations change,
//! and exact k-nearest-by-time queries for a snapped rider.
//!
//! Times run from a node *to* a station (the way a rider travels), so the labelling is a
//! multi-source Dijkstra from the stations over the reversed graph. It settles each node at
//! most [`K`] times, once per distinct station, in `(time, station id)` order: the first `K`
//! distinct stations to reach a node are its nearest, ties going to the lower id. A node's
//! label set is closed under suffixes (if station `s` is among the `K` nearest of `x` through
//! `y`, it is among the `K` nearest of `y`), which is what lets the search prune a station
//! at a node that already holds `K` better ones, and what the incremental updates rely on.

use super::graph::Graph;
use super::radix::RadixHeap;
use super::snap::Snap;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// How many nearest stations each node keeps.
pub const K: usize = 3;

/// An empty label slot's station id.
const NONE: u32 = u32::MAX;

/// A station and the time to it in deciseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Hit {
    /// Network time in deciseconds.
    pub time: u32,
    /// Station id (the caller's numbering; ties are broken by it).
    pub station: u32,
}

const EMPTY: Hit = Hit {
    time: u32::MAX,
    station: NONE,
};

/// How a query's answer was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Read from the labels of the edge's two ends (proven exact).
    Labels,
    /// A bounded forward Dijkstra from the rider.
    Search,
}

/// The labels of one graph and the stations they were computed for. Cloned by a service that
/// updates a copy while readers keep answering from the published one.
#[derive(Clone)]
pub struct Labels {
    labels: Vec<[Hit; K]>,
    /// Snapped position of each station id (`None`: retired or never added).
    stations: Vec<Option<Snap>>,
    /// Stations reachable from each node that has any: `(station, deciseconds)`.
    entries: HashMap<u32, Vec<(u32, u32)>>,
    /// Stations on each edge that has any.
    on_edge: HashMap<u32, Vec<u32>>,
}

/// A queued label: station `.0` reaches node `.1`, keyed by the time (ties in any order; see
/// `Labels::settle`).
type Queued = (u32, u32);

/// Asks the CPU to start loading `p`'s cache line (a hint; nothing on other targets).
#[inline(always)]
fn prefetch<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(
            (p as *const T).cast::<i8>(),
            std::arch::x86_64::_MM_HINT_T0,
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

fn contains(l: &[Hit; K], s: u32) -> bool {
    l.iter().any(|h| h.station == s)
}

/// Whether `(time, s)` would enter `l` (not there already, and better than its worst if full).
fn admits(l: &[Hit; K], time: u32, s: u32) -> bool {
    !contains(l, s) && (Hit { time, station: s }) < l[K - 1]
}

fn insert(l: &mut [Hit; K], h: Hit) {
    let mut i = K - 1;
    l[i] = h;
    while i > 0 && l[i] < l[i - 1] {
        l.swap(i, i - 1);
        i -= 1;
    }
}

impl Labels {
    /// Labels every node of `g` with its nearest stations among `stations` (indexed by id;
    /// `None` for ids without a station, e.g. one too far from any road).
    pub fn build(g: &Graph, stations: &[Option<Snap>]) -> Self {
        let mut me = Self {
            labels: vec![[EMPTY; K]; g.nodes()],
            stations: stations.to_vec(),
            entries: HashMap::new(),
            on_edge: HashMap::new(),
        };
        let mut heap: RadixHeap<Queued> = RadixHeap::new();
        for (s, snap) in stations.iter().enumerate() {
            if let Some(snap) = snap {
                me.attach(g, s as u32, snap);
                for (x, t) in snap.entries(g).into_iter().flatten() {
                    heap.push(u64::from(t), (s as u32, x));
                }
            }
        }
        me.settle(g, heap, None);
        me
    }

    fn attach(&mut self, g: &Graph, s: u32, snap: &Snap) {
        for (x, t) in snap.entries(g).into_iter().flatten() {
            self.entries.entry(x).or_default().push((s, t));
        }
        self.on_edge.entry(snap.edge).or_default().push(s);
    }

    fn detach(&mut self, s: u32, snap: &Snap) {
        for list in self.entries.values_mut() {
            list.retain(|&(t, _)| t != s);
        }
        self.entries.retain(|_, l| !l.is_empty());
        if let Some(l) = self.on_edge.get_mut(&snap.edge) {
            l.retain(|&t| t != s);
            if l.is_empty() {
                self.on_edge.remove(&snap.edge);
            }
        }
    }

    /// The label-setting loop: pops in time order, accepts a station at a node that has room
    /// for it, spreads it backward along the arcs. `within` restricts the nodes that may
    /// change (a retirement's repair).
    ///
    /// Equal times come out together, in no particular station order: a station that took a
    /// node's last slot is evicted there by a lower id arriving at the same time, and that
    /// id then follows it everywhere it spread (it reaches those nodes at the same times), so
    /// the labels end as if ties had been popped in id order. Taking a whole time at once lets
    /// the loop prefetch the labels and arcs of the nodes a few items ahead: the wavefronts of
    /// thousands of stations touch memory all over the graph, and waiting for those loads is
    /// most of the labelling's time.
    fn settle(&mut self, g: &Graph, mut heap: RadixHeap<Queued>, within: Option<&[bool]>) {
        /// How far ahead the node's labels and row offsets, then its arcs, are prefetched.
        const AHEAD: usize = 8;
        const AHEAD_ARCS: usize = 4;
        let mut batch = Vec::new();
        while heap.pop_batch(&mut batch) {
            for i in 0..batch.len() {
                if let Some(&(_, (_, x))) = batch.get(i + AHEAD) {
                    prefetch(&self.labels[x as usize]);
                    prefetch(&g.rev.first[x as usize]);
                }
                if let Some(&(_, (_, x))) = batch.get(i + AHEAD_ARCS) {
                    if let Some(a) = g.rev.arcs.get(g.rev.first[x as usize] as usize) {
                        prefetch(a);
                    }
                }
                let (t, (s, x)) = batch[i];
                let t = t as u32;
                let l = &mut self.labels[x as usize];
                if !admits(l, t, s) {
                    continue;
                }
                insert(
                    l,
                    Hit {
                        time: t,
                        station: s,
                    },
                );
                for &[y, w] in g.rev.row(x) {
                    if within.is_some_and(|m| !m[y as usize]) {
                        continue;
                    }
                    let ty = t.saturating_add(w);
                    if admits(&self.labels[y as usize], ty, s) {
                        heap.push(u64::from(ty), (s, y));
                    }
                }
            }
        }
    }

    /// The labels of node `x`, nearest first (fewer than [`K`] when fewer stations can be
    /// reached from it).
    pub fn of(&self, x: u32) -> impl Iterator<Item = Hit> + '_ {
        self.labels[x as usize]
            .iter()
            .copied()
            .take_while(|h| h.station != NONE)
    }

    /// The snapped position of station `s`, if it is placed.
    pub fn station(&self, s: u32) -> Option<&Snap> {
        self.stations.get(s as usize).and_then(Option::as_ref)
    }

    /// Bytes held by the labels (not counting the small station maps).
    pub fn heap_bytes(&self) -> usize {
        self.labels.capacity() * std::mem::size_of::<[Hit; K]>()
    }

    /// Places a new station `s` (or one that had been retired): a search from it, pruned
    /// wherever it does not enter a node's labels.
    pub fn add(&mut self, g: &Graph, s: u32, snap: Snap) {
        if self.station(s).is_some() {
            self.retire(g, s);
        }
        if self.stations.len() <= s as usize {
            self.stations.resize(s as usize + 1, None);
        }
        self.stations[s as usize] = Some(snap);
        self.attach(g, s, &snap);
        let mut heap: RadixHeap<Queued> = RadixHeap::new();
        for (x, t) in snap.entries(g).into_iter().flatten() {
            heap.push(u64::from(t), (s, x));
        }
        self.settle(g, heap, None);
    }

    /// Moves station `s` to a new position (a retirement then an addition).
    pub fn moved(&mut self, g: &Graph, s: u32, snap: Snap) {
        self.add(g, s, snap);
    }

    /// Retires station `s`: the nodes that held it are relabelled from their unaffected
    /// neighbours' labels and the stations that enter among them.
    pub fn retire(&mut self, g: &Graph, s: u32) {
        let Some(snap) = self.station(s).copied() else {
            return;
        };
        self.stations[s as usize] = None;
        self.detach(s, &snap);
        // The nodes holding `s` are connected to its entries through nodes holding `s`
        // (suffix closure), so a search over them finds them all.
        let mut affected = Vec::new();
        let mut mark = vec![false; g.nodes()];
        for (x, _) in snap.entries(g).into_iter().flatten() {
            if !mark[x as usize] && contains(&self.labels[x as usize], s) {
                mark[x as usize] = true;
                affected.push(x);
            }
        }
        let mut i = 0;
        while i < affected.len() {
            let x = affected[i];
            i += 1;
            for (y, _) in g.rev.arcs(x) {
                if !mark[y as usize] && contains(&self.labels[y as usize], s) {
                    mark[y as usize] = true;
                    affected.push(y);
                }
            }
        }
        for &x in &affected {
            self.labels[x as usize] = [EMPTY; K];
        }
        let mut heap: RadixHeap<Queued> = RadixHeap::new();
        for &x in &affected {
            for (y, w) in g.fwd.arcs(x) {
                if mark[y as usize] {
                    continue;
                }
                for h in self.of(y) {
                    heap.push(u64::from(h.time.saturating_add(w)), (h.station, x));
                }
            }
            if let Some(list) = self.entries.get(&x) {
                for &(station, time) in list {
                    heap.push(u64::from(time), (station, x));
                }
            }
        }
        self.settle(g, heap, Some(&mark));
    }

    /// The `k` nearest stations accepted by `allow`, read from the labels of the rider's edge
    /// ends, or `None` when the labels cannot prove them.
    ///
    /// Proof: an end `x` with a full label set bounds every station it does not hold by
    /// `(time to x + its worst label's time, that label's station)`; a candidate no greater
    /// than the least such bound is exact and correctly ranked. The labels therefore fail
    /// when fewer than `k` accepted candidates lie within the bound, which happens when `k`
    /// exceeds [`K`], when `allow` rejects labelled stations, or when both ends' labels name
    /// the same stations.
    pub fn nearest_by_labels(
        &self,
        g: &Graph,
        rider: &Snap,
        k: usize,
        allow: impl Fn(u32) -> bool,
    ) -> Option<Vec<Hit>> {
        let mut cand: Vec<Hit> = Vec::with_capacity(2 * K + 2);
        let mut bound = Hit {
            time: u32::MAX,
            station: NONE,
        };
        let push = |h: Hit, cand: &mut Vec<Hit>| {
            if let Some(c) = cand.iter_mut().find(|c| c.station == h.station) {
                c.time = c.time.min(h.time);
            } else {
                cand.push(h);
            }
        };
        for (x, tx) in rider.exits(g).into_iter().flatten() {
            let l = &self.labels[x as usize];
            for h in l.iter().take_while(|h| h.station != NONE) {
                if allow(h.station) {
                    push(
                        Hit {
                            time: tx.saturating_add(h.time),
                            station: h.station,
                        },
                        &mut cand,
                    );
                }
            }
            if l[K - 1].station != NONE {
                let b = Hit {
                    time: tx.saturating_add(l[K - 1].time),
                    station: l[K - 1].station,
                };
                bound = bound.min(b);
            }
        }
        if let Some(list) = self.on_edge.get(&rider.edge) {
            for &s in list {
                if let (true, Some(t)) = (allow(s), self.station(s).and_then(|p| rider.along(g, p)))
                {
                    push(
                        Hit {
                            time: t,
                            station: s,
                        },
                        &mut cand,
                    );
                }
            }
        }
        cand.sort_unstable();
        let proven = cand.iter().take_while(|c| **c <= bound).count();
        if proven >= k || bound.station == NONE {
            cand.truncate(k.min(proven));
            Some(cand)
        } else {
            None
        }
    }

    /// The `k` nearest stations accepted by `allow` within `limit` deciseconds, by a forward
    /// Dijkstra from the rider that stops once it has them (the fallback; always exact).
    pub fn nearest_by_search(
        &self,
        g: &Graph,
        rider: &Snap,
        k: usize,
        limit: u32,
        allow: impl Fn(u32) -> bool,
        scratch: &mut Scratch,
    ) -> Vec<Hit> {
        scratch.reset(g.nodes());
        let mut found: Vec<Hit> = Vec::with_capacity(k);
        // Nodes before stations at equal times: a node settled at `t` may reach a station
        // at `t` with a lower id through a zero-length entry.
        let node_key = |t: u32, x: u32| Reverse((u64::from(t) << 33) | u64::from(x));
        let station_key = |t: u32, s: u32| Reverse((u64::from(t) << 33) | (1 << 32) | u64::from(s));
        let mut heap: BinaryHeap<Reverse<u64>> = BinaryHeap::new();
        for (x, t) in rider.exits(g).into_iter().flatten() {
            if t <= limit && scratch.improve(x, t) {
                heap.push(node_key(t, x));
            }
        }
        if let Some(list) = self.on_edge.get(&rider.edge) {
            for &s in list {
                if let (true, Some(t)) = (allow(s), self.station(s).and_then(|p| rider.along(g, p)))
                {
                    if t <= limit {
                        heap.push(station_key(t, s));
                    }
                }
            }
        }
        while let Some(Reverse(k64)) = heap.pop() {
            if found.len() >= k {
                break;
            }
            let t = (k64 >> 33) as u32;
            let id = k64 as u32;
            if k64 & (1 << 32) != 0 {
                if !found.iter().any(|h| h.station == id) {
                    found.push(Hit {
                        time: t,
                        station: id,
                    });
                }
                continue;
            }
            if scratch.dist[id as usize] < t {
                continue;
            }
            if let Some(list) = self.entries.get(&id) {
                for &(s, e) in list {
                    let ts = t.saturating_add(e);
                    if ts <= limit && allow(s) && !found.iter().any(|h| h.station == s) {
                        heap.push(station_key(ts, s));
                    }
                }
            }
            for (y, w) in g.fwd.arcs(id) {
                let ty = t.saturating_add(w);
                if ty <= limit && scratch.improve(y, ty) {
                    heap.push(node_key(ty, y));
                }
            }
        }
        found
    }

    /// The `k` nearest stations accepted by `allow` within `limit` deciseconds: from the
    /// labels when they prove it, otherwise by search.
    pub fn nearest(
        &self,
        g: &Graph,
        rider: &Snap,
        k: usize,
        limit: u32,
        allow: impl Fn(u32) -> bool,
        scratch: &mut Scratch,
    ) -> (Vec<Hit>, Method) {
        if let Some(mut hits) = self.nearest_by_labels(g, rider, k, &allow) {
            hits.retain(|h| h.time <= limit);
            return (hits, Method::Labels);
        }
        (
            self.nearest_by_search(g, rider, k, limit, allow, scratch),
            Method::Search,
        )
    }

    /// Checks the labels in O(arcs) instead of against a brute force: sorted and distinct;
    /// every station's entries are respected (a station is no farther than its entry time);
    /// no arc improves a label (`d(x) ≤ d(y) + w` for every label of `y` that `x` would
    /// admit); and every label is achieved, by an entry of its station or by an arc to a node
    /// holding the same station. (With zero-time cycles, achievement could in principle
    /// support itself around the cycle; the proptests against Dijkstra cover those.)
    pub fn certify(&self, g: &Graph) -> Result<(), String> {
        for (x, l) in self.labels.iter().enumerate() {
            let n = l.iter().take_while(|h| h.station != NONE).count();
            if l[n..].iter().any(|h| *h != EMPTY) || l[..n].windows(2).any(|w| w[0] >= w[1]) {
                return Err(format!("node {x}: labels not sorted {l:?}"));
            }
            for (i, h) in l[..n].iter().enumerate() {
                if l[..i].iter().any(|o| o.station == h.station) {
                    return Err(format!("node {x}: station {} twice", h.station));
                }
            }
        }
        let ok = |x: u32, t: u32, s: u32| {
            let l = &self.labels[x as usize];
            l.iter().any(|h| h.station == s && h.time <= t) || !admits(l, t, s)
        };
        for (&x, list) in &self.entries {
            for &(s, t) in list {
                if !ok(x, t, s) {
                    return Err(format!("node {x}: station {s} entry at {t} not respected"));
                }
            }
        }
        for x in 0..g.nodes() as u32 {
            for (y, w) in g.fwd.arcs(x) {
                for h in self.of(y) {
                    if !ok(x, h.time.saturating_add(w), h.station) {
                        return Err(format!("arc {x}->{y}: {h:?} improves node {x}"));
                    }
                }
            }
            for h in self.of(x) {
                let by_entry = self
                    .entries
                    .get(&x)
                    .is_some_and(|l| l.iter().any(|&(s, t)| s == h.station && t == h.time));
                let by_arc = || {
                    g.fwd.arcs(x).any(|(y, w)| {
                        self.of(y)
                            .any(|o| o.station == h.station && o.time.saturating_add(w) == h.time)
                    })
                };
                if !by_entry && !by_arc() {
                    return Err(format!("node {x}: {h:?} achieved by nothing"));
                }
            }
        }
        Ok(())
    }
}

/// Reusable memory for the fallback search (distances reset lazily between queries).
#[derive(Default)]
pub struct Scratch {
    dist: Vec<u32>,
    touched: Vec<u32>,
}

impl Scratch {
    fn reset(&mut self, n: usize) {
        if self.dist.len() != n {
            self.dist = vec![u32::MAX; n];
            self.touched.clear();
        }
        for &x in &self.touched {
            self.dist[x as usize] = u32::MAX;
        }
        self.touched.clear();
    }

    fn improve(&mut self, x: u32, t: u32) -> bool {
        let d = &mut self.dist[x as usize];
        if t < *d {
            if *d == u32::MAX {
                self.touched.push(x);
            }
            *d = t;
            true
        } else {
            false
        }
    }
}
