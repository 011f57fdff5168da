//! Regions in the store: Jiangxi seeded at start (counties, cities dissolved from them, the
//! province), `yizhan regions import` all-or-nothing, and the GeoPackage layer GDAL reads.

mod common;

use common::*;
use geo::{Centroid, Contains, InteriorPoint};
use std::path::Path;
use std::process::Output;
use yizhan::domain::{Adcode, Region, RegionLevel, RegionSet};

/// Runs the binary with `args` plus `--database-url`, off the async runtime.
async fn yizhan(args: &[&str], database_url: &str) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_yizhan"));
    cmd.args(args)
        .arg("--database-url")
        .arg(database_url)
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL");
    cmd.output().await.expect("running the yizhan binary")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn code(n: u32) -> Adcode {
    Adcode::new(n).unwrap()
}

/// A square feature `size` degrees wide at (x, y) with the given properties.
fn square(props: serde_json::Value, x: f64, y: f64, size: f64) -> serde_json::Value {
    serde_json::json!({
        "type": "Feature",
        "properties": props,
        "geometry": {"type": "Polygon", "coordinates": [[
            [x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]
        ]]}
    })
}

fn write_collection(dir: &Path, name: &str, features: Vec<serde_json::Value>) -> String {
    let path = dir.join(name);
    let fc = serde_json::json!({"type": "FeatureCollection", "features": features});
    std::fs::write(&path, fc.to_string()).unwrap();
    path.to_str().unwrap().to_string()
}

#[tokio::test]
async fn jiangxi_regions_are_seeded_at_start() {
    let app = spawn_app().await;
    let regions = app.store.load_regions().await.unwrap();
    let count = |l: RegionLevel| regions.iter().filter(|r| r.level == l).count();
    assert_eq!(
        (
            count(RegionLevel::County),
            count(RegionLevel::City),
            count(RegionLevel::Province)
        ),
        (100, 11, 1)
    );
    assert!(
        regions.windows(2).all(|w| w[0].adcode < w[1].adcode),
        "ordered by adcode"
    );
    assert!(regions.iter().all(|r| !r.outline.0.is_empty()));

    let set = RegionSet::new(regions.clone());
    let nanchang = set.get(code(360_100)).expect("南昌市 is derived");
    assert_eq!(
        (nanchang.name.as_str(), nanchang.parent),
        ("南昌市", Some(code(360_000)))
    );
    let mut under: Vec<u32> = set
        .counties_of(nanchang.adcode)
        .iter()
        .map(|r| r.adcode.get())
        .collect();
    under.sort();
    let mut by_code: Vec<u32> = regions
        .iter()
        .filter(|r| r.level == RegionLevel::County && r.adcode.get() / 100 == 3601)
        .map(|r| r.adcode.get())
        .collect();
    by_code.sort();
    assert!(!under.is_empty());
    assert_eq!(under, by_code, "南昌市 has exactly the counties 3601xx");
    let province = set.get(code(360_000)).unwrap();
    assert_eq!((province.name.as_str(), province.parent), ("江西省", None));

    // Every county lies in its city and in the province: its centroid, or where the county
    // is too concave to hold its own centroid, a point inside it.
    for county in set.counties() {
        let city = set
            .get(county.parent.expect("a county has a city"))
            .expect("its city is stored");
        let inner = county.outline.interior_point().unwrap();
        let centroid = county.outline.centroid().unwrap();
        let probe = if county.outline.contains(&centroid) {
            centroid
        } else {
            inner
        };
        assert!(
            city.outline.contains(&probe),
            "{} {} is not inside {} {}",
            county.adcode,
            county.name,
            city.adcode,
            city.name
        );
        assert!(province.outline.contains(&probe), "{}", county.name);
    }

    // A second start finds them and adds nothing.
    assert_eq!(
        yizhan::io::seed::seed_regions_if_empty(app.store.as_ref())
            .await
            .unwrap(),
        0
    );
    assert_eq!(app.store.load_regions().await.unwrap(), regions);
}

