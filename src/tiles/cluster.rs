//! Server-side clustering for the zooms below the points zoom: a grid of cells nested in the
//! tiles, aggregated once per index snapshot.
//!
//! Each tile is cut into [`CELLS_PER_SIDE`]² cells; the stations of a cell form one cluster,
//! drawn at their mean position. Cells nest in tiles (and a zoom's cells in the next zoom's), so
//! a cluster never straddles a tile edge and never appears in two tiles: its centre lies in its
//! cell, hence in its tile. The finest level is built from the stations, every coarser level
//! by merging four cells into one, so a whole level costs one pass over the level below.

use super::grid::{TileId, World};
use crate::domain::amenity::Amenity;
use crate::domain::{AmenitySet, Station};
use std::collections::HashMap;

/// log2 of the cells per tile side: 4 × 4 cells of 64 px on a 256 px tile, so bubbles of at
/// least 44 px (a finger) rarely overlap.
pub const CELL_SHIFT: u8 = 2;

/// Cells per tile side.
pub const CELLS_PER_SIDE: u32 = 1 << CELL_SHIFT;

/// The amenities each cluster counts (what a rider filters on most); the others are only in
/// the cluster's `amenities` list (offered by at least one station).
pub const COUNTED: [Amenity; 4] = [
    Amenity::Water,
    Amenity::Toilet,
    Amenity::PhoneCharging,
    Amenity::EbikeCharging,
];

/// The stations of one cell at one zoom.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// Cell column on the zoom's grid of `2^(z + CELL_SHIFT)` cells.
    pub cx: u32,
    /// Cell row.
    pub cy: u32,
    /// How many stations.
    pub count: u32,
    sum_x: f64,
    sum_y: f64,
    /// Amenity bits any of the stations has.
    pub any_amenities: u32,
    /// Stations having each of [`COUNTED`].
    pub counted: [u32; COUNTED.len()],
    /// Whether every station is demo data.
    pub all_demo: bool,
    /// The lowest zoom at which these stations no longer share one cluster (or are drawn as
    /// points): where a tap on the bubble should zoom to.
    pub expand_zoom: u8,
    /// How many cells of the next zoom this one merged (while building).
    children: u8,
}

impl Cluster {
    /// The mean position of the stations.
    pub fn centre(&self) -> World {
        let n = f64::from(self.count.max(1));
        World {
            x: self.sum_x / n,
            y: self.sum_y / n,
        }
    }

    fn of_station(s: &Station, w: World, (cx, cy): (u32, u32), points_zoom: u8) -> Self {
        let bits = s.amenities.bits();
        let mut counted = [0; COUNTED.len()];
        for (c, a) in counted.iter_mut().zip(COUNTED) {
            *c = u32::from(bits & AmenitySet::from_iter([a]).bits() != 0);
        }
        Self {
            cx,
            cy,
            count: 1,
            sum_x: w.x,
            sum_y: w.y,
            any_amenities: bits,
            counted,
            all_demo: s.demo,
            expand_zoom: points_zoom,
            children: 1,
        }
    }

    fn absorb(&mut self, other: &Cluster) {
        self.count += other.count;
        self.sum_x += other.sum_x;
        self.sum_y += other.sum_y;
        self.any_amenities |= other.any_amenities;
        for (a, b) in self.counted.iter_mut().zip(other.counted) {
            *a += b;
        }
        self.all_demo &= other.all_demo;
    }
}

/// One zoom's clusters, sorted by tile then cell, and where each tile's run starts.
#[derive(Debug, Default)]
struct Level {
    clusters: Vec<Cluster>,
    tiles: HashMap<(u32, u32), (u32, u32)>,
}

impl Level {
    fn from_cells(cells: HashMap<(u32, u32), Cluster>) -> Self {
        let mut clusters: Vec<Cluster> = cells.into_values().collect();
        let tile = |c: &Cluster| (c.cx >> CELL_SHIFT, c.cy >> CELL_SHIFT);
        clusters.sort_unstable_by_key(|c| (tile(c), c.cy, c.cx));
        let mut tiles = HashMap::new();
        let mut start = 0;
        for i in 1..=clusters.len() {
            if i == clusters.len() || tile(&clusters[i]) != tile(&clusters[start]) {
                tiles.insert(tile(&clusters[start]), (start as u32, i as u32));
                start = i;
            }
        }
        Self { clusters, tiles }
    }
}

