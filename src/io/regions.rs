//! Region outlines from GeoJSON: validated all-or-nothing, then every parent the file refers to
//! but does not contain (a city of counties, a province of cities) dissolved from its children.

use super::import::ImportError;
use crate::domain::region::province_name;
use crate::domain::{Adcode, Region, RegionLevel};
use crate::store::Store;
use geo::orient::Direction;
use geo::{ChamberlainDuquetteArea, MultiPolygon, Orient, Polygon};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// Holes left in a dissolved outline smaller than this (m²) are gaps between neighbours whose
/// borders were simplified apart, not real enclaves: they are filled.
pub const DISSOLVE_MIN_HOLE_M2: f64 = 1e6;

/// Parts of a dissolved outline smaller than this (m²) are slivers where neighbours' borders
/// overlap or miss each other, not islands: they are dropped (unless nothing bigger is left).
pub const DISSOLVE_MIN_PART_M2: f64 = 1e5;

/// Properties of a region feature. Other properties are allowed and ignored: boundary files
/// carry all sorts (centroids, child counts …).
#[derive(Debug, Deserialize)]
struct Props {
    adcode: Adcode,
    name: String,
    #[serde(default)]
    level: Option<String>,
    #[serde(default)]
    parent_adcode: Option<Adcode>,
    #[serde(default)]
    city_adcode: Option<Adcode>,
    #[serde(default)]
    city_name: Option<String>,
}

/// A region read from a file, with the name its file gives its parent (`city_name`), if any.
struct FileRegion {
    region: Region,
    parent_name: Option<String>,
}

/// Reads a FeatureCollection of Polygon/MultiPolygon features with properties `adcode` (text or
/// number), `name`, optional `level` and `parent_adcode` (or `city_adcode`/`city_name`), and
/// adds the parents it refers to but lacks, dissolved from their children. One bad feature
/// rejects the file, naming it (1-based) and what was wrong.
pub fn parse_regions_geojson(bytes: &[u8]) -> Result<Vec<Region>, ImportError> {
    with_derived_parents(parse_features(bytes)?, &[])
}

/// Reads, validates and stores a region file in one transaction; returns how many regions
/// were written, derived parents included. A parent the file lacks is dissolved from all its
/// children, those already stored as well as those in the file, so importing a corrected
/// county also corrects its city's and province's outlines.
pub async fn load_regions_file(store: &dyn Store, path: &Path) -> Result<usize, ImportError> {
    let bytes = std::fs::read(path)
        .map_err(|e| ImportError::File(format!("cannot read {}: {e}", path.display())))?;
    let features = parse_features(&bytes)?;
    let stored = store.load_regions().await.map_err(ImportError::Store)?;
    let regions = with_derived_parents(features, &stored)?;
    store
        .upsert_regions(&regions)
        .await
        .map_err(ImportError::Store)
}

/// The features of a region file, validated, in file order.
fn parse_features(bytes: &[u8]) -> Result<Vec<FileRegion>, ImportError> {
    let doc: Value = serde_json::from_slice(bytes)
        .map_err(|e| ImportError::File(format!("not valid JSON: {e}")))?;
    let features = doc
        .get("features")
        .and_then(Value::as_array)
        .filter(|_| doc.get("type").and_then(Value::as_str) == Some("FeatureCollection"))
        .ok_or_else(|| ImportError::File("expected a GeoJSON FeatureCollection".to_string()))?;
    if features.is_empty() {
        return Err(ImportError::File(
            "the FeatureCollection has no features".to_string(),
        ));
    }
    let mut out = Vec::with_capacity(features.len());
    let mut seen: HashMap<Adcode, usize> = HashMap::new();
    for (i, f) in features.iter().enumerate() {
        let row = i + 1;
        let r = parse_feature(f).map_err(|reason| ImportError::Row { row, reason })?;
        if let Some(first) = seen.insert(r.region.adcode, row) {
            return Err(ImportError::Row {
                row,
                reason: format!(
                    "duplicate adcode {} (first in feature {first})",
                    r.region.adcode
                ),
            });
        }
        out.push(r);
    }
    Ok(out)
}

