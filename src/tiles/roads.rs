//! Vector tiles of the loaded road network ("streets on the map", issue 11): the walking
//! graph's edges (every way a pedestrian or a rider may use) as lines, so a self-hosted
//! deployment draws streets under its stations with nothing fetched from another host.

use super::grid::{TileId, World, EXTENT};
use crate::network::lonlat_of;
use crate::network::roads::ModeNetwork;
use geozero::mvt::{tile, Message, Tile};
use geozero::ToMvt;

/// The one layer of a road tile.
pub const ROADS_LAYER: &str = "roads";

/// Lowest zoom with roads: at zoom 12 a tile is ~9 km a side in Jiangxi, a county town's
/// streets; coarser tiles would carry a whole city's network to draw a grey smear.
pub const ROADS_MIN_ZOOM: u8 = 12;

/// Highest zoom rendered: a zoom-16 tile (~600 m) holds every vertex at 15 cm; clients
/// overzoom it.
pub const ROADS_MAX_ZOOM: u8 = 16;

/// Tile units beyond the edge kept for lines leaving the tile (so strokes join across tiles).
const BUFFER: i32 = 64;

/// The road layer of a tile of `net`'s edges, or `None` when it has none (or the zoom is out
/// of [`ROADS_MIN_ZOOM`]`..=`[`ROADS_MAX_ZOOM`]). An edge crossing the tile is sent whole,
/// its vertices in tile units (consecutive repeats dropped), in edge order.
pub fn roads_tile(net: &ModeNetwork, t: TileId) -> Option<Vec<u8>> {
    if !(ROADS_MIN_ZOOM..=ROADS_MAX_ZOOM).contains(&t.z) {
        return None;
    }
    let g = &net.graph;
    let mut edges = Vec::new();
    net.snap.edges_in_box(t.bounds(), |e| edges.push(e));
    // The R-tree's order depends on how it was built; the tile's bytes (and ETag) must not.
    edges.sort_unstable();
    let ext = EXTENT as i32;
    let features: Vec<tile::Feature> = edges
        .into_iter()
        .filter_map(|e| {
            let mut line: Vec<geo_types::Coord<f64>> = Vec::new();
            let (mut lo, mut hi) = ([i32::MAX; 2], [i32::MIN; 2]);
            for p in g.edge_points(e) {
                let (x, y) = t.to_extent(World::of(lonlat_of(p)));
                lo = [lo[0].min(x), lo[1].min(y)];
                hi = [hi[0].max(x), hi[1].max(y)];
                let c = geo_types::coord! { x: f64::from(x), y: f64::from(y) };
                if line.last() != Some(&c) {
                    line.push(c);
                }
            }
            let outside =
                hi[0] < -BUFFER || hi[1] < -BUFFER || lo[0] > ext + BUFFER || lo[1] > ext + BUFFER;
            if line.len() < 2 || outside {
                return None;
            }
            geo_types::Geometry::LineString(geo_types::LineString(line))
                .to_mvt_unscaled()
                .ok()
        })
        .collect();
    if features.is_empty() {
        return None;
    }
    let layer = tile::Layer {
        version: 2,
        name: ROADS_LAYER.to_string(),
        features,
        keys: Vec::new(),
        values: Vec::new(),
        extent: Some(EXTENT),
    };
    Some(
        Tile {
            layers: vec![layer],
        }
        .encode_to_vec(),
    )
}
