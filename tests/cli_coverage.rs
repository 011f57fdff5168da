//! `yizhan coverage`, run as the built binary against a seeded application's store (the one
//! `YIZHAN_TEST_STORE` names): the CSV is the API's county table, the GeoJSON holds the API's
//! gaps, the GeoPackage reads in GDAL without a warning, and a refused run writes nothing.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Output;

/// 东湖区, Nanchang: a small county, measured in well under a second.
const REGION: &str = "360102";

/// Runs the binary with `args` plus `--database-url`, with none of the developer's settings.
async fn yizhan(args: &[&str], database_url: &str) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_yizhan"));
    cmd.args(args)
        .arg("--database-url")
        .arg(database_url)
        .env("RUST_LOG", "warn");
    for var in [
        "DATABASE_URL",
        "YIZHAN_WALK_KMH",
        "YIZHAN_EBIKE_KMH",
        "YIZHAN_DETOUR",
        "YIZHAN_TZ",
        "YIZHAN_OSM",
    ] {
        cmd.env_remove(var);
    }
    cmd.output().await.expect("running the yizhan binary")
}

/// `yizhan coverage --region 360102 --res 9 <extra…> --out <out>`.
async fn coverage(app: &TestApp, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["coverage", "--region", REGION, "--res", "9"];
    args.extend_from_slice(extra);
    args.extend(["--out", out.to_str().unwrap()]);
    yizhan(&args, &app.database_url).await
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The names in a directory, sorted (temporary files would show up here).
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `ogrinfo ARGS`' standard output, asserting success and a clean standard error; `None` when
/// GDAL is missing (a failure under `CI`, a loud skip elsewhere).
fn ogrinfo(args: &[&str]) -> Option<String> {
    let out = match std::process::Command::new("ogrinfo").args(args).output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if std::env::var_os("CI").is_some() {
                panic!("`ogrinfo` is missing ({e}); CI must install gdal-bin");
            }
            eprintln!(
                "\n\nSKIPPED: `ogrinfo` is missing ({e}): the GeoPackage is not checked with GDAL. \
                 apt-get install -y gdal-bin\n\n"
            );
            return None;
        }
        Err(e) => panic!("ogrinfo {args:?} could not run: {e}"),
    };
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ogrinfo {args:?} failed: {err}");
    assert!(
        err.trim().is_empty(),
        "ogrinfo {args:?} printed on stderr: {err}"
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The part of `ogrinfo -al` output that describes one layer.
fn layer_section<'a>(summary: &'a str, layer: &str) -> &'a str {
    let start = summary
        .find(&format!("Layer name: {layer}\n"))
        .unwrap_or_else(|| panic!("no layer {layer} in:\n{summary}"));
    let rest = &summary[start..];
    let end = rest[1..].find("Layer name: ").map_or(rest.len(), |i| i + 1);
    &rest[..end]
}

fn feature_count(section: &str) -> usize {
    section
        .lines()
        .find_map(|l| l.strip_prefix("Feature Count: "))
        .unwrap_or_else(|| panic!("no Feature Count in:\n{section}"))
        .trim()
        .parse()
        .unwrap()
}

/// `name (Type) = value` from `ogrinfo` feature output.
fn attribute<'a>(features: &'a str, name: &str) -> &'a str {
    features
        .lines()
        .find_map(|l| {
            let l = l.trim();
            l.strip_prefix(name)
                .filter(|r| r.starts_with(" ("))
                .and_then(|r| r.split_once(" = "))
                .map(|(_, v)| v)
        })
        .unwrap_or_else(|| panic!("no attribute {name} in:\n{features}"))
}

