//! A road-like synthetic network for benchmarks: a jittered grid over a bounding box with
//! missing links and one-way streets, sized like a provincial extract.

use super::fixed_of;
use super::graph::GraphBuilder;
use crate::domain::Mode;
use rand::{Rng, SeedableRng};

/// The shape of a synthetic network.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Grid columns (west to east).
    pub cols: u32,
    /// Grid rows (south to north).
    pub rows: u32,
    /// West, south, east, north in degrees.
    pub bbox: [f64; 4],
    /// Share of grid links left out.
    pub missing: f64,
    /// Share of the remaining links that are one-way for e-bikes.
    pub oneway: f64,
    /// Random seed.
    pub seed: u64,
}

impl Spec {
    /// About 1.5 million nodes and 4 million e-bike arcs over Jiangxi's bounding box (a node
    /// every ~400 m, a quarter of the links missing, a tenth of the rest one-way).
    pub fn jiangxi() -> Self {
        Self {
            cols: 1225,
            rows: 1225,
            bbox: [113.57, 24.49, 118.48, 30.08],
            missing: 0.25,
            oneway: 0.10,
            seed: 11,
        }
    }
}

/// Generates the network as `mode` sees it (walkers ignore one-ways).
pub fn generate(spec: &Spec, mode: Mode) -> GraphBuilder {
    let mut rng = rand::rngs::StdRng::seed_from_u64(spec.seed);
    let [w, s, e, n] = spec.bbox;
    let dx = (e - w) / f64::from(spec.cols - 1);
    let dy = (n - s) / f64::from(spec.rows - 1);
    let mut b = GraphBuilder::default();
    for r in 0..spec.rows {
        for c in 0..spec.cols {
            let lon = w + f64::from(c) * dx + rng.gen_range(-0.3..0.3) * dx;
            let lat = s + f64::from(r) * dy + rng.gen_range(-0.3..0.3) * dy;
            b.coords.push(fixed_of(lon, lat));
        }
    }
    let id = |r: u32, c: u32| r * spec.cols + c;
    for r in 0..spec.rows {
        for c in 0..spec.cols {
            for (r2, c2) in [(r, c + 1), (r + 1, c)] {
                if r2 >= spec.rows || c2 >= spec.cols || rng.gen_bool(spec.missing) {
                    continue;
                }
                let (mut f, mut bw) = (true, true);
                if rng.gen_bool(spec.oneway) && mode == Mode::Ebike {
                    if rng.gen_bool(0.5) {
                        bw = false;
                    } else {
                        f = false;
                    }
                }
                b.push_edge(id(r, c), id(r2, c2), f, bw, &[]);
            }
        }
    }
    b
}