#[tokio::test]
async fn regions_import_adds_a_province_with_its_derived_city() {
    let db = TestDb::new().await;
    let store = db.connect().await;
    assert!(!store.has_regions().await.unwrap());
    yizhan::io::seed::seed_regions_if_empty(store.as_ref())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = write_collection(
        dir.path(),
        "beijing.geojson",
        vec![
            square(
                serde_json::json!({"adcode": "110101", "name": "东城区", "city_adcode": "110100", "city_name": "北京市市辖区"}),
                116.38,
                39.88,
                0.05,
            ),
            square(
                serde_json::json!({"adcode": 110102, "name": "西城区", "level": "county"}),
                116.33,
                39.88,
                0.05,
            ),
        ],
    );
    let out = yizhan(&["regions", "import", &file], &db.url).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("imported 4 regions"),
        "{}",
        stderr(&out)
    );

    let regions = store.load_regions().await.unwrap();
    assert_eq!(regions.len(), 112 + 4);
    let set = RegionSet::new(regions);
    let city = set.get(code(110_100)).expect("the city is derived");
    assert_eq!(
        (city.name.as_str(), city.level, city.parent),
        ("北京市市辖区", RegionLevel::City, Some(code(110_000)))
    );
    let codes: Vec<u32> = set
        .counties_of(city.adcode)
        .iter()
        .map(|r| r.adcode.get())
        .collect();
    assert_eq!(codes, [110_101, 110_102]);
    // The two touching squares dissolve into one rectangle.
    assert_eq!(city.outline.0.len(), 1);
    let beijing = set.get(code(110_000)).unwrap();
    assert_eq!((beijing.name.as_str(), beijing.parent), ("北京市", None));
    assert_eq!(
        set.counties_of(code(360_000)).len(),
        100,
        "Jiangxi unchanged"
    );

    // Importing again replaces by adcode: nothing is duplicated.
    let out = yizhan(&["regions", "import", &file], &db.url).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(store.load_regions().await.unwrap().len(), 116);
}

#[tokio::test]
async fn regions_import_with_one_bad_feature_changes_nothing_and_names_it() {
    let db = TestDb::new().await;
    let store = db.connect().await;
    yizhan::io::seed::seed_regions_if_empty(store.as_ref())
        .await
        .unwrap();
    let before = store.load_regions().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let good = square(
        serde_json::json!({"adcode": "110101", "name": "东城区"}),
        116.38,
        39.88,
        0.05,
    );
    let cases = [
        (
            square(
                serde_json::json!({"adcode": "110102", "name": "西城区"}),
                196.33,
                39.88,
                0.05,
            ),
            "WGS-84",
        ),
        (
            square(
                serde_json::json!({"adcode": "11010", "name": "x"}),
                116.3,
                39.8,
                0.05,
            ),
            "11010",
        ),
        (
            serde_json::json!({"type": "Feature", "properties": {"adcode": "110102", "name": "西城区"},
                "geometry": {"type": "LineString", "coordinates": [[116.3, 39.8], [116.4, 39.9]]}}),
            "Polygon",
        ),
    ];
    for (bad, says) in cases {
        let file = write_collection(dir.path(), "bad.geojson", vec![good.clone(), bad]);
        let out = yizhan(&["regions", "import", &file], &db.url).await;
        let err = stderr(&out);
        assert!(!out.status.success(), "{says}: must fail: {err}");
        assert!(
            err.contains("row 2") && err.contains(says),
            "{says}: names feature 2 and why: {err}"
        );
        assert!(err.contains("nothing was imported"), "{err}");
        assert_eq!(
            store.load_regions().await.unwrap(),
            before,
            "{says}: the store is unchanged"
        );
    }
}

/// Upserting by adcode keeps one row per code and replaces its name, level, parent and outline.
#[tokio::test]
async fn upserted_regions_replace_by_adcode() {
    let db = TestDb::new().await;
    let store = db.connect().await;
    let outline = |x: f64| {
        geo::MultiPolygon(vec![geo::Polygon::new(
            geo::LineString::from(vec![(x, 30.0), (x + 0.1, 30.0), (x + 0.1, 30.1), (x, 30.0)]),
            vec![],
        )])
    };
    let county = |name: &str, x: f64| {
        Region::new(
            code(360_102),
            name,
            RegionLevel::County,
            Some(code(360_100)),
            outline(x),
        )
        .unwrap()
    };
    assert_eq!(
        store
            .upsert_regions(&[county("东湖区", 115.0)])
            .await
            .unwrap(),
        1
    );
    store
        .upsert_regions(&[county("东湖区（新）", 116.0)])
        .await
        .unwrap();
    let stored = store.load_regions().await.unwrap();
    assert_eq!(stored, [county("东湖区（新）", 116.0)]);
    assert!(store.has_regions().await.unwrap());
}