#[tokio::test]
async fn csv_is_the_county_table_the_api_serves() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("counties.csv");

    let out = coverage(&app, &file, &[]).await;
    let err = stderr(&out);
    assert!(out.status.success(), "coverage failed: {err}");
    let summary = err.lines().last().unwrap_or_default();
    for needle in [REGION, "covered", "km²", "cells", "ms", "counties.csv"] {
        assert!(summary.contains(needle), "summary says {needle:?}: {err}");
    }

    let written = std::fs::read_to_string(&file).unwrap();
    let res = app
        .get(&format!(
            "/api/v1/coverage?region={REGION}&res=9&format=csv"
        ))
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let served = res.text().await.unwrap();
    assert_eq!(written, served, "the CLI's CSV differs from the API's");

    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(
        lines[0],
        "adcode,name,cells,covered_cells,area_km2,covered_km2,uncovered_km2,covered_share,stations,stations_per_10km2"
    );
    assert!(lines[1].starts_with(&format!("{REGION},")), "{written}");
    assert!(lines.last().unwrap().starts_with("total,"), "{written}");
    assert_eq!(lines.len(), 3, "header, the county, the total: {written}");
    assert_eq!(
        listing(dir.path()),
        ["counties.csv"],
        "no temporary file left"
    );
}

#[tokio::test]
async fn geojson_holds_the_gaps_the_api_serves() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gaps.geojson");

    // Five minutes on foot leaves gaps even in the city centre.
    let out = coverage(&app, &file, &["--minutes", "5", "--mode", "walk"]).await;
    assert!(out.status.success(), "coverage failed: {}", stderr(&out));
    let fc: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).expect("the file is JSON");
    assert_eq!(fc["type"], "FeatureCollection");
    assert_eq!(fc["region"]["adcode"], REGION);
    assert_eq!(fc["mode"], "walk");
    assert_eq!(fc["minutes"], 5.0);
    assert_eq!(fc["res"], 9);
    assert!(
        fc["attribution"]
            .as_str()
            .unwrap()
            .contains("边界数据来源：高德"),
        "{}",
        fc["attribution"]
    );
    let features = fc["features"].as_array().expect("features");
    assert!(!features.is_empty(), "5 minutes on foot leaves gaps");
    for f in features {
        assert_eq!(f["type"], "Feature");
        assert_eq!(f["geometry"]["type"], "MultiPolygon");
        assert_eq!(f["properties"]["adcode"], REGION);
        assert!(f["properties"]["uncovered_km2"].as_f64().unwrap() > 0.0);
    }

    let (status, body) = app
        .get_json(&format!(
            "/api/v1/coverage?region={REGION}&res=9&minutes=5&mode=walk"
        ))
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert_eq!(
        fc["features"], body["gaps"]["features"],
        "the CLI's gaps differ from the API's"
    );
}

