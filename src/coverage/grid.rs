//! The H3 grid a region is measured on: every cell whose centre lies in the region, with its
//! centre, area and county, laid out in small lon/lat bins so "cells near a point" is a few
//! contiguous ranges.

use crate::domain::{Adcode, BBox, LonLat, Region};
use h3o::geom::{ContainmentMode, TilerBuilder};
use h3o::{CellIndex, LatLng, Resolution};

/// Marks a cell of a bbox region outside every known county.
pub const NO_COUNTY: u16 = u16::MAX;

/// Side of a bin in metres (about): a walk's 15-minute reach spans a few bins.
const BIN_M: f64 = 1_000.0;

/// Metres per degree of latitude, at least (the meridian's radius of curvature is smallest at
/// the equator): converting metres to degrees with it never undershoots.
const MIN_M_PER_DEG_LAT: f64 = 110_574.0;

/// Metres per degree of longitude at the equator, at least (N ≥ a on WGS-84).
const MIN_M_PER_DEG_LON_EQUATOR: f64 = 111_319.0;

/// A county the grid reports on.
#[derive(Debug, Clone)]
pub struct County {
    /// Its code.
    pub adcode: Adcode,
    /// Its name.
    pub name: String,
    /// Its outline (for counting stations inside it).
    pub outline: geo::MultiPolygon<f64>,
}

/// Every cell of a region at one resolution.
#[derive(Debug)]
pub struct Grid {
    /// Unique among the grids this process made (keys caches derived from a grid, such as
    /// the cell centres snapped to roads).
    pub id: u64,
    /// The resolution.
    pub res: Resolution,
    /// The cells, in bin order.
    pub cells: Vec<CellIndex>,
    /// Cell centres, WGS-84.
    pub centres: Vec<LonLat>,
    /// Cell centres, ECEF metres (for chords).
    pub ecef: Vec<[f64; 3]>,
    /// Cell areas, km².
    pub area_km2: Vec<f32>,
    /// Index into `counties` of each cell, or [`NO_COUNTY`].
    pub county: Vec<u16>,
    /// The counties reported on, by code.
    pub counties: Vec<County>,
    /// `(cell, position)` sorted by cell: lookups by cell index.
    by_cell: Vec<(u64, u32)>,
    bins: Bins,
}

/// Lon/lat bins of about [`BIN_M`]; cells are sorted by bin, `start[b]..start[b+1]` is bin b.
#[derive(Debug)]
struct Bins {
    lon0: f64,
    lat0: f64,
    step_lon: f64,
    step_lat: f64,
    nx: usize,
    ny: usize,
    start: Vec<u32>,
    /// The largest |latitude| of any cell (for converting metres to degrees of longitude).
    max_abs_lat: f64,
}

impl Bins {
    fn bin_xy(&self, p: &LonLat) -> (usize, usize) {
        let x = ((p.lon - self.lon0) / self.step_lon).floor().max(0.0) as usize;
        let y = ((p.lat - self.lat0) / self.step_lat).floor().max(0.0) as usize;
        (x.min(self.nx - 1), y.min(self.ny - 1))
    }
}

/// Why a grid could not be made.
#[derive(Debug, thiserror::Error)]
pub enum GridError {
    /// An outline h3o refuses (self-intersecting rings and the like).
    #[error("the outline of {0} cannot be tiled: {1}")]
    Outline(String, String),
    /// More cells than a request may ask for.
    #[error("the region has about {cells} cells at resolution {res}, more than the {max} allowed: choose a coarser resolution or a smaller region")]
    TooLarge {
        /// Estimated cells.
        cells: usize,
        /// Resolution asked for.
        res: u8,
        /// The limit.
        max: usize,
    },
}

/// Most cells one grid may hold (all of Jiangxi at resolution 9 is ~1.8 million, ~125 MB).
pub const MAX_CELLS: usize = 2_500_000;

