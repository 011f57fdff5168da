//! Snapping points to the nearest routable edge, and the times along the partial edge.
//!
//! The R-tree (a static packed one, [`super::packed`]) holds one envelope per edge (not per
//! segment: a provincial graph has millions of segments, and ~21 bytes per edge instead of
//! ~56 per segment keeps the index a fraction of the graph). Candidates are the edges whose
//! envelope meets a box of [`MAX_SNAP_M`] around the point; each is measured exactly along its
//! segments.

use super::graph::{Graph, BACKWARD, FORWARD};
use super::packed::PackedRTree;
use super::{lonlat_of, MAX_SNAP_M};
use crate::domain::LonLat;

/// Envelopes are stored in f32 degrees (about 1 m resolution at Jiangxi's longitudes), padded
/// outward by this much so that rounding never excludes an edge.
const PAD_DEG: f32 = 2e-5;

/// Where a point meets the network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snap {
    /// The edge snapped to.
    pub edge: u32,
    /// Metres along the edge's geometry from its first node to the snapped point.
    pub offset_m: f64,
    /// Geodesic metres from the point to the snapped point.
    pub distance_m: f64,
}

impl Snap {
    /// Where a traveller at the snapped point can enter the graph: `(node, deciseconds)` to
    /// the edge's first node (if the edge may be travelled backward) and to its last node (if
    /// forward). A point at an end of the edge (the nearest point of a road is often the
    /// intersection itself) is at that node whatever the edge's direction: it leaves from
    /// there at no cost, so which of the roads meeting there it was snapped to does not matter.
    pub fn exits(&self, g: &Graph) -> [Option<(u32, u32)>; 2] {
        self.ends(g, BACKWARD, FORWARD)
    }

    /// How the graph reaches a destination at the snapped point: `(node, deciseconds)` from
    /// the edge's first node (if forward travel is allowed) and from its last node (if
    /// backward); at an end of the edge, from that node at no cost whatever the direction.
    pub fn entries(&self, g: &Graph) -> [Option<(u32, u32)>; 2] {
        self.ends(g, FORWARD, BACKWARD)
    }

    /// The edge's two ends with their times: the first node when direction `to_u` is allowed
    /// (or the point is on it), the last when `to_v` is.
    fn ends(&self, g: &Graph, to_u: u8, to_v: u8) -> [Option<(u32, u32)>; 2] {
        let e = self.edge as usize;
        let dir = g.edge_dir[e];
        let p = g.profile;
        let len = g.edge_len[e];
        [
            if self.offset_m <= 0.0 {
                Some((g.edge_u[e], 0))
            } else {
                (dir & to_u != 0).then(|| (g.edge_u[e], p.deciseconds(self.offset_m)))
            },
            if self.offset_m >= len {
                Some((g.edge_v[e], 0))
            } else {
                (dir & to_v != 0).then(|| (g.edge_v[e], p.deciseconds(len - self.offset_m)))
            },
        ]
    }

    /// Deciseconds from this point to `to` along their common edge without leaving it, if they
    /// share one and the edge may be travelled that way.
    pub fn along(&self, g: &Graph, to: &Snap) -> Option<u32> {
        if self.edge != to.edge {
            return None;
        }
        let dir = g.edge_dir[self.edge as usize];
        let d = to.offset_m - self.offset_m;
        if d == 0.0 || (d > 0.0 && dir & FORWARD != 0) || (d < 0.0 && dir & BACKWARD != 0) {
            Some(g.profile.deciseconds(d.abs()))
        } else {
            None
        }
    }
}

/// The spatial index of a graph's edges.
pub struct SnapIndex {
    tree: PackedRTree,
}

impl SnapIndex {
    /// Indexes every edge of `g`.
    pub fn new(g: &Graph) -> Self {
        let boxes: Vec<[f32; 4]> = (0..g.edges() as u32)
            .map(|e| {
                let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
                for p in g.edge_points(e) {
                    let q = [
                        (f64::from(p[0]) * 1e-7) as f32,
                        (f64::from(p[1]) * 1e-7) as f32,
                    ];
                    for k in 0..2 {
                        lo[k] = lo[k].min(q[k]);
                        hi[k] = hi[k].max(q[k]);
                    }
                }
                [
                    lo[0] - PAD_DEG,
                    lo[1] - PAD_DEG,
                    hi[0] + PAD_DEG,
                    hi[1] + PAD_DEG,
                ]
            })
            .collect();
        Self {
            tree: PackedRTree::new(&boxes),
        }
    }

    /// Calls `f` with every edge whose envelope meets the box `[west, south, east, north]`
    /// (degrees; a superset of the edges crossing it, e.g. for drawing a map tile).
    pub fn edges_in_box(&self, b: [f64; 4], f: impl FnMut(u32)) {
        let lo = [b[0] as f32 - PAD_DEG, b[1] as f32 - PAD_DEG];
        let hi = [b[2] as f32 + PAD_DEG, b[3] as f32 + PAD_DEG];
        self.tree.search(&[lo[0], lo[1], hi[0], hi[1]], f);
    }

    /// Bytes held by the index.
    pub fn heap_bytes(&self) -> usize {
        self.tree.heap_bytes()
    }

