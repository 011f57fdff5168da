//! An independent oracle for road-network times: the graph's arcs copied into `petgraph` and
//! a plain Dijkstra run on them (shared by `tests/network.rs` and `tests/network_http.rs`).
#![allow(dead_code)]

use petgraph::graph::{DiGraph, NodeIndex};
use yizhan::network::graph::{Graph, BACKWARD, FORWARD};
use yizhan::network::labels::{Hit, K};
use yizhan::network::snap::Snap;

/// Deciseconds to reach a point of an edge from its ends, computed here from the raw arrays. A
/// point at an end of its edge is that node (reached from it in no time, either direction).
pub fn oracle_entries(g: &Graph, s: &Snap) -> Vec<(u32, u32)> {
    oracle_ends(g, s, FORWARD, BACKWARD)
}

/// Where a rider at the point enters the graph (the mirror of [`oracle_entries`]).
pub fn oracle_exits(g: &Graph, s: &Snap) -> Vec<(u32, u32)> {
    oracle_ends(g, s, BACKWARD, FORWARD)
}

/// The edge's first node when direction `via_u` is allowed (or the point is on it), its last
/// when `via_v` is, with the time between it and the point.
fn oracle_ends(g: &Graph, s: &Snap, via_u: u8, via_v: u8) -> Vec<(u32, u32)> {
    let e = s.edge as usize;
    let mut v = Vec::new();
    if s.offset_m == 0.0 {
        v.push((g.edge_u[e], 0));
    } else if g.edge_dir[e] & via_u != 0 {
        v.push((g.edge_u[e], g.profile.deciseconds(s.offset_m)));
    }
    if s.offset_m == g.edge_len[e] {
        v.push((g.edge_v[e], 0));
    } else if g.edge_dir[e] & via_v != 0 {
        v.push((
            g.edge_v[e],
            g.profile.deciseconds(g.edge_len[e] - s.offset_m),
        ));
    }
    v
}

/// The graph's arcs in petgraph, plus one node per station reached through its entries.
pub fn petgraph_of(g: &Graph, stations: &[Option<Snap>]) -> DiGraph<(), u32> {
    let mut p = DiGraph::<(), u32>::new();
    for _ in 0..g.nodes() + stations.len() + 1 {
        p.add_node(());
    }
    for x in 0..g.nodes() as u32 {
        for i in g.fwd.first[x as usize]..g.fwd.first[x as usize + 1] {
            let [h, w] = g.fwd.arcs[i as usize];
            p.add_edge(NodeIndex::new(x as usize), NodeIndex::new(h as usize), w);
        }
    }
    for (s, snap) in stations.iter().enumerate() {
        if let Some(snap) = snap {
            for (x, t) in oracle_entries(g, snap) {
                p.add_edge(NodeIndex::new(x as usize), NodeIndex::new(g.nodes() + s), t);
            }
        }
    }
    p
}

/// Times from the rider to every station: Dijkstra from a rider node joined to its exits (and
/// straight to stations on its own edge when the direction allows).
pub fn oracle_from_rider(g: &Graph, stations: &[Option<Snap>], rider: &Snap) -> Vec<Hit> {
    let mut p = petgraph_of(g, stations);
    let r = NodeIndex::new(g.nodes() + stations.len());
    for (x, t) in oracle_exits(g, rider) {
        p.add_edge(r, NodeIndex::new(x as usize), t);
    }
    let dir = g.edge_dir[rider.edge as usize];
    for (s, snap) in stations.iter().enumerate() {
        if let Some(snap) = snap.filter(|p| p.edge == rider.edge) {
            let d = snap.offset_m - rider.offset_m;
            if d == 0.0 || (d > 0.0 && dir & FORWARD != 0) || (d < 0.0 && dir & BACKWARD != 0) {
                p.add_edge(
                    r,
                    NodeIndex::new(g.nodes() + s),
                    g.profile.deciseconds(d.abs()),
                );
            }
        }
    }
    let dist = petgraph::algo::dijkstra(&p, r, None, |e| *e.weight());
    let mut hits: Vec<Hit> = (0..stations.len())
        .filter_map(|s| {
            dist.get(&NodeIndex::new(g.nodes() + s)).map(|&time| Hit {
                time,
                station: s as u32,
            })
        })
        .collect();
    hits.sort();
    hits
}

/// Every node's K nearest stations by brute force: one Dijkstra per station over the reversed
/// petgraph.
pub fn oracle_labels(g: &Graph, stations: &[Option<Snap>]) -> Vec<Vec<Hit>> {
    let mut p = petgraph_of(g, stations);
    p.reverse();
    let mut all: Vec<Vec<Hit>> = vec![Vec::new(); g.nodes()];
    for (s, _) in stations.iter().enumerate().filter(|(_, p)| p.is_some()) {
        let d = petgraph::algo::dijkstra(&p, NodeIndex::new(g.nodes() + s), None, |e| *e.weight());
        for (x, list) in all.iter_mut().enumerate() {
            if let Some(&time) = d.get(&NodeIndex::new(x)) {
                list.push(Hit {
                    time,
                    station: s as u32,
                });
            }
        }
    }
    for l in &mut all {
        l.sort();
        l.truncate(K);
    }
    all
}