/// The cells whose centre lies inside `outline`.
fn tile(
    outline: &geo::MultiPolygon<f64>,
    res: Resolution,
    what: &str,
) -> Result<Vec<CellIndex>, GridError> {
    let mut tiler = TilerBuilder::new(res)
        .containment_mode(ContainmentMode::ContainsCentroid)
        .build();
    for polygon in &outline.0 {
        tiler
            .add(polygon.clone())
            .map_err(|e| GridError::Outline(what.to_string(), e.to_string()))?;
    }
    let hint = tiler.coverage_size_hint();
    if hint > MAX_CELLS * 2 {
        return Err(GridError::TooLarge {
            cells: hint / 2,
            res: u8::from(res),
            max: MAX_CELLS,
        });
    }
    Ok(tiler.into_coverage().collect())
}

/// `f` of every item, on every core, in order.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    par_chunks(items, |part| part.iter().map(&f).collect())
}

/// `f` of consecutive chunks of `items` (one per core), concatenated in order.
fn par_chunks<T: Sync, R: Send>(items: &[T], f: impl Fn(&[T]) -> Vec<R> + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .max(1);
    if items.len() < 2 || threads < 2 {
        return f(items);
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let parts: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                let f = &f;
                scope.spawn(move || f(part))
            })
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for p in parts {
            out.extend(p.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
        out
    })
}

/// Levels between a cell and the ancestor whose area stands for it (see [`areas`]).
const AREA_ANCESTOR_LEVELS: u8 = 4;

/// Cell areas, km². An exact H3 area costs about a microsecond (spherical triangles), so each
/// cell takes the exact area of the first cell met under the same ancestor four levels up
/// (at resolution 9, an ancestor of about 250 km²): H3's area distortion changes by well
/// under 0.5 % across such an ancestor away from the twelve pentagons.
fn areas(cells: &[CellIndex], res: Resolution) -> Vec<f32> {
    let up = Resolution::try_from(u8::from(res).saturating_sub(AREA_ANCESTOR_LEVELS))
        .unwrap_or(Resolution::Zero);
    let mut known: std::collections::HashMap<u64, f32> = std::collections::HashMap::new();
    cells
        .iter()
        .map(|&c| {
            if c.is_pentagon() {
                return c.area_km2() as f32;
            }
            let key = c.parent(up).map_or(u64::from(c), u64::from);
            *known.entry(key).or_insert_with(|| c.area_km2() as f32)
        })
        .collect()
}

fn bbox_polygon(b: &BBox) -> geo::MultiPolygon<f64> {
    geo::MultiPolygon(vec![geo::Rect::new(
        geo::coord! { x: b.min.lon, y: b.min.lat },
        geo::coord! { x: b.max.lon, y: b.max.lat },
    )
    .to_polygon()])
}

impl Grid {
    /// The grid of a set of counties (a county, a city or a province): each cell belongs to the
    /// county its centre lies in (the first by code where simplified outlines overlap).
    pub fn of_counties(counties: &[&Region], res: Resolution) -> Result<Grid, GridError> {
        let tiled = par_map(counties, |c| tile(&c.outline, res, &c.adcode.to_string()));
        let mut pairs: Vec<(u64, u16)> = Vec::new();
        for (i, cells) in tiled.into_iter().enumerate() {
            pairs.extend(cells?.into_iter().map(|cell| (u64::from(cell), i as u16)));
            if pairs.len() > MAX_CELLS {
                return Err(GridError::TooLarge {
                    cells: pairs.len(),
                    res: u8::from(res),
                    max: MAX_CELLS,
                });
            }
        }
        Ok(Self::assemble(res, pairs, counties))
    }