#[tokio::test]
async fn geopackage_reads_in_gdal_with_gaps_counties_and_the_run() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("coverage.gpkg");
    let path = file.to_str().unwrap();

    let out = coverage(&app, &file, &["--minutes", "5"]).await;
    assert!(out.status.success(), "coverage failed: {}", stderr(&out));
    assert_eq!(
        listing(dir.path()),
        ["coverage.gpkg"],
        "no journal or temporary file left"
    );
    // GDAL reads the header from the file: it must say GeoPackage 1.3.
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(&bytes[..16], b"SQLite format 3\0");
    assert_eq!(
        u32::from_be_bytes(bytes[68..72].try_into().unwrap()),
        0x4750_4B47,
        "application_id 'GPKG'"
    );
    assert_eq!(u32::from_be_bytes(bytes[60..64].try_into().unwrap()), 10300);

    let (_, api) = app
        .get_json(&format!("/api/v1/coverage?region={REGION}&res=9&minutes=5"))
        .await;
    let api_gaps = api["gaps"]["features"].as_array().unwrap().len();
    let api_county = &api["counties"][0];

    let Some(summary) = ogrinfo(&["-so", "-al", path]) else {
        return;
    };
    assert!(
        summary.contains("using driver `GPKG' successful"),
        "{summary}"
    );
    let gaps = layer_section(&summary, "gaps");
    let counties = layer_section(&summary, "counties");
    let run = layer_section(&summary, "coverage_run");
    assert_eq!(feature_count(gaps), api_gaps, "{gaps}");
    assert_eq!(feature_count(counties), 1, "{counties}");
    assert_eq!(feature_count(run), 1, "{run}");
    for layer in [gaps, counties] {
        assert!(layer.contains("Geometry: Multi Polygon"), "{layer}");
        assert!(layer.contains("ID[\"EPSG\",4326]"), "{layer}");
        assert!(layer.contains("adcode: String"), "{layer}");
    }
    assert!(run.contains("Geometry: None"), "{run}");
    assert!(gaps.contains("uncovered_km2: Real"), "{gaps}");
    for field in [
        "cells: Integer",
        "covered_cells: Integer",
        "area_km2: Real",
        "covered_km2: Real",
        "uncovered_km2: Real",
        "covered_share: Real",
        "stations: Integer",
        "stations_per_10km2: Real",
    ] {
        assert!(counties.contains(field), "counties has {field}: {counties}");
    }
    assert!(
        !counties.contains("demand"),
        "no demand is stored, so no demand column: {counties}"
    );

    // The county's figures are the API's.
    let Some(features) = ogrinfo(&["-q", path, "counties"]) else {
        return;
    };
    assert_eq!(attribute(&features, "adcode"), REGION);
    for name in ["covered_share", "uncovered_km2", "area_km2"] {
        let got: f64 = attribute(&features, name).parse().unwrap();
        let want = api_county[name].as_f64().unwrap();
        assert!(
            (got - want).abs() <= 1e-9 * want.abs().max(1.0),
            "{name}: {got} vs {want}"
        );
    }
    for name in ["cells", "covered_cells", "stations"] {
        assert_eq!(
            attribute(&features, name),
            api_county[name].to_string(),
            "{name}"
        );
    }

    let Some(rows) = ogrinfo(&["-q", path, "coverage_run"]) else {
        return;
    };
    assert_eq!(attribute(&rows, "region"), REGION);
    assert_eq!(attribute(&rows, "mode"), "walk");
    assert_eq!(attribute(&rows, "res"), "9");
    assert_eq!(attribute(&rows, "open"), "any");
    assert_eq!(attribute(&rows, "travel"), "straight_line");
    assert!(attribute(&rows, "attribution").contains("边界数据来源：高德"));
    assert_eq!(
        attribute(&rows, "cells"),
        api["total"]["cells"].to_string(),
        "the run carries the totals"
    );
}

#[tokio::test]
async fn an_unknown_region_fails_and_writes_nothing() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    for name in ["c.gpkg", "c.geojson", "c.csv"] {
        let file = dir.path().join(name);
        let out = yizhan(
            &[
                "coverage",
                "--region",
                "999999",
                "--out",
                file.to_str().unwrap(),
            ],
            &app.database_url,
        )
        .await;
        let err = stderr(&out);
        assert!(!out.status.success(), "{name}: must fail: {err}");
        assert!(
            err.contains("no region with adcode 999999"),
            "{name}: {err}"
        );
        assert!(listing(dir.path()).is_empty(), "{name}: nothing written");
    }
}

#[tokio::test]
async fn bad_arguments_are_refused_before_anything_is_written() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let file = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let shp = file("c.shp");
    let csv = file("c.csv");
    let cases: Vec<(Vec<&str>, &[&str])> = vec![
        (
            vec!["coverage", "--region", REGION, "--out", &shp],
            &[".gpkg", ".geojson", ".csv"],
        ),
        (vec!["coverage", "--out", &csv], &["--region", "--bbox"]),
        (
            vec![
                "coverage",
                "--region",
                REGION,
                "--bbox",
                "115.8,28.6,116,28.8",
                "--out",
                &csv,
            ],
            &["--bbox"],
        ),
        (
            vec!["coverage", "--region", "3601", "--out", &csv],
            &["adcode"],
        ),
        (
            vec![
                "coverage",
                "--region",
                REGION,
                "--minutes",
                "0",
                "--out",
                &csv,
            ],
            &["minutes"],
        ),
        (
            vec!["coverage", "--region", REGION, "--res", "12", "--out", &csv],
            &["res"],
        ),
        (
            vec![
                "coverage", "--region", REGION, "--mode", "car", "--out", &csv,
            ],
            &["walk", "ebike"],
        ),
    ];
    for (args, needles) in cases {
        let out = yizhan(&args, &app.database_url).await;
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?} must fail: {err}");
        for n in needles {
            assert!(err.contains(n), "{args:?} says {n:?}: {err}");
        }
        assert!(listing(dir.path()).is_empty(), "{args:?}: nothing written");
    }
}

