//! Road networks from OpenStreetMap: walking and e-bike graphs in compact arrays, snapping of
//! points to roads, and labels holding every node's three nearest stations by travel time.
//!
//! The floors: `osm` reads an extract into a [`graph::GraphBuilder`]; `graph` turns it into
//! CSR arrays; `cache` stores the built graphs beside the extract; `snap` finds the road a
//! point lies on; `labels` answers "which stations are nearest by time". See `docs/network.md`.

/// Persisting built graphs beside the extract, keyed by its checksum.
pub mod cache;
/// CSR graphs: nodes at intersections, edges with their geometry, arcs with times.
pub mod graph;
/// The k nearest stations of every node, and exact nearest-by-time queries.
pub mod labels;
/// Reading an `.osm.pbf` extract under the walk and e-bike tag rules.
pub mod osm;
/// A static packed R-tree of the edges' envelopes.
pub mod packed;
/// A monotone priority queue for the labelling's millions of pushes.
pub mod radix;
/// The loaded networks a service shares: per mode, the graph and its snapping index.
pub mod roads;
/// Snapping points to the nearest routable edge.
pub mod snap;
/// The index's stations labelled on the road networks, kept in step, and rider queries.
pub mod stations;
/// A road-like synthetic network the size of Jiangxi's, for benchmarks and tests.
pub mod synthetic;

use crate::domain::{Mode, TravelModel};

/// Bumped whenever the tag rules, the graph construction or the cache layout change, so that
/// every cached graph built under other rules is rebuilt.
pub const PROFILE_VERSION: u32 = 1;

/// The farthest a point may lie from a road and still be routed on it (geodesic metres).
pub const MAX_SNAP_M: f64 = 300.0;

/// Why a network could not be read or built.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The extract could not be read or decoded.
    #[error("cannot read OSM extract {path}: {message}")]
    Osm {
        /// The extract's path.
        path: String,
        /// What the reader said.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A cache file is not one this build wrote for this extract (stale, corrupt, foreign).
    #[error("graph cache rejected: {0}")]
    Cache(String),
}

/// A routing profile: which ways are used and at what speed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    /// Walk or e-bike.
    pub mode: Mode,
    /// Speed in km/h, from the service's [`TravelModel`].
    pub speed_kmh: f64,
}

impl Profile {
    /// The profile of `mode` under `model`'s speeds.
    pub fn new(mode: Mode, model: &TravelModel) -> Self {
        let speed_kmh = match mode {
            Mode::Walk => model.walk_kmh,
            Mode::Ebike => model.ebike_kmh,
        };
        Self { mode, speed_kmh }
    }

    /// Travel time over `len_m` metres in whole deciseconds, rounded up so that a network time
    /// is never shorter than the road; zero only for a zero length.
    pub fn deciseconds(&self, len_m: f64) -> u32 {
        let ds = (len_m.max(0.0) * 36.0 / self.speed_kmh).ceil();
        if ds >= u32::MAX as f64 {
            u32::MAX
        } else {
            ds as u32
        }
    }
}

/// A fixed-point coordinate (1e-7 degree, OpenStreetMap's own precision) as a position.
pub fn lonlat_of(p: [i32; 2]) -> crate::domain::LonLat {
    crate::domain::LonLat {
        lon: f64::from(p[0]) * 1e-7,
        lat: f64::from(p[1]) * 1e-7,
    }
}

/// The fixed-point coordinate of a position (rounded to 1e-7 degree).
pub fn fixed_of(lon: f64, lat: f64) -> [i32; 2] {
    [(lon * 1e7).round() as i32, (lat * 1e7).round() as i32]
}

/// Geodesic length in metres between two fixed-point coordinates, computed as the nearest
/// query's straight-line model does (`index::distance_m`: the ECEF chord refined to the WGS-84
/// geodesic), so network and straight-line minutes measure metres alike.
pub fn segment_m(a: [i32; 2], b: [i32; 2]) -> f64 {
    if a == b {
        return 0.0;
    }
    let (pa, pb) = (lonlat_of(a), lonlat_of(b));
    crate::index::distance_m(&pa, &pa.ecef(), &pb, &pb.ecef())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deciseconds_round_up_and_zero_only_for_zero() {
        let walk = Profile::new(Mode::Walk, &TravelModel::default());
        assert_eq!(walk.deciseconds(0.0), 0);
        assert_eq!(walk.deciseconds(1e-9), 1);
        // 4.5 km/h = 1.25 m/s: 125 m is exactly 100 s.
        assert_eq!(walk.deciseconds(125.0), 1000);
        assert_eq!(walk.deciseconds(125.01), 1001);
    }

    #[test]
    fn segment_length_matches_the_geodesic() {
        let a = fixed_of(115.89, 28.68);
        let b = fixed_of(115.90, 28.69);
        let g = lonlat_of(a).geodesic_distance(&lonlat_of(b));
        assert!((segment_m(a, b) - g).abs() < 0.01);
    }
}
