//! The routable graph of one profile in compact arrays.
//!
//! Nodes are intersections (and the ends of ways): a way is cut where it meets another, and
//! each piece is an *edge* keeping its interior points for snapping. An edge gives one or two
//! *arcs* (directed, with a travel time in whole deciseconds), stored as CSR arrays forward and
//! reversed. Keeping every OSM node as a graph node would roughly triple the node count of a
//! provincial extract for no routing gain: the degree-2 nodes only shape the edges.

use super::{segment_m, Profile};

/// Components smaller than this many nodes (or than [`ISLAND_SHARE`] of the graph, if that is
/// fewer) are dropped.
pub const ISLAND_NODES: usize = 500;
/// Share of the graph's nodes under which a component counts as an island.
pub const ISLAND_SHARE: f64 = 0.005;

/// One edge as read, before islands are dropped (node indices into the builder's `coords`).
#[derive(Debug, Clone, PartialEq)]
pub struct RawEdge {
    /// First node.
    pub u: u32,
    /// Last node.
    pub v: u32,
    /// Travel allowed from `u` to `v`.
    pub forward: bool,
    /// Travel allowed from `v` to `u`.
    pub backward: bool,
    /// The edge's interior points: a range of [`GraphBuilder::interior`].
    pub interior: std::ops::Range<u32>,
}

/// Nodes and edges of a profile as read from OSM (or generated), not yet a graph.
#[derive(Debug, Default, Clone)]
pub struct GraphBuilder {
    /// Node coordinates (1e-7 degree).
    pub coords: Vec<[i32; 2]>,
    /// Edges between those nodes.
    pub edges: Vec<RawEdge>,
    /// Interior points of all edges, edge after edge.
    pub interior: Vec<[i32; 2]>,
}

impl GraphBuilder {
    /// Adds an edge with its interior points (nothing is added when no direction is allowed).
    pub fn push_edge(&mut self, u: u32, v: u32, forward: bool, backward: bool, inner: &[[i32; 2]]) {
        if !forward && !backward {
            return;
        }
        let start = self.interior.len() as u32;
        self.interior.extend_from_slice(inner);
        self.edges.push(RawEdge {
            u,
            v,
            forward,
            backward,
            interior: start..self.interior.len() as u32,
        });
    }
}

/// Compressed sparse rows: the arcs leaving node `x` are `first[x]..first[x + 1]`.
///
/// Each arc is `[head, weight]` side by side: a search reads both, and one cache line instead
/// of two per arc is most of what a multi-source search over millions of nodes waits for.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Csr {
    /// Offsets into `arcs`, one per node plus one.
    pub first: Vec<u32>,
    /// Each arc's other end and travel time in deciseconds.
    pub arcs: Vec<[u32; 2]>,
}

impl Csr {
    /// Builds rows from `(tail, head, weight)` arcs over `n` nodes (parallel arcs kept).
    pub fn from_arcs(n: usize, arcs: &[(u32, u32, u32)]) -> Self {
        let mut first = vec![0u32; n + 1];
        for &(t, _, _) in arcs {
            first[t as usize + 1] += 1;
        }
        for i in 0..n {
            first[i + 1] += first[i];
        }
        let mut next = first.clone();
        let mut out = vec![[0u32; 2]; arcs.len()];
        for &(t, h, w) in arcs {
            let slot = next[t as usize] as usize;
            next[t as usize] += 1;
            out[slot] = [h, w];
        }
        Self { first, arcs: out }
    }

    /// The arcs leaving `x` as `(head, weight)`.
    #[inline]
    pub fn arcs(&self, x: u32) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.row(x).iter().map(|&[h, w]| (h, w))
    }

    /// The arcs leaving `x` as stored.
    #[inline]
    pub fn row(&self, x: u32) -> &[[u32; 2]] {
        &self.arcs[self.first[x as usize] as usize..self.first[x as usize + 1] as usize]
    }

    /// Number of arcs.
    pub fn len(&self) -> usize {
        self.arcs.len()
    }

    /// Whether there are no arcs.
    pub fn is_empty(&self) -> bool {
        self.arcs.is_empty()
    }

    /// Number of nodes.
    pub fn nodes(&self) -> usize {
        self.first.len().saturating_sub(1)
    }
}