fn parse_feature(f: &Value) -> Result<FileRegion, String> {
    let props: Props = serde_json::from_value(f.get("properties").cloned().unwrap_or_default())
        .map_err(|e| format!("properties: {e}"))?;
    let code = props.adcode;
    let level = match props.level.as_deref() {
        Some(l) => l.parse::<RegionLevel>().map_err(|e| e.message)?,
        None => code.level_hint(),
    };
    let city = props.city_adcode.filter(|&c| c != code);
    let parent = match props.parent_adcode {
        Some(p) => Some(p),
        None => city.or_else(|| default_parent(code, level)),
    };
    let parent_name = props
        .city_name
        .filter(|_| parent.is_some() && parent == city)
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    let outline = outline_of(f.get("geometry").unwrap_or(&Value::Null))?;
    let region = Region::new(code, &props.name, level, parent, outline).map_err(|e| e.message)?;
    Ok(FileRegion {
        region,
        parent_name,
    })
}

/// The parent a code's shape suggests: a county's city (or its province when the code is a
/// city's own), a city's province, no parent for a province.
fn default_parent(code: Adcode, level: RegionLevel) -> Option<Adcode> {
    match level {
        RegionLevel::Province => None,
        RegionLevel::City => Some(code.province()).filter(|&p| p != code),
        RegionLevel::County => Some(code.city())
            .filter(|&c| c != code)
            .or_else(|| Some(code.province()).filter(|&p| p != code)),
    }
}

/// A Polygon or MultiPolygon geometry as a multipolygon (rings are checked by [`Region::new`]).
fn outline_of(geometry: &Value) -> Result<MultiPolygon<f64>, String> {
    let coords = geometry.get("coordinates").unwrap_or(&Value::Null);
    match geometry.get("type").and_then(Value::as_str) {
        Some("Polygon") => Ok(MultiPolygon(vec![polygon_of(coords)?])),
        Some("MultiPolygon") => coords
            .as_array()
            .filter(|a| !a.is_empty())
            .ok_or("a MultiPolygon needs an array of polygons")?
            .iter()
            .map(polygon_of)
            .collect::<Result<Vec<_>, _>>()
            .map(MultiPolygon),
        Some(other) => Err(format!(
            "geometry must be a Polygon or MultiPolygon, got {other}"
        )),
        None => Err("geometry must be a Polygon or MultiPolygon".to_string()),
    }
}