/// `ogrinfo`, or `None` when GDAL is missing outside CI (CI installs it; a missing tool there
/// is a failure, not a skip).
fn ogrinfo(args: &[&str]) -> Option<String> {
    let out = match std::process::Command::new("ogrinfo").args(args).output() {
        Ok(o) => o,
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("SKIPPED: `ogrinfo` could not run ({e}); apt-get install -y gdal-bin");
            return None;
        }
        Err(e) => panic!("`ogrinfo` could not run in CI: {e}"),
    };
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ogrinfo {args:?} failed: {err}");
    assert!(
        !err.contains("ERROR") && !err.contains("Warning"),
        "ogrinfo {args:?} complained: {err}"
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The GeoPackage's `regions` layer is what QGIS shows: GDAL lists it with every region, as
/// multipolygons in EPSG:4326 inside Jiangxi, with the extent and spatial index filled.
/// About the file format, so always on its own GeoPackage whichever store the others use.
#[tokio::test]
async fn regions_layer_reads_back_in_gdal() {
    let db = TestDb::sqlite();
    let path = db.dir.as_ref().unwrap().path().join("yizhan.gpkg");
    {
        let store = db.connect().await;
        let n = yizhan::io::seed::seed_regions_if_empty(store.as_ref())
            .await
            .unwrap();
        assert_eq!(n, 112);
        store.close().await;
    }
    let file = path.to_str().unwrap();
    let Some(summary) = ogrinfo(&["-so", file, "regions"]) else {
        return;
    };
    assert!(summary.contains("Geometry: Multi Polygon"), "{summary}");
    assert!(summary.contains("Feature Count: 112"), "{summary}");
    assert!(summary.contains("ID[\"EPSG\",4326]"), "{summary}");
    let extent = summary
        .lines()
        .find_map(|l| l.strip_prefix("Extent: "))
        .unwrap_or_else(|| panic!("no extent: {summary}"));
    let nums: Vec<f64> = extent
        .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .filter(|s| !s.is_empty() && *s != "-")
        .map(|s| s.parse().unwrap())
        .collect();
    // Jiangxi spans about 113.6–118.5° E, 24.5–30.1° N.
    assert!(
        nums.len() == 4
            && (113.0..114.0).contains(&nums[0])
            && (24.0..25.0).contains(&nums[1])
            && (118.0..119.0).contains(&nums[2])
            && (29.5..30.5).contains(&nums[3]),
        "extent {extent}"
    );
    for field in [
        "adcode: Integer",
        "name: String",
        "level: String",
        "parent_adcode: Integer",
    ] {
        assert!(summary.contains(field), "{field} in {summary}");
    }

    // GDAL answers a window through the R-tree, and reads the attributes back.
    let index = ogrinfo(&[
        "-q",
        file,
        "-sql",
        "SELECT HasSpatialIndex('regions','geom')",
    ])
    .unwrap();
    assert!(
        index
            .lines()
            .any(|l| l.contains("HasSpatialIndex") && l.trim_end().ends_with("= 1")),
        "{index}"
    );
    let nanchang = ogrinfo(&["-q", file, "regions", "-where", "adcode = 360100"]).unwrap();
    assert!(
        nanchang.contains("name (String) = 南昌市") && nanchang.contains("MULTIPOLYGON"),
        "{nanchang}"
    );
    let window = ogrinfo(&[
        "-so", "-spat", "115.85", "28.65", "115.95", "28.75", file, "regions",
    ])
    .unwrap();
    let n: usize = window
        .lines()
        .find_map(|l| l.strip_prefix("Feature Count: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        (3..112).contains(&n),
        "a window in Nanchang meets a few regions, got {n}"
    );
}