/// A profile's routable graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    /// Speed and mode the weights were computed for.
    pub profile: Profile,
    /// Node coordinates (1e-7 degree).
    pub coords: Vec<[i32; 2]>,
    /// Arcs by tail.
    pub fwd: Csr,
    /// Arcs by head (the reversed graph the labelling searches).
    pub rev: Csr,
    /// First node of each edge.
    pub edge_u: Vec<u32>,
    /// Last node of each edge.
    pub edge_v: Vec<u32>,
    /// Geodesic length of each edge in metres (along its geometry).
    pub edge_len: Vec<f64>,
    /// Allowed directions of each edge: bit 0 `u → v`, bit 1 `v → u`.
    pub edge_dir: Vec<u8>,
    /// Offsets into `interior`, one per edge plus one.
    pub interior_first: Vec<u32>,
    /// Interior points of all edges.
    pub interior: Vec<[i32; 2]>,
}

/// Bit of [`Graph::edge_dir`]: travel from `u` to `v` allowed.
pub const FORWARD: u8 = 1;
/// Bit of [`Graph::edge_dir`]: travel from `v` to `u` allowed.
pub const BACKWARD: u8 = 2;

impl Graph {
    /// Builds the graph, dropping islands under the default rule ([`ISLAND_NODES`],
    /// [`ISLAND_SHARE`]).
    pub fn build(b: GraphBuilder, profile: Profile) -> Self {
        let n = b.coords.len();
        let min_keep = ISLAND_NODES.min((ISLAND_SHARE * n as f64).ceil() as usize);
        Self::build_keeping(b, profile, min_keep)
    }

    /// Builds the graph, dropping strongly connected components of fewer than `min_keep` nodes.
    ///
    /// Strongly connected, not merely connected: on a one-way road that leads only out of the
    /// network (or only in) a rider could be routed but never come back, and a station there
    /// would be unreachable from almost everywhere. For walking, where every edge goes both
    /// ways, the two notions agree.
    pub fn build_keeping(b: GraphBuilder, profile: Profile, min_keep: usize) -> Self {
        let n = b.coords.len();
        let lens: Vec<f64> = b
            .edges
            .iter()
            .map(|e| polyline_len(&b.coords, e, &b.interior))
            .collect();
        let arcs = arcs_of(&b.edges, &lens, profile);
        let fwd = Csr::from_arcs(n, &arcs);
        let rev_arcs: Vec<_> = arcs.iter().map(|&(t, h, w)| (h, t, w)).collect();
        let rev = Csr::from_arcs(n, &rev_arcs);
        drop((arcs, rev_arcs));
        let comp = strongly_connected(&fwd, &rev);
        let mut size = vec![0usize; n];
        for &c in &comp {
            size[c as usize] += 1;
        }
        // Renumber the kept nodes in their original order.
        let mut new_id = vec![u32::MAX; n];
        let mut coords = Vec::new();
        for x in 0..n {
            if size[comp[x] as usize] >= min_keep.max(1) {
                new_id[x] = coords.len() as u32;
                coords.push(b.coords[x]);
            }
        }
        let mut edge_u = Vec::new();
        let mut edge_v = Vec::new();
        let mut edge_len = Vec::new();
        let mut edge_dir = Vec::new();
        let mut interior_first = vec![0u32];
        let mut interior = Vec::new();
        let mut kept_edges = Vec::new();
        for (e, len) in b.edges.iter().zip(&lens) {
            let (u, v) = (new_id[e.u as usize], new_id[e.v as usize]);
            if u == u32::MAX || v == u32::MAX {
                continue;
            }
            edge_u.push(u);
            edge_v.push(v);
            edge_len.push(*len);
            edge_dir.push((u8::from(e.forward) * FORWARD) | (u8::from(e.backward) * BACKWARD));
            interior
                .extend_from_slice(&b.interior[e.interior.start as usize..e.interior.end as usize]);
            interior_first.push(interior.len() as u32);
            kept_edges.push(RawEdge {
                u,
                v,
                forward: e.forward,
                backward: e.backward,
                interior: 0..0,
            });
        }
        let arcs = arcs_of(&kept_edges, &edge_len, profile);
        let fwd = Csr::from_arcs(coords.len(), &arcs);
        let rev_arcs: Vec<_> = arcs.iter().map(|&(t, h, w)| (h, t, w)).collect();
        let rev = Csr::from_arcs(coords.len(), &rev_arcs);
        // The vectors grew by doubling: give back the slack (a quarter of a provincial
        // graph's memory otherwise).
        coords.shrink_to_fit();
        edge_u.shrink_to_fit();
        edge_v.shrink_to_fit();
        edge_len.shrink_to_fit();
        edge_dir.shrink_to_fit();
        interior_first.shrink_to_fit();
        interior.shrink_to_fit();
        Self {
            profile,
            coords,
            fwd,
            rev,
            edge_u,
            edge_v,
            edge_len,
            edge_dir,
            interior_first,
            interior,
        }
    }

