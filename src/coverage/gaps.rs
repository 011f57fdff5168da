//! Uncovered areas as polygons: each county's uncovered cells dissolved into polygons with
//! holes (not one hexagon per cell), simplified to about a cell's size, as GeoJSON.

use super::grid::Grid;
use geo::SimplifyVwPreserve;
use h3o::CellIndex;
use std::fmt::Write;

/// The uncovered part of one county.
#[derive(Debug, Clone)]
pub struct Gap {
    /// Index into the grid's counties, or [`super::grid::NO_COUNTY`].
    pub county: u16,
    /// Uncovered area, km² (sum of the cells, before simplification).
    pub uncovered_km2: f64,
    /// The dissolved, simplified outline (WGS-84 lon/lat).
    pub outline: geo::MultiPolygon<f64>,
}

/// Dissolves the uncovered cells of every county (one county per thread at a time); cells
/// without road access (`access` false) are not gaps.
pub fn gaps(grid: &Grid, covered: &[bool], access: &[bool]) -> Vec<Gap> {
    let groups = grid.counties.len() + 1;
    let mut cells: Vec<Vec<CellIndex>> = vec![Vec::new(); groups];
    let mut area = vec![0.0f64; groups];
    for (i, _) in covered
        .iter()
        .enumerate()
        .filter(|&(i, &c)| !c && access[i])
    {
        let g = usize::from(grid.county[i]).min(groups - 1);
        cells[g].push(grid.cells[i]);
        area[g] += f64::from(grid.area_km2[i]);
    }
    let edge_deg = grid.res.edge_length_m() / 111_000.0;
    // Visvalingam's effective area: three consecutive corners of a hexagon outline span about
    // 0.43 edge², so an edge² removes the zig-zags (the shape stays within about a cell) while
    // topology is kept. All of Jiangxi at resolution 9: ~350 KB gzipped.
    let epsilon = edge_deg * edge_deg;
    let work: Vec<(usize, Vec<CellIndex>)> = cells
        .into_iter()
        .enumerate()
        .filter(|(_, c)| !c.is_empty())
        .collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut out: Vec<Gap> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((g, cells)) = work.get(k) else { break };
                        let outline = dissolve(cells).simplify_vw_preserve(epsilon);
                        mine.push(Gap {
                            county: if *g == groups - 1 {
                                super::grid::NO_COUNTY
                            } else {
                                *g as u16
                            },
                            uncovered_km2: area[*g],
                            outline,
                        });
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    out.sort_by_key(|g| g.county);
    out
}

/// The outline of a set of cells of one resolution.
pub fn dissolve(cells: &[CellIndex]) -> geo::MultiPolygon<f64> {
    // Cells come from one grid, so they are unique and of one resolution: the only errors
    // h3o reports cannot happen; an empty outline is the safe answer should they.
    h3o::geom::SolventBuilder::new()
        .build()
        .dissolve(cells.iter().copied())
        .unwrap_or_else(|_| geo::MultiPolygon(Vec::new()))
}

/// Writes a number with at most `decimals` decimals, without trailing zeros.
pub fn push_num(out: &mut String, v: f64, decimals: usize) {
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    out.push_str(if s == "-0" { "0" } else { s });
}

/// A GeoJSON MultiPolygon geometry object, coordinates to 4 decimals (about 10 m, a tenth of
/// the finest cell's edge).
pub fn multipolygon_json(out: &mut String, mp: &geo::MultiPolygon<f64>) {
    out.push_str("{\"type\":\"MultiPolygon\",\"coordinates\":[");
    for (pi, p) in mp.0.iter().enumerate() {
        if pi > 0 {
            out.push(',');
        }
        out.push('[');
        for (ri, ring) in std::iter::once(p.exterior())
            .chain(p.interiors())
            .enumerate()
        {
            if ri > 0 {
                out.push(',');
            }
            out.push('[');
            for (ci, c) in ring.0.iter().enumerate() {
                if ci > 0 {
                    out.push(',');
                }
                out.push('[');
                push_num(out, c.x, 4);
                out.push(',');
                push_num(out, c.y, 4);
                out.push(']');
            }
            out.push(']');
        }
        out.push(']');
    }
    out.push_str("]}");
}

/// The gaps as a GeoJSON FeatureCollection: one feature per county, properties `adcode`,
/// `name`, `uncovered_km2`.
pub fn gaps_geojson(grid: &Grid, gaps: &[Gap]) -> String {
    let mut out = String::with_capacity(1 << 16);
    out.push_str("{\"type\":\"FeatureCollection\",\"features\":[");
    for (i, g) in gaps.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let (adcode, name) = match grid.counties.get(usize::from(g.county)) {
            Some(c) => (
                serde_json::json!(c.adcode.to_string()),
                serde_json::json!(c.name),
            ),
            None => (serde_json::Value::Null, serde_json::Value::Null),
        };
        let _ = write!(
            out,
            "{{\"type\":\"Feature\",\"properties\":{{\"adcode\":{adcode},\"name\":{name},\"uncovered_km2\":"
        );
        push_num(&mut out, g.uncovered_km2, 3);
        out.push_str("},\"geometry\":");
        multipolygon_json(&mut out, &g.outline);
        out.push('}');
    }
    out.push_str("]}");
    out
}