    /// The nearest point of a routable edge within [`MAX_SNAP_M`] (geodesic metres), or `None`
    /// when no road is that close (callers then fall back to the straight line).
    pub fn snap(&self, g: &Graph, p: &LonLat) -> Option<Snap> {
        let (m_lat, m_lon) = metres_per_degree(p.lat);
        // A little wider than the radius: the planar frame is an approximation.
        let dlat = (MAX_SNAP_M * 1.01 / m_lat) as f32;
        let dlon = (MAX_SNAP_M * 1.01 / m_lon.max(1.0)) as f32;
        let (x, y) = (p.lon as f32, p.lat as f32);
        let query = [x - dlon, y - dlat, x + dlon, y + dlat];
        let mut best: Option<(f64, u32, usize, f64)> = None;
        self.tree.search(&query, |e| {
            let mut prev: Option<[f64; 2]> = None;
            for (i, q) in g.edge_points(e).enumerate() {
                let q = [
                    (f64::from(q[0]) * 1e-7 - p.lon) * m_lon,
                    (f64::from(q[1]) * 1e-7 - p.lat) * m_lat,
                ];
                if let Some(a) = prev {
                    let (d2, t) = point_segment(a, q);
                    // Ties (a point at a node several edges share) go to the lowest edge id,
                    // whatever order the index reports the edges in.
                    if best.is_none_or(|b| d2 < b.0 || (d2 == b.0 && e < b.1)) {
                        best = Some((d2, e, i - 1, t));
                    }
                }
                prev = Some(q);
            }
        });
        let (_, e, seg, t) = best?;
        let pts: Vec<[i32; 2]> = g.edge_points(e).collect();
        let (a, b) = (lonlat_of(pts[seg]), lonlat_of(pts[seg + 1]));
        let on = LonLat {
            lon: a.lon + t * (b.lon - a.lon),
            lat: a.lat + t * (b.lat - a.lat),
        };
        let distance_m = geodesic(p, &on);
        if distance_m > MAX_SNAP_M {
            return None;
        }
        let before: f64 = pts[..=seg]
            .windows(2)
            .map(|w| super::segment_m(w[0], w[1]))
            .sum();
        // At the last node exactly when the projection ends there (sums of segment lengths
        // need not add up to the edge's length to the last bit).
        let offset_m = if seg + 2 == pts.len() && t >= 1.0 {
            g.edge_len[e as usize]
        } else {
            (before + geodesic(&a, &on)).min(g.edge_len[e as usize])
        };
        Some(Snap {
            edge: e,
            offset_m,
            distance_m,
        })
    }
}

fn geodesic(a: &LonLat, b: &LonLat) -> f64 {
    crate::index::distance_m(a, &a.ecef(), b, &b.ecef())
}

/// Metres per degree of latitude and of longitude at `lat` (WGS-84 series).
fn metres_per_degree(lat: f64) -> (f64, f64) {
    let r = lat.to_radians();
    (
        111_132.954 - 559.822 * (2.0 * r).cos() + 1.175 * (4.0 * r).cos(),
        111_412.84 * r.cos() - 93.5 * (3.0 * r).cos(),
    )
}

/// Squared distance from the origin to segment `a`–`b`, and the fraction along it.
fn point_segment(a: [f64; 2], b: [f64; 2]) -> (f64, f64) {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let l2 = dx * dx + dy * dy;
    let t = if l2 == 0.0 {
        0.0
    } else {
        (-(a[0] * dx + a[1] * dy) / l2).clamp(0.0, 1.0)
    };
    let (x, y) = (a[0] + t * dx, a[1] + t * dy);
    (x * x + y * y, t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Mode, TravelModel};
    use crate::network::graph::GraphBuilder;
    use crate::network::{fixed_of, Profile};

    fn two_roads() -> Graph {
        let mut b = GraphBuilder {
            coords: vec![
                fixed_of(115.0, 28.0),
                fixed_of(115.01, 28.0),
                fixed_of(115.0, 28.01),
            ],
            ..Default::default()
        };
        b.push_edge(0, 1, true, false, &[]);
        b.push_edge(0, 2, true, true, &[fixed_of(115.0, 28.005)]);
        Graph::build_keeping(b, Profile::new(Mode::Ebike, &TravelModel::default()), 1)
    }

    #[test]
    fn a_point_snaps_to_the_nearest_road_with_its_offset() {
        let g = two_roads();
        let idx = SnapIndex::new(&g);
        // 100 m north of the east-west road, 500 m along it.
        let p = LonLat::new(115.005, 28.0 + 100.0 / 110_800.0).unwrap();
        let s = idx.snap(&g, &p).unwrap();
        assert_eq!(s.edge, 0);
        assert!((s.distance_m - 100.0).abs() < 1.0, "{s:?}");
        assert!((s.offset_m - g.edge_len[0] / 2.0).abs() < 1.0, "{s:?}");
        // One-way east: the rider can only leave by the last node.
        let ex = s.exits(&g);
        assert!(ex[0].is_none());
        assert_eq!(ex[1].unwrap().0, 1);
    }

    #[test]
    fn a_point_farther_than_300_m_does_not_snap() {
        let g = two_roads();
        let idx = SnapIndex::new(&g);
        let near = LonLat::new(115.005, 28.0 - 290.0 / 110_800.0).unwrap();
        let far = LonLat::new(115.005, 28.0 - 310.0 / 110_800.0).unwrap();
        assert!(idx.snap(&g, &near).is_some());
        assert!(idx.snap(&g, &far).is_none());
    }

    #[test]
    fn along_respects_one_way() {
        let g = two_roads();
        let a = Snap {
            edge: 0,
            offset_m: 100.0,
            distance_m: 0.0,
        };
        let b = Snap {
            edge: 0,
            offset_m: 300.0,
            distance_m: 0.0,
        };
        assert_eq!(a.along(&g, &b), Some(g.profile.deciseconds(200.0)));
        assert_eq!(b.along(&g, &a), None);
    }
}