    /// Number of nodes.
    pub fn nodes(&self) -> usize {
        self.coords.len()
    }

    /// Number of edges.
    pub fn edges(&self) -> usize {
        self.edge_u.len()
    }

    /// Number of arcs.
    pub fn arcs(&self) -> usize {
        self.fwd.len()
    }

    /// The full geometry of edge `e`: its first node, interior points, last node.
    pub fn edge_points(&self, e: u32) -> impl Iterator<Item = [i32; 2]> + '_ {
        let e = e as usize;
        let inner =
            &self.interior[self.interior_first[e] as usize..self.interior_first[e + 1] as usize];
        std::iter::once(self.coords[self.edge_u[e] as usize])
            .chain(inner.iter().copied())
            .chain(std::iter::once(self.coords[self.edge_v[e] as usize]))
    }

    /// Bytes held by the arrays (capacity, not length).
    pub fn heap_bytes(&self) -> usize {
        fn b<T>(v: &Vec<T>) -> usize {
            v.capacity() * std::mem::size_of::<T>()
        }
        b(&self.coords)
            + b(&self.fwd.first)
            + b(&self.fwd.arcs)
            + b(&self.rev.first)
            + b(&self.rev.arcs)
            + b(&self.edge_u)
            + b(&self.edge_v)
            + b(&self.edge_len)
            + b(&self.edge_dir)
            + b(&self.interior_first)
            + b(&self.interior)
    }

    /// Checks the arrays are consistent (lengths, offsets, node ids in range), so that a graph
    /// read from a file cannot make a search index out of bounds.
    pub fn validate(&self) -> Result<(), String> {
        let n = self.nodes();
        let m = self.edges();
        for (name, csr) in [("forward", &self.fwd), ("reverse", &self.rev)] {
            if csr.first.len() != n + 1
                || csr.first.first() != Some(&0)
                || csr.first.last().map(|&x| x as usize) != Some(csr.len())
                || csr.first.windows(2).any(|w| w[0] > w[1])
                || csr.arcs.iter().any(|&[h, _]| h as usize >= n)
            {
                return Err(format!("{name} arcs are inconsistent"));
            }
        }
        if self.fwd.len() != self.rev.len() {
            return Err("forward and reverse arc counts differ".into());
        }
        if self.edge_v.len() != m
            || self.edge_len.len() != m
            || self.edge_dir.len() != m
            || self.interior_first.len() != m + 1
            || self.interior_first.first() != Some(&0)
            || self.interior_first.last().map(|&x| x as usize) != Some(self.interior.len())
            || self.interior_first.windows(2).any(|w| w[0] > w[1])
            || self
                .edge_u
                .iter()
                .chain(&self.edge_v)
                .any(|&x| x as usize >= n)
            || self.edge_len.iter().any(|l| !l.is_finite() || *l < 0.0)
            || self.edge_dir.iter().any(|&d| d == 0 || d > 3)
        {
            return Err("edges are inconsistent".into());
        }
        if !(self.profile.speed_kmh.is_finite() && self.profile.speed_kmh > 0.0) {
            return Err("speed is not positive".into());
        }
        Ok(())
    }
}

/// Length of a raw edge along its geometry.
fn polyline_len(coords: &[[i32; 2]], e: &RawEdge, interior: &[[i32; 2]]) -> f64 {
    let pts = std::iter::once(coords[e.u as usize])
        .chain(
            interior[e.interior.start as usize..e.interior.end as usize]
                .iter()
                .copied(),
        )
        .chain(std::iter::once(coords[e.v as usize]));
    let mut len = 0.0;
    let mut prev: Option<[i32; 2]> = None;
    for p in pts {
        if let Some(q) = prev {
            len += segment_m(q, p);
        }
        prev = Some(p);
    }
    len
}

fn arcs_of(edges: &[RawEdge], lens: &[f64], profile: Profile) -> Vec<(u32, u32, u32)> {
    let mut arcs = Vec::with_capacity(edges.len() * 2);
    for (e, &len) in edges.iter().zip(lens) {
        let (u, v) = (e.u, e.v);
        let w = profile.deciseconds(len);
        if e.forward {
            arcs.push((u, v, w));
        }
        if e.backward {
            arcs.push((v, u, w));
        }
    }
    arcs
}