    /// The grid of a box: every cell whose centre is inside it, attributed to the county (of
    /// `counties`) its centre lies in, or to none.
    pub fn of_bbox(bbox: &BBox, counties: &[&Region], res: Resolution) -> Result<Grid, GridError> {
        let all = tile(&bbox_polygon(bbox), res, "the box")?;
        if all.len() > MAX_CELLS {
            return Err(GridError::TooLarge {
                cells: all.len(),
                res: u8::from(res),
                max: MAX_CELLS,
            });
        }
        let mut all: Vec<u64> = all.into_iter().map(u64::from).collect();
        all.sort_unstable();
        all.dedup();
        let rect = geo::Rect::new(
            geo::coord! { x: bbox.min.lon, y: bbox.min.lat },
            geo::coord! { x: bbox.max.lon, y: bbox.max.lat },
        );
        let mut county_of: Vec<u16> = vec![NO_COUNTY; all.len()];
        let mut used: Vec<&Region> = Vec::new();
        for c in counties {
            use geo::{BoundingRect, Intersects};
            if !c
                .outline
                .bounding_rect()
                .is_some_and(|r| r.intersects(&rect))
            {
                continue;
            }
            let mut hit = false;
            for cell in tile(&c.outline, res, &c.adcode.to_string())? {
                if let Ok(at) = all.binary_search(&u64::from(cell)) {
                    if county_of[at] == NO_COUNTY {
                        county_of[at] = used.len() as u16;
                        hit = true;
                    }
                }
            }
            if hit {
                used.push(c);
            }
        }
        let pairs = all.into_iter().zip(county_of).collect();
        Ok(Self::assemble(res, pairs, &used))
    }