#[tokio::test]
async fn an_existing_file_is_kept_unless_forced() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    for name in ["c.csv", "c.gpkg"] {
        let file = dir.path().join(name);
        std::fs::write(&file, "keep me").unwrap();
        let out = coverage(&app, &file, &[]).await;
        let err = stderr(&out);
        assert!(!out.status.success(), "{name}: must refuse: {err}");
        assert!(
            err.contains("already exists") && err.contains("--force"),
            "{name}: {err}"
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");

        let out = coverage(&app, &file, &["--force"]).await;
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        assert_ne!(std::fs::read(&file).unwrap(), b"keep me");
    }
    assert_eq!(listing(dir.path()), ["c.csv", "c.gpkg"]);
    assert!(std::fs::read_to_string(dir.path().join("c.csv"))
        .unwrap()
        .starts_with("adcode,name,"));
}

/// Even with `--force`, the store's own GeoPackage is never the output (however it is spelt).
#[tokio::test]
async fn the_store_file_is_never_written() {
    let app = spawn_app().await;
    if app.db.backend != Backend::Sqlite {
        return;
    }
    let db_dir = app.db.dir.as_ref().unwrap().path();
    let before = app.count().await;
    for spelling in [
        db_dir.join("yizhan.gpkg"),
        db_dir.join(".").join("yizhan.gpkg"),
    ] {
        let out = coverage(&app, &spelling, &["--force"]).await;
        let err = stderr(&out);
        assert!(
            !out.status.success(),
            "{}: must refuse: {err}",
            spelling.display()
        );
        assert!(err.contains("is the store itself"), "{err}");
    }
    assert_eq!(app.count().await, before, "the store is untouched");
    let (status, _) = app.get_json(&format!("/api/v1/regions/{REGION}")).await;
    assert_eq!(status, reqwest::StatusCode::OK);
}

/// With demand stored, every file carries the demand figures (and `--demand none` drops them).
#[tokio::test]
async fn stored_demand_adds_demand_columns_to_every_file() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let points = dir.path().join("demand.csv");
    std::fs::write(
        &points,
        "lat,lon,weight\n28.69,115.91,10\n28.70,115.92,5\n28.72,115.93,3\n",
    )
    .unwrap();
    let out = yizhan(
        &["demand", "import", points.to_str().unwrap()],
        &app.database_url,
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));

    let csv = dir.path().join("with.csv");
    let out = coverage(&app, &csv, &[]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(
        text.lines()
            .next()
            .unwrap()
            .ends_with(",stations_per_10km2,demand,covered_demand,covered_demand_share"),
        "{text}"
    );
    let total: Vec<&str> = text.lines().last().unwrap().split(',').collect();
    let demand: f64 = total[10].parse().unwrap();
    // Points on the county's edge may fall outside its cells: most lie inside.
    assert!((10.0..=18.0).contains(&demand), "{text}");

    let without = dir.path().join("without.csv");
    let out = coverage(&app, &without, &["--demand", "none"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!std::fs::read_to_string(&without)
        .unwrap()
        .contains("demand"));

    let gpkg = dir.path().join("with.gpkg");
    let out = coverage(&app, &gpkg, &[]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let path = gpkg.to_str().unwrap();
    let Some(summary) = ogrinfo(&["-so", "-al", path]) else {
        return;
    };
    let counties = layer_section(&summary, "counties");
    for field in [
        "demand: Real",
        "covered_demand: Real",
        "covered_demand_share: Real",
    ] {
        assert!(counties.contains(field), "counties has {field}: {counties}");
    }
    let Some(rows) = ogrinfo(&["-q", path, "coverage_run"]) else {
        return;
    };
    assert_eq!(attribute(&rows, "demand_source"), "import");
    assert_eq!(attribute(&rows, "demand").parse::<f64>().unwrap(), demand);
}
