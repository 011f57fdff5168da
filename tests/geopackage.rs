//! The embedded store's file is a valid OGC GeoPackage: GDAL's `ogrinfo` reads it back with
//! the right feature count, extent and CRS, and the metadata tables agree with the data.
//!
//! This is about the file format, so it always runs on its own temporary GeoPackage, whichever
//! store `YIZHAN_TEST_STORE` selects for the other tests.

mod common;

use common::*;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use std::path::Path;
use std::process::Command;
use std::str::FromStr;

/// Jiangxi's extent with a margin: every demo station lies inside it.
const JIANGXI: (f64, f64, f64, f64) = (113.5, 24.4, 118.5, 30.1);

/// Data rows of the shipped demo seeds: what an empty store is seeded with.
fn seed_count() -> usize {
    let csv =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/stations.csv"))
            .expect("reading seeds/stations.csv");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    reader.records().count()
}

fn ogrinfo(args: &[&str]) -> String {
    let out = match Command::new("ogrinfo").args(args).output() {
        Ok(o) => o,
        Err(e) => panic!(
            "\n\n`ogrinfo` could not run ({e}). The GeoPackage test needs GDAL: \
             apt-get install -y gdal-bin (CI installs it).\n\n"
        ),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ogrinfo {args:?} failed: {stderr}");
    assert!(
        !stderr.contains("ERROR") && !stderr.contains("Warning"),
        "ogrinfo {args:?} complained: {stderr}"
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `Extent: (minx, miny) - (maxx, maxy)` from ogrinfo's summary.
fn parse_extent(summary: &str) -> (f64, f64, f64, f64) {
    let line = summary
        .lines()
        .find_map(|l| l.strip_prefix("Extent: "))
        .unwrap_or_else(|| panic!("no Extent in ogrinfo output:\n{summary}"));
    let nums: Vec<f64> = line
        .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .filter(|s| !s.is_empty() && *s != "-")
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(nums.len(), 4, "extent line {line:?}");
    (nums[0], nums[1], nums[2], nums[3])
}

fn feature_count(summary: &str) -> usize {
    summary
        .lines()
        .find_map(|l| l.strip_prefix("Feature Count: "))
        .unwrap_or_else(|| panic!("no Feature Count in ogrinfo output:\n{summary}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn seeded_geopackage_reads_back_in_gdal_with_count_extent_and_crs() {
    let db = TestDb::sqlite();
    let path = db.dir.as_ref().unwrap().path().join("yizhan.gpkg");
    {
        let store = db.connect().await;
        let n = yizhan::io::seed::seed_if_empty(store.as_ref())
            .await
            .expect("seeding");
        assert_eq!(n, seed_count());
    }
    let file = path.to_str().unwrap();
    let want = seed_count();

    let summary = ogrinfo(&["-so", file, "stations"]);
    assert!(
        summary.contains("using driver `GPKG' successful"),
        "{summary}"
    );
    assert!(summary.contains("Geometry: Point"), "{summary}");
    assert_eq!(feature_count(&summary), want, "{summary}");
    let (minx, miny, maxx, maxy) = parse_extent(&summary);
    let (w, s, e, n) = JIANGXI;
    assert!(
        minx >= w && miny >= s && maxx <= e && maxy <= n && minx < maxx && miny < maxy,
        "extent ({minx}, {miny}) - ({maxx}, {maxy}) is not inside Jiangxi"
    );
    assert!(summary.contains("GEOGCRS[\"WGS 84\""), "{summary}");
    assert!(summary.contains("ID[\"EPSG\",4326]"), "{summary}");

    // GDAL sees the spatial index and answers a window through it.
    let has_index = ogrinfo(&[
        "-q",
        file,
        "-sql",
        "SELECT HasSpatialIndex('stations','geom')",
    ]);
    assert!(
        has_index
            .lines()
            .any(|l| l.contains("HasSpatialIndex") && l.trim_end().ends_with("= 1")),
        "{has_index}"
    );

    // The metadata agrees with the rows: SQLite itself, no GDAL.
    let mut conn = SqliteConnectOptions::from_str(&format!("sqlite://{file}"))
        .unwrap()
        .read_only(true)
        .connect()
        .await
        .unwrap();
    let (rows, rx0, ry0, rx1, ry1): (i64, f64, f64, f64, f64) = sqlx::query_as(
        "SELECT count(*), min(minx), min(miny), max(maxx), max(maxy) FROM rtree_stations_geom",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(rows as usize, want, "rtree rows = features");
    let (cx0, cy0, cx1, cy1): (f64, f64, f64, f64) = sqlx::query_as(
        "SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = 'stations'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    // The stations' true extent, from the stored coordinates.
    let store = db.connect().await;
    let all = store.load_stations().await.unwrap();
    let tx0 = all
        .iter()
        .map(|s| s.location.lon)
        .fold(f64::INFINITY, f64::min);
    let ty0 = all
        .iter()
        .map(|s| s.location.lat)
        .fold(f64::INFINITY, f64::min);
    let tx1 = all
        .iter()
        .map(|s| s.location.lon)
        .fold(f64::NEG_INFINITY, f64::max);
    let ty1 = all
        .iter()
        .map(|s| s.location.lat)
        .fold(f64::NEG_INFINITY, f64::max);
    // The R*Tree stores 32-bit floats rounded outwards: the extent may be larger by ~1e-5°.
    let close = |a: f64, b: f64| (a - b).abs() < 2e-5;
    assert!(
        close(cx0, tx0) && close(cy0, ty0) && close(cx1, tx1) && close(cy1, ty1),
        "gpkg_contents extent ({cx0},{cy0})-({cx1},{cy1}) vs stations ({tx0},{ty0})-({tx1},{ty1})"
    );
    assert!(
        cx0 <= tx0 && cy0 <= ty0 && cx1 >= tx1 && cy1 >= ty1,
        "the extent encloses all"
    );
    assert!(
        close(rx0, tx0) && close(ry0, ty0) && close(rx1, tx1) && close(ry1, ty1),
        "rtree extent ({rx0},{ry0})-({rx1},{ry1})"
    );
    // Every feature has exactly its own box in the index.
    let orphans: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM stations s LEFT JOIN rtree_stations_geom r ON r.id = s.fid \
         WHERE r.id IS NULL",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(orphans, 0, "stations missing from the rtree");
    let srs: (String, i64) = sqlx::query_as(
        "SELECT geometry_type_name, srs_id FROM gpkg_geometry_columns WHERE table_name = 'stations'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(srs, ("POINT".to_string(), 4326));
    let app_id: i64 = sqlx::query_scalar("PRAGMA application_id")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(app_id, 0x4750_4B47, "application_id 'GPKG'");
    conn.close().await.unwrap();

    // A spatial filter through GDAL counts what a plain scan of the coordinates counts.
    let window = (115.8, 28.6, 116.0, 28.8);
    let filtered = ogrinfo(&[
        "-so",
        "-spat",
        &window.0.to_string(),
        &window.1.to_string(),
        &window.2.to_string(),
        &window.3.to_string(),
        file,
        "stations",
    ]);
    let inside = all
        .iter()
        .filter(|s| {
            (window.0..=window.2).contains(&s.location.lon)
                && (window.1..=window.3).contains(&s.location.lat)
        })
        .count();
    assert!(inside > 0);
    assert_eq!(feature_count(&filtered), inside, "{filtered}");
}

/// Geometry blobs carry EPSG:4326 in their GeoPackage header (srs_id 0 would misplace points
/// in QGIS), and GDAL decodes them to the stored coordinates.
#[tokio::test]
async fn geometry_blobs_carry_srid_4326_and_decode_in_gdal() {
    let db = TestDb::sqlite();
    let path = db.dir.as_ref().unwrap().path().join("yizhan.gpkg");
    {
        let store = db.connect().await;
        store
            .insert_stations(&[new_station("SRID-1", (115.884653, 28.680051))])
            .await
            .unwrap();
    }
    let file = path.to_str().unwrap();
    let mut conn = SqliteConnectOptions::from_str(&format!("sqlite://{file}"))
        .unwrap()
        .read_only(true)
        .connect()
        .await
        .unwrap();
    let blob: Vec<u8> = sqlx::query_scalar("SELECT geom FROM stations")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    assert_eq!(&blob[..2], b"GP", "GeoPackage binary magic");
    let little_endian = blob[3] & 1 == 1;
    let srs = if little_endian {
        i32::from_le_bytes(blob[4..8].try_into().unwrap())
    } else {
        i32::from_be_bytes(blob[4..8].try_into().unwrap())
    };
    assert_eq!(srs, 4326);

    let features = ogrinfo(&["-q", file, "stations"]);
    assert!(
        features.contains("POINT (115.884653 28.680051)"),
        "{features}"
    );
}

/// GDAL reads the GeoPackage header straight from the file, not through SQLite: while the
/// service runs (WAL mode, connections open) the file itself must already say 'GPKG'.
#[tokio::test]
async fn the_file_header_says_gpkg_while_the_store_is_open() {
    let db = TestDb::sqlite();
    let path = db.dir.as_ref().unwrap().path().join("yizhan.gpkg");
    let store = db.connect().await;
    store
        .insert_stations(&[new_station("HDR-1", NANCHANG)])
        .await
        .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() >= 100, "a SQLite file has a 100-byte header");
    assert_eq!(&bytes[..16], b"SQLite format 3\0");
    let application_id = u32::from_be_bytes(bytes[68..72].try_into().unwrap());
    let user_version = u32::from_be_bytes(bytes[60..64].try_into().unwrap());
    assert_eq!(
        application_id, 0x4750_4B47,
        "application_id 'GPKG' in the file header"
    );
    assert_eq!(
        user_version, 10300,
        "GeoPackage 1.3 user_version in the file header"
    );
    let summary = ogrinfo(&["-so", path.to_str().unwrap(), "stations"]);
    assert_eq!(feature_count(&summary), 1, "{summary}");
    drop(store);
}