fn polygon_of(rings: &Value) -> Result<Polygon<f64>, String> {
    let mut rings = rings
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or("a polygon needs an array of rings")?
        .iter()
        .map(|ring| {
            ring.as_array()
                .ok_or("a ring must be an array of positions")?
                .iter()
                .map(|p| match p.as_array().map(Vec::as_slice) {
                    Some([x, y, ..]) => match (x.as_f64(), y.as_f64()) {
                        (Some(x), Some(y)) => Ok(geo::coord! { x: x, y: y }),
                        _ => Err(format!("a position must be [lon, lat] numbers, got {p}")),
                    },
                    _ => Err(format!("a position must be [lon, lat], got {p}")),
                })
                .collect::<Result<Vec<_>, _>>()
                .and_then(|coords| {
                    // geo would close an open ring silently; GeoJSON requires closed ones.
                    if coords.len() < 4 || coords.first() != coords.last() {
                        Err(format!(
                            "every ring needs at least 4 positions and must be closed \
                             (its last position equal to its first), got {} positions",
                            coords.len()
                        ))
                    } else {
                        Ok(geo::LineString::new(coords))
                    }
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let exterior = rings.remove(0);
    Ok(Polygon::new(exterior, rings))
}

/// The file's regions plus every parent they refer to that the file lacks, dissolved from its
/// children in the file and in `stored` (regions already in the store, which are not returned
/// themselves). Cities are derived before the provinces they make up.
fn with_derived_parents(
    file: Vec<FileRegion>,
    stored: &[Region],
) -> Result<Vec<Region>, ImportError> {
    let mut names: HashMap<Adcode, String> = HashMap::new();
    let mut out: Vec<Region> = Vec::with_capacity(file.len());
    for f in file {
        if let (Some(p), Some(n)) = (f.region.parent, f.parent_name) {
            names.entry(p).or_insert(n);
        }
        out.push(f.region);
    }
    /// Where a region is: among the stored ones or in the output (file, then derived).
    #[derive(Clone, Copy)]
    enum At {
        Stored(usize),
        Out(usize),
    }
    // Every region by code: the stored ones, replaced by those of the file and derived ones.
    let mut by_code: HashMap<Adcode, At> = stored
        .iter()
        .enumerate()
        .map(|(i, r)| (r.adcode, At::Stored(i)))
        .collect();
    loop {
        for (i, r) in out.iter().enumerate() {
            by_code.insert(r.adcode, At::Out(i));
        }
        let present: BTreeSet<Adcode> = out.iter().map(|r| r.adcode).collect();
        let missing: BTreeSet<Adcode> = out
            .iter()
            .filter_map(|r| r.parent)
            .filter(|p| !present.contains(p))
            .collect();
        // Parents rank above their children, so the most detailed missing level goes first.
        let Some(level) = missing.iter().map(|p| p.level_hint()).max() else {
            break;
        };
        let region_at = |at: &At| match *at {
            At::Stored(i) => &stored[i],
            At::Out(i) => &out[i],
        };
        let mut next = Vec::new();
        for &code in missing.iter().filter(|p| p.level_hint() == level) {
            let children: Vec<&MultiPolygon<f64>> = by_code
                .values()
                .map(region_at)
                .filter(|r| r.parent == Some(code))
                .map(|r| &r.outline)
                .collect();
            let name = names
                .get(&code)
                .cloned()
                .or_else(|| by_code.get(&code).map(|at| region_at(at).name.clone()))
                .or_else(|| province_name(code).map(str::to_string))
                .unwrap_or_else(|| code.to_string());
            let region = Region::new(
                code,
                &name,
                level,
                default_parent(code, level),
                dissolve(&children),
            )
            .map_err(|e| {
                ImportError::File(format!(
                    "cannot derive region {code} from its {} children: {}",
                    children.len(),
                    e.message
                ))
            })?;
            next.push(region);
        }
        out.extend(next);
    }
    Ok(out)
}

/// The union of outlines, cleaned of what independently simplified neighbours leave behind:
/// holes under [`DISSOLVE_MIN_HOLE_M2`] are filled and parts under [`DISSOLVE_MIN_PART_M2`]
/// dropped (the largest part is always kept).
pub fn dissolve(parts: &[&MultiPolygon<f64>]) -> MultiPolygon<f64> {
    // unary_union takes its fill rule from the first ring's winding: orient every ring alike.
    let polygons: Vec<Polygon<f64>> = parts
        .iter()
        .flat_map(|mp| mp.0.iter())
        .map(|p| p.orient(Direction::Default))
        .collect();
    let union = geo::unary_union(&polygons);
    let area = |p: &Polygon<f64>| p.chamberlain_duquette_unsigned_area();
    let largest = union
        .0
        .iter()
        .map(|p| area(&Polygon::new(p.exterior().clone(), vec![])))
        .fold(0.0, f64::max);
    MultiPolygon(
        union
            .0
            .into_iter()
            .filter_map(|p| {
                let (exterior, holes) = p.into_inner();
                let outer = area(&Polygon::new(exterior.clone(), vec![]));
                if outer < DISSOLVE_MIN_PART_M2 && outer < largest {
                    return None;
                }
                let holes = holes
                    .into_iter()
                    .filter(|h| area(&Polygon::new(h.clone(), vec![])) >= DISSOLVE_MIN_HOLE_M2)
                    .collect();
                Some(Polygon::new(exterior, holes))
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::seed::JIANGXI_COUNTIES_GEOJSON;

    fn square(x: f64, y: f64, size: f64) -> Vec<Vec<f64>> {
        vec![
            vec![x, y],
            vec![x + size, y],
            vec![x + size, y + size],
            vec![x, y + size],
            vec![x, y],
        ]
    }

    fn feature(props: serde_json::Value, ring: Vec<Vec<f64>>) -> serde_json::Value {
        serde_json::json!({
            "type": "Feature",
            "properties": props,
            "geometry": {"type": "Polygon", "coordinates": [ring]}
        })
    }

    fn collection(features: Vec<serde_json::Value>) -> Vec<u8> {
        serde_json::json!({"type": "FeatureCollection", "features": features})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn jiangxi_counties_make_eleven_cities_and_a_province() {
        let started = std::time::Instant::now();
        let regions = parse_regions_geojson(JIANGXI_COUNTIES_GEOJSON.as_bytes()).unwrap();
        let elapsed = started.elapsed();
        let count = |l: RegionLevel| regions.iter().filter(|r| r.level == l).count();
        assert_eq!(count(RegionLevel::County), 100);
        assert_eq!(count(RegionLevel::City), 11);
        assert_eq!(count(RegionLevel::Province), 1);
        let set = crate::domain::RegionSet::new(regions);
        let jx = set.get(Adcode::new(360_000).unwrap()).unwrap();
        assert_eq!((jx.name.as_str(), jx.parent), ("江西省", None));
        let nc = set.get(Adcode::new(360_100).unwrap()).unwrap();
        assert_eq!(nc.name, "南昌市");
        assert_eq!(nc.parent, Some(jx.adcode));
        assert_eq!(set.counties_of(jx.adcode).len(), 100);
        // The counties tile the province: one piece, no gap left between them, the same area.
        assert_eq!(jx.outline.0.len(), 1);
        assert!(jx.outline.0[0].interiors().is_empty());
        let counties: f64 = set
            .counties()
            .iter()
            .map(|c| c.outline.chamberlain_duquette_unsigned_area())
            .sum();
        let province = jx.outline.chamberlain_duquette_unsigned_area();
        assert!(
            (province - counties).abs() / counties < 0.005,
            "{province} m² vs {counties} m²"
        );
        eprintln!("parsed and dissolved Jiangxi in {elapsed:?}");
    }

    #[test]
    fn two_counties_of_another_province_derive_their_city_and_province() {
        let bytes = collection(vec![
            feature(
                serde_json::json!({"adcode": "110101", "name": "东城区"}),
                square(116.0, 39.0, 0.1),
            ),
            feature(
                serde_json::json!({"adcode": 110102, "name": "西城区", "level": "county"}),
                square(116.1, 39.0, 0.1),
            ),
        ]);
        let regions = parse_regions_geojson(&bytes).unwrap();
        let codes: Vec<(String, &str, Option<String>)> = regions
            .iter()
            .map(|r| {
                (
                    r.adcode.to_string(),
                    r.name.as_str(),
                    r.parent.map(|p| p.to_string()),
                )
            })
            .collect();
        assert_eq!(
            codes,
            [
                ("110101".into(), "东城区", Some("110100".into())),
                ("110102".into(), "西城区", Some("110100".into())),
                ("110100".into(), "110100", Some("110000".into())),
                ("110000".into(), "北京市", None),
            ]
        );
        // Two touching squares dissolve into one rectangle.
        let city = &regions[2];
        assert_eq!(city.outline.0.len(), 1);
        let area = city.outline.chamberlain_duquette_unsigned_area();
        let both = regions[0].outline.chamberlain_duquette_unsigned_area()
            + regions[1].outline.chamberlain_duquette_unsigned_area();
        // The union snaps to a fine grid (~1e-10°): equal to a few parts in a billion.
        assert!((area - both).abs() / both < 1e-6, "{area} vs {both}");
    }

    #[test]
    fn one_bad_feature_rejects_the_file_naming_it() {
        let good = feature(
            serde_json::json!({"adcode": "110101", "name": "东城区"}),
            square(116.0, 39.0, 0.1),
        );
        let cases: Vec<(serde_json::Value, &str)> = vec![
            (
                feature(
                    serde_json::json!({"adcode": "1101", "name": "x"}),
                    square(116.0, 39.0, 0.1),
                ),
                "1101",
            ),
            (
                feature(
                    serde_json::json!({"adcode": "110102"}),
                    square(116.0, 39.0, 0.1),
                ),
                "name",
            ),
            (
                feature(
                    serde_json::json!({"adcode": "110102", "name": "x"}),
                    square(216.0, 39.0, 0.1),
                ),
                "WGS-84",
            ),
            (
                feature(
                    serde_json::json!({"adcode": "110102", "name": "x", "level": "town"}),
                    square(116.0, 39.0, 0.1),
                ),
                "town",
            ),
            (
                feature(
                    serde_json::json!({"adcode": "110101", "name": "again"}),
                    square(116.0, 39.0, 0.1),
                ),
                "duplicate adcode 110101",
            ),
            (
                serde_json::json!({"type": "Feature", "properties": {"adcode": "110102", "name": "x"},
                    "geometry": {"type": "Point", "coordinates": [116.0, 39.0]}}),
                "Polygon or MultiPolygon",
            ),
            (
                feature(
                    serde_json::json!({"adcode": "110102", "name": "x"}),
                    vec![vec![116.0, 39.0], vec![116.1, 39.0], vec![116.1, 39.1]],
                ),
                "closed",
            ),
            (
                feature(
                    serde_json::json!({"adcode": "110102", "name": "x", "parent_adcode": "110102"}),
                    square(116.0, 39.0, 0.1),
                ),
                "parent",
            ),
        ];
        for (bad, says) in cases {
            let err = parse_regions_geojson(&collection(vec![good.clone(), bad])).unwrap_err();
            match err {
                ImportError::Row { row: 2, reason } => {
                    assert!(reason.contains(says), "{says:?} in {reason:?}")
                }
                other => panic!("{says}: {other:?}"),
            }
        }
        for file in [
            &b"[]"[..],
            &b"{"[..],
            &br#"{"type":"FeatureCollection","features":[]}"#[..],
        ] {
            assert!(matches!(
                parse_regions_geojson(file),
                Err(ImportError::File(_))
            ));
        }
    }

    #[test]
    fn dissolve_fills_small_gaps_and_drops_slivers_but_keeps_real_holes() {
        let mp = |rings: Vec<Vec<(f64, f64)>>| {
            let mut rings = rings.into_iter().map(geo::LineString::from);
            let ext = rings.next().unwrap();
            MultiPolygon(vec![Polygon::new(ext, rings.collect())])
        };
        // Two squares a hair apart (a 1e-5° ≈ 1 m gap between them in the middle), and a
        // separate 10 m sliver far away.
        let a = mp(vec![vec![
            (0.0, 0.0),
            (1.0, 0.0),
            (1.0, 1.0),
            (0.0, 1.0),
            (0.0, 0.0),
        ]]);
        let b = mp(vec![vec![
            (1.0, 0.0),
            (2.0, 0.0),
            (2.0, 1.0),
            (1.0, 1.0),
            (1.0, 0.6),
            (1.00001, 0.5),
            (1.0, 0.4),
            (1.0, 0.0),
        ]]);
        let sliver = mp(vec![vec![
            (5.0, 5.0),
            (5.0001, 5.0),
            (5.0001, 5.0001),
            (5.0, 5.0),
        ]]);
        // A 0.5° lake (≈ 3000 km²) inside a big square stays a hole.
        let lake = mp(vec![
            vec![
                (10.0, 0.0),
                (12.0, 0.0),
                (12.0, 2.0),
                (10.0, 2.0),
                (10.0, 0.0),
            ],
            vec![
                (10.5, 0.5),
                (10.5, 1.0),
                (11.0, 1.0),
                (11.0, 0.5),
                (10.5, 0.5),
            ],
        ]);
        let d = dissolve(&[&a, &b, &sliver, &lake]);
        assert_eq!(d.0.len(), 2, "{d:?}");
        let holes: usize = d.0.iter().map(|p| p.interiors().len()).sum();
        assert_eq!(holes, 1, "{d:?}");
    }
}