/// The clusters of every zoom below the points zoom, for one snapshot of the index.
#[derive(Debug)]
pub struct Clusters {
    /// `levels[z]` for `z < points_zoom`.
    levels: Vec<Level>,
    /// The index generation these were built from.
    pub generation: u64,
    /// West, south, east, north of all stations (degrees), if any.
    pub bounds: Option<[f64; 4]>,
}

impl Clusters {
    /// Clusters every station handed to `each` (called once with a visitor) for the zooms
    /// `0..points_zoom`.
    pub fn build(
        generation: u64,
        points_zoom: u8,
        each: impl FnOnce(&mut dyn FnMut(&Station)),
    ) -> Self {
        let mut bounds: Option<[f64; 4]> = None;
        let mut levels: Vec<Level> = Vec::new();
        if points_zoom == 0 {
            each(&mut |s| extend(&mut bounds, s));
            return Self {
                levels,
                generation,
                bounds,
            };
        }
        let finest = points_zoom - 1;
        let mut cells: HashMap<(u32, u32), Cluster> = HashMap::new();
        each(&mut |s| {
            extend(&mut bounds, s);
            let w = World::of(s.location);
            let key = w.cell(finest + CELL_SHIFT);
            let one = Cluster::of_station(s, w, key, points_zoom);
            match cells.entry(key) {
                std::collections::hash_map::Entry::Occupied(mut e) => {
                    e.get_mut().absorb(&one);
                    // Stations sharing a cell at the finest level split only into points.
                }
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(one);
                }
            }
        });
        let mut by_zoom: Vec<HashMap<(u32, u32), Cluster>> = vec![cells];
        for z in (0..finest).rev() {
            let below = by_zoom.last().map_or(0, HashMap::len);
            let mut up: HashMap<(u32, u32), Cluster> = HashMap::with_capacity(below / 2);
            for child in by_zoom.last().into_iter().flat_map(HashMap::values) {
                let key = (child.cx >> 1, child.cy >> 1);
                match up.entry(key) {
                    std::collections::hash_map::Entry::Occupied(mut e) => {
                        let parent = e.get_mut();
                        parent.absorb(child);
                        parent.children += 1;
                        // Two or more children: the next zoom splits it.
                        parent.expand_zoom = z + 1;
                    }
                    std::collections::hash_map::Entry::Vacant(e) => {
                        let mut parent = child.clone();
                        parent.cx = key.0;
                        parent.cy = key.1;
                        parent.children = 1;
                        e.insert(parent);
                    }
                }
            }
            by_zoom.push(up);
        }
        by_zoom.reverse();
        levels.extend(by_zoom.into_iter().map(Level::from_cells));
        Self {
            levels,
            generation,
            bounds,
        }
    }

    /// The clusters of a tile below the points zoom (empty for other tiles).
    pub fn in_tile(&self, t: TileId) -> &[Cluster] {
        let Some(level) = self.levels.get(usize::from(t.z)) else {
            return &[];
        };
        match level.tiles.get(&(t.x, t.y)) {
            Some(&(a, b)) => &level.clusters[a as usize..b as usize],
            None => &[],
        }
    }
}