/// Strongly connected components (Kosaraju, iterative): a component id per node.
pub fn strongly_connected(fwd: &Csr, rev: &Csr) -> Vec<u32> {
    let n = fwd.nodes();
    let mut seen = vec![false; n];
    let mut order = Vec::with_capacity(n);
    let mut stack: Vec<(u32, u32)> = Vec::new();
    for s in 0..n as u32 {
        if seen[s as usize] {
            continue;
        }
        seen[s as usize] = true;
        stack.push((s, fwd.first[s as usize]));
        while let Some(top) = stack.last_mut() {
            let (x, i) = *top;
            if i < fwd.first[x as usize + 1] {
                top.1 += 1;
                let h = fwd.arcs[i as usize][0];
                if !seen[h as usize] {
                    seen[h as usize] = true;
                    stack.push((h, fwd.first[h as usize]));
                }
            } else {
                order.push(x);
                stack.pop();
            }
        }
    }
    let mut comp = vec![u32::MAX; n];
    let mut next = 0u32;
    let mut todo = Vec::new();
    for &s in order.iter().rev() {
        if comp[s as usize] != u32::MAX {
            continue;
        }
        comp[s as usize] = next;
        todo.push(s);
        while let Some(x) = todo.pop() {
            for (h, _) in rev.arcs(x) {
                if comp[h as usize] == u32::MAX {
                    comp[h as usize] = next;
                    todo.push(h);
                }
            }
        }
        next += 1;
    }
    comp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Mode, TravelModel};

    fn walk() -> Profile {
        Profile::new(Mode::Walk, &TravelModel::default())
    }

    fn line(n: usize, lon0: f64) -> GraphBuilder {
        let mut b = GraphBuilder::default();
        for i in 0..n {
            b.coords
                .push(super::super::fixed_of(lon0 + i as f64 * 0.001, 28.0));
        }
        for i in 0..n - 1 {
            b.push_edge(i as u32, i as u32 + 1, true, true, &[]);
        }
        b
    }

    #[test]
    fn small_islands_are_dropped_and_nodes_renumbered() {
        let mut b = line(10, 115.0);
        let island = line(3, 116.0);
        let off = b.coords.len() as u32;
        b.coords.extend(island.coords);
        for e in island.edges {
            b.push_edge(e.u + off, e.v + off, true, true, &[]);
        }
        let g = Graph::build_keeping(b.clone(), walk(), 4);
        assert_eq!(g.nodes(), 10);
        assert_eq!(g.edges(), 9);
        assert_eq!(g.arcs(), 18);
        g.validate().unwrap();
        let all = Graph::build_keeping(b, walk(), 1);
        assert_eq!(all.nodes(), 13);
    }

    #[test]
    fn a_one_way_dead_end_is_not_strongly_connected() {
        // 0 <-> 1 <-> 2 <-> 0 triangle, then 2 -> 3 one-way only.
        let mut b = line(4, 115.0);
        b.edges.clear();
        b.push_edge(0, 1, true, true, &[]);
        b.push_edge(1, 2, true, true, &[]);
        b.push_edge(2, 0, true, true, &[]);
        b.push_edge(2, 3, true, false, &[]);
        let g = Graph::build_keeping(b, walk(), 2);
        assert_eq!(g.nodes(), 3);
        assert_eq!(g.edges(), 3);
    }

    #[test]
    fn weights_follow_the_geometry_and_zero_length_edges_weigh_zero() {
        let a = super::super::fixed_of(115.0, 28.0);
        let c = super::super::fixed_of(115.001, 28.0);
        let mut b = GraphBuilder {
            coords: vec![a, c, c],
            ..Default::default()
        };
        let mid = super::super::fixed_of(115.0005, 28.001);
        b.push_edge(0, 1, true, true, &[mid]);
        b.push_edge(1, 2, true, true, &[]);
        let g = Graph::build_keeping(b, walk(), 1);
        let len = super::super::segment_m(a, mid) + super::super::segment_m(mid, c);
        assert!((g.edge_len[0] - len).abs() < 1e-9);
        let w: Vec<_> = g.fwd.arcs(0).collect();
        assert_eq!(w, vec![(1, walk().deciseconds(len))]);
        assert!(g.fwd.arcs(1).any(|(h, w)| h == 2 && w == 0));
        assert_eq!(g.edge_points(0).count(), 3);
    }
}