    fn assemble(res: Resolution, mut pairs: Vec<(u64, u16)>, counties: &[&Region]) -> Grid {
        // One cell, one county: the first (lowest position) where outlines overlap.
        pairs.sort_unstable();
        pairs.dedup_by_key(|p| p.0);
        let cells: Vec<CellIndex> = pairs
            .iter()
            .filter_map(|&(c, _)| CellIndex::try_from(c).ok())
            .collect();
        let centres: Vec<LonLat> = par_chunks(&cells, |part| {
            part.iter()
                .map(|&c| {
                    let ll = LatLng::from(c);
                    LonLat::new(ll.lng(), ll.lat()).unwrap_or(LonLat { lon: 0.0, lat: 0.0 })
                })
                .collect()
        });
        let county: Vec<u16> = pairs.iter().map(|p| p.1).collect();

        let (mut lon_min, mut lon_max, mut lat_min, mut lat_max) = (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        );
        for p in &centres {
            lon_min = lon_min.min(p.lon);
            lon_max = lon_max.max(p.lon);
            lat_min = lat_min.min(p.lat);
            lat_max = lat_max.max(p.lat);
        }
        if centres.is_empty() {
            (lon_min, lon_max, lat_min, lat_max) = (0.0, 0.0, 0.0, 0.0);
        }
        let max_abs_lat = lat_min.abs().max(lat_max.abs()).min(89.0);
        let step_lat = BIN_M / MIN_M_PER_DEG_LAT;
        let step_lon = BIN_M / (MIN_M_PER_DEG_LON_EQUATOR * max_abs_lat.to_radians().cos());
        let nx = (((lon_max - lon_min) / step_lon).floor() as usize + 1).max(1);
        let ny = (((lat_max - lat_min) / step_lat).floor() as usize + 1).max(1);
        let mut bins = Bins {
            lon0: lon_min,
            lat0: lat_min,
            step_lon,
            step_lat,
            nx,
            ny,
            start: Vec::new(),
            max_abs_lat,
        };
        // Counting sort by bin.
        let bin_of: Vec<u32> = centres
            .iter()
            .map(|p| {
                let (x, y) = bins.bin_xy(p);
                (y * nx + x) as u32
            })
            .collect();
        let mut start = vec![0u32; nx * ny + 1];
        for &b in &bin_of {
            start[b as usize + 1] += 1;
        }
        for i in 1..start.len() {
            start[i] += start[i - 1];
        }
        let mut next = start.clone();
        let mut order = vec![0u32; cells.len()];
        for (i, &b) in bin_of.iter().enumerate() {
            order[next[b as usize] as usize] = i as u32;
            next[b as usize] += 1;
        }
        bins.start = start;
        let pick = |i: &u32| *i as usize;
        let cells: Vec<CellIndex> = order.iter().map(|i| cells[pick(i)]).collect();
        let centres: Vec<LonLat> = order.iter().map(|i| centres[pick(i)]).collect();
        let county: Vec<u16> = order.iter().map(|i| county[pick(i)]).collect();
        let ecef = par_chunks(&centres, |part| part.iter().map(LonLat::ecef).collect());
        let area_km2 = areas(&cells, res);
        let mut by_cell: Vec<(u64, u32)> = cells
            .iter()
            .enumerate()
            .map(|(i, &c)| (u64::from(c), i as u32))
            .collect();
        by_cell.sort_unstable();
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Grid {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            res,
            cells,
            centres,
            ecef,
            area_km2,
            county,
            counties: counties
                .iter()
                .map(|r| County {
                    adcode: r.adcode,
                    name: r.name.clone(),
                    outline: r.outline.clone(),
                })
                .collect(),
            by_cell,
            bins,
        }
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// Whether the grid has no cell.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// The position of a cell of this grid's resolution, if it is in the grid.
    pub fn position(&self, cell: CellIndex) -> Option<usize> {
        let key = u64::from(cell);
        self.by_cell
            .binary_search_by_key(&key, |&(c, _)| c)
            .ok()
            .map(|i| self.by_cell[i].1 as usize)
    }

    /// The position of the cell containing `p`, if it is in the grid.
    pub fn position_of_point(&self, p: LonLat) -> Option<usize> {
        self.position(crate::domain::demand::cell_of(p, self.res))
    }

    /// Calls `f` with every range of cell positions whose bins lie within `radius_m` of `p`
    /// (a superset of the cells within that geodesic distance; callers test each).
    pub fn near(&self, p: &LonLat, radius_m: f64, mut f: impl FnMut(std::ops::Range<usize>)) {
        if self.cells.is_empty() {
            return;
        }
        let b = &self.bins;
        // The degree lengths below are minima, so these spans only err on the wide side; the 1 %
        // also covers a geodesic's slight poleward bow against its parallel.
        let radius_m = radius_m * 1.01 + 1.0;
        let dlat = radius_m / MIN_M_PER_DEG_LAT;
        let lat_hi = (p.lat.abs() + dlat).min(89.9);
        let cos = lat_hi
            .to_radians()
            .cos()
            .min(b.max_abs_lat.to_radians().cos());
        let dlon = radius_m / (MIN_M_PER_DEG_LON_EQUATOR * cos);
        let x0 = ((p.lon - dlon - b.lon0) / b.step_lon).floor();
        let x1 = ((p.lon + dlon - b.lon0) / b.step_lon).floor();
        let y0 = ((p.lat - dlat - b.lat0) / b.step_lat).floor();
        let y1 = ((p.lat + dlat - b.lat0) / b.step_lat).floor();
        if x1 < 0.0 || y1 < 0.0 || x0 >= b.nx as f64 || y0 >= b.ny as f64 {
            return;
        }
        let x0 = x0.max(0.0) as usize;
        let x1 = (x1 as usize).min(b.nx - 1);
        let y0 = y0.max(0.0) as usize;
        let y1 = (y1 as usize).min(b.ny - 1);
        for y in y0..=y1 {
            // Bins of one row are consecutive: one range per row.
            let from = b.start[y * b.nx + x0] as usize;
            let to = b.start[y * b.nx + x1 + 1] as usize;
            if from < to {
                f(from..to);
            }
        }
    }

    /// Approximate heap bytes held (for reports and the memory budget).
    pub fn heap_bytes(&self) -> usize {
        self.cells.capacity() * 8
            + self.centres.capacity() * 16
            + self.ecef.capacity() * 24
            + self.area_km2.capacity() * 4
            + self.county.capacity() * 2
            + self.by_cell.capacity() * 16
            + self.bins.start.capacity() * 4
    }
}