fn extend(bounds: &mut Option<[f64; 4]>, s: &Station) {
    let (lon, lat) = (s.location.lon, s.location.lat);
    let b = bounds.get_or_insert([lon, lat, lon, lat]);
    b[0] = b[0].min(lon);
    b[1] = b[1].min(lat);
    b[2] = b[2].max(lon);
    b[3] = b[3].max(lat);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::LonLat;
    use proptest::prelude::*;

    fn station(id: i64, lon: f64, lat: f64, bits: u32, demo: bool) -> Station {
        let now = chrono::Utc::now();
        Station {
            id,
            code: format!("T-{id}"),
            name: format!("t{id}"),
            address: String::new(),
            county: "360102".into(),
            location: LonLat::new(lon, lat).unwrap(),
            amenities: AmenitySet::from_bits(bits),
            opening_hours: "24/7".parse().unwrap(),
            temporary_closure: None,
            phone: None,
            photo_url: None,
            notes: None,
            demo,
            verified_at: None,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    fn build(stations: &[Station], points_zoom: u8) -> Clusters {
        Clusters::build(7, points_zoom, |f| stations.iter().for_each(f))
    }

    #[test]
    fn two_nearby_stations_merge_and_split_where_expand_zoom_says() {
        // About 30 m apart in Nanchang.
        let a = station(1, 115.8900, 28.6800, 0b1, true);
        let b = station(2, 115.8903, 28.6801, 0b10, false);
        let c = build(&[a.clone(), b.clone()], 14);
        let wa = World::of(a.location);
        let t = |z: u8| {
            let (x, y) = wa.cell(z);
            TileId::new(z, x, y).unwrap()
        };
        let top = &c.in_tile(t(0))[0];
        assert_eq!(top.count, 2);
        assert!(!top.all_demo);
        assert_eq!(top.any_amenities, 0b11);
        assert_eq!(top.counted[0], 1, "one has water");
        let z = top.expand_zoom;
        assert!(z > 0 && z <= 14, "{z}");
        if z < 14 {
            assert_eq!(c.in_tile(t(z)).iter().map(|c| c.count).sum::<u32>(), 2);
            assert!(c.in_tile(t(z)).iter().all(|c| c.count == 1) || c.in_tile(t(z)).len() == 2);
        }
        assert_eq!(c.in_tile(t(z - 1)).len(), 1, "still one cluster just below");
        assert_eq!(c.bounds.unwrap()[0], 115.89);
    }

    #[test]
    fn no_stations_no_clusters() {
        let c = build(&[], 14);
        assert!(c.in_tile(TileId::new(0, 0, 0).unwrap()).is_empty());
        assert!(c.bounds.is_none());
    }

    proptest! {
        /// Against brute force: at every zoom, the clusters of a tile count exactly the stations
        /// whose position falls in that tile, each cluster's centre lies in its tile, and the
        /// counted amenities add up.
        #[test]
        fn clusters_partition_the_stations_of_each_tile(
            pts in proptest::collection::vec((113.5f64..118.5, 24.5f64..30.1, 0u32..(1 << 17), any::<bool>()), 1..200),
            points_zoom in 1u8..15,
        ) {
            let stations: Vec<Station> = pts.iter().enumerate()
                .map(|(i, &(lon, lat, bits, demo))| station(i as i64, lon, lat, bits, demo))
                .collect();
            let c = build(&stations, points_zoom);
            for z in 0..points_zoom {
                let mut want: HashMap<(u32, u32), Vec<&Station>> = HashMap::new();
                for s in &stations {
                    want.entry(World::of(s.location).cell(z)).or_default().push(s);
                }
                let mut seen = 0;
                for (&(x, y), members) in &want {
                    let t = TileId::new(z, x, y).unwrap();
                    let got = c.in_tile(t);
                    prop_assert!(got.len() as u32 <= CELLS_PER_SIDE * CELLS_PER_SIDE);
                    prop_assert_eq!(got.iter().map(|c| c.count).sum::<u32>() as usize, members.len());
                    for cl in got {
                        prop_assert!(t.contains(cl.centre()), "centre outside its tile");
                        prop_assert!(cl.expand_zoom > z && cl.expand_zoom <= points_zoom);
                    }
                    let water = members.iter().filter(|s| s.amenities.bits() & 1 != 0).count();
                    prop_assert_eq!(got.iter().map(|c| c.counted[0]).sum::<u32>() as usize, water);
                    let all_demo = members.iter().all(|s| s.demo);
                    prop_assert_eq!(got.iter().all(|c| c.all_demo), all_demo);
                    seen += got.len();
                }
                // Nothing outside the tiles that hold stations.
                prop_assert_eq!(c.levels[z as usize].clusters.len(), seen);
            }
        }
    }
}
