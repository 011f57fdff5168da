//! Property-based fuzzing of every parser that reads outside input, called directly: opening
//! hours, query values (bbox, crs, mode, amenities, adcodes, report filters), login names,
//! station CSV and GeoJSON imports, region GeoJSON, demand CSV, station merge patches and
//! report bodies. Each gets arbitrary text plus structure-aware inputs (valid values built from
//! the grammar, then mutated). Properties: no panic, an `Invalid`/`ImportError` with a stable
//! code or a row number in range for bad input, the same values back for valid input, and a
//! bounded time per input. `tests/fuzz_http.rs` drives the same inputs through the server.

use chrono::{NaiveDate, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use yizhan::domain::report::{NewReport, ReportStatus, Resolution};
use yizhan::domain::{
    Adcode, AmenitySet, BBox, Crs, Hours, Invalid, Login, LonLat, Mode, Station, StationPatch,
};
use yizhan::io::import::{parse_csv, parse_geojson, ImportError};

mod fuzz_support;
use fuzz_support::*;

/// Generous for a debug build on a busy machine: real inputs take microseconds to milliseconds.
const BOUND: Duration = Duration::from_secs(2);

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..Config::default()
    }
}

/// Runs `f`, failing the case when it takes longer than [`BOUND`].
fn timed<T>(what: &str, input: &dyn std::fmt::Debug, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    let took = started.elapsed();
    assert!(took < BOUND, "{what} took {took:?} on {input:?}");
    out
}

/// Every validation error names a code and says what was wrong.
fn assert_clear(e: &Invalid) {
    assert!(!e.code.is_empty() && !e.message.is_empty(), "{e:?}");
}

/// A valid station row: code, name, county, lon, lat, amenities, hours.
type Row = (String, String, String, f64, f64, Vec<String>, String);

/// A valid station row.
fn valid_station() -> impl Strategy<Value = Row> {
    (
        "[A-Za-z0-9_-]{1,20}",
        "[a-zA-Z0-9 驿站测试（）]{0,30}[a-z驿]",
        "[0-9]{6}",
        -180.0f64..=180.0,
        -90.0f64..=90.0,
        prop::collection::vec(
            prop::sample::select(
                yizhan::domain::amenity::ALL
                    .iter()
                    .map(|a| a.key().to_string())
                    .collect::<Vec<_>>(),
            ),
            0..5,
        ),
        prop::sample::select(HOURS_SEEDS.to_vec()).prop_map(str::to_string),
    )
}

// ---- opening hours --------------------------------------------------------------------------

fn check_hours(input: &str) {
    match timed("parsing opening_hours", &input, || input.parse::<Hours>()) {
        Ok(h) => {
            assert_eq!(h.as_str(), input.trim());
            assert!(h.as_str().len() <= 255);
            for (y, m, d, hh) in [(2026, 12, 2, 12), (2026, 1, 1, 0), (2027, 2, 28, 23)] {
                let when = NaiveDate::from_ymd_opt(y, m, d)
                    .and_then(|d| d.and_hms_opt(hh, 59, 0))
                    .expect("a valid instant");
                timed("evaluating opening_hours", &input, || h.is_open_at(when));
            }
        }
        Err(e) => {
            assert_eq!(e.code, "invalid_opening_hours", "{e:?}");
            assert_clear(&e);
        }
    }
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn opening_hours_from_the_grammar_parse_and_evaluate_quickly(expr in hours_expression()) {
        check_hours(&expr);
    }

    #[test]
    fn opening_hours_mutated_or_arbitrary_never_panic(
        seed in prop::sample::select(HOURS_SEEDS.to_vec()),
        edits in edits(),
        junk in text(),
    ) {
        check_hours(&mutate(seed.to_string(), edits));
        check_hours(&junk);
    }
}

// ---- query values ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn bbox_text_is_four_ordered_numbers_or_a_clear_error(
        parts in prop::collection::vec(number_text(), 0..6),
        sep in prop::sample::select(vec![",", ", ", ";", ",,"]),
        junk in text(),
    ) {
        for input in [parts.join(sep), junk] {
            match timed("parsing a bbox", &input, || input.parse::<BBox>()) {
                Ok(b) => {
                    prop_assert!(b.min.lon < b.max.lon && b.min.lat < b.max.lat);
                    prop_assert!(b.max.lon - b.min.lon <= 10.0 && b.max.lat - b.min.lat <= 10.0);
                    prop_assert!(LonLat::new(b.min.lon, b.min.lat).is_ok());
                    prop_assert!(LonLat::new(b.max.lon, b.max.lat).is_ok());
                }
                Err(e) => {
                    prop_assert!(["invalid_bbox", "bbox_too_large"].contains(&e.code), "{e:?}");
                    assert_clear(&e);
                }
            }
        }
    }

    #[test]
    fn query_words_parse_or_name_what_was_wrong(input in text()) {
        match input.parse::<Crs>() {
            Ok(c) => prop_assert!(Crs::ALL.contains(&c)),
            Err(e) => { prop_assert_eq!(e.code, "invalid_crs"); assert_clear(&e) }
        }
        match input.parse::<Mode>() {
            Ok(m) => prop_assert_eq!(m.as_str(), input.as_str()),
            Err(e) => { prop_assert_eq!(e.code, "invalid_mode"); assert_clear(&e) }
        }
        match AmenitySet::parse_list(&input, ',') {
            Ok(set) => {
                let keys = set.keys();
                for part in input.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    prop_assert!(keys.contains(&part), "{part} lost from {input:?}");
                }
            }
            Err(e) => { prop_assert_eq!(e.code, "unknown_amenity"); assert_clear(&e) }
        }
        match input.parse::<Adcode>() {
            Ok(a) => prop_assert!((100_000..=999_999).contains(&a.get())),
            Err(e) => { prop_assert_eq!(e.code, "invalid_adcode"); assert_clear(&e) }
        }
        match ReportStatus::parse_filter(Some(&input)) {
            Ok(_) => prop_assert!(["", "open", "resolved", "all"].contains(&input.trim())),
            Err(e) => { prop_assert_eq!(e.code, "invalid_status"); assert_clear(&e) }
        }
        match Login::new(&input) {
            Ok(l) => {
                prop_assert_eq!(l.as_str(), input.to_ascii_lowercase());
                prop_assert!((3..=64).contains(&l.as_str().len()));
            }
            Err(e) => { prop_assert_eq!(e.code, "invalid_login"); assert_clear(&e) }
        }
    }
}

// ---- station imports ------------------------------------------------------------------------

fn station_csv(rows: &[Row]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(yizhan::io::CSV_HEADER).expect("header");
    for (code, name, county, lon, lat, amenities, hours) in rows {
        w.write_record([
            code.as_str(),
            name,
            "测试路1号",
            county,
            &lon.to_string(),
            &lat.to_string(),
            &amenities.join(";"),
            hours,
            "",
            "true",
            "",
            "",
        ])
        .expect("row");
    }
    String::from_utf8(w.into_inner().expect("csv")).expect("utf-8")
}

fn check_import(
    what: &str,
    input: &[u8],
    rows: usize,
    parse: fn(&[u8]) -> Result<usize, ImportError>,
) {
    match timed(what, &String::from_utf8_lossy(input), || parse(input)) {
        Ok(n) => assert!(n <= rows.max(n), "{what}"),
        Err(ImportError::Row { row, reason }) => {
            assert!(
                row >= 1 && !reason.is_empty(),
                "{what}: row {row}: {reason:?}"
            );
        }
        Err(ImportError::File(m)) => assert!(!m.is_empty()),
        Err(ImportError::Store(e)) => panic!("{what}: a parser reached the store: {e}"),
    }
}

fn csv_count(b: &[u8]) -> Result<usize, ImportError> {
    parse_csv(b).map(|p| p.stations.len())
}

fn geojson_count(b: &[u8]) -> Result<usize, ImportError> {
    parse_geojson(b).map(|p| p.stations.len())
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn valid_station_csv_imports_exactly_and_mutated_csv_never_panics(
        mut rows in prop::collection::vec(valid_station(), 1..8),
        edits in edits(),
        junk in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        // Codes are unique in a valid file.
        for (i, r) in rows.iter_mut().enumerate() {
            r.0 = format!("{}-{i}", r.0);
        }
        let csv = station_csv(&rows);
        let parsed = timed("parsing a valid CSV", &csv, || parse_csv(csv.as_bytes()))
            .unwrap_or_else(|e| panic!("a valid file was refused: {e}\n{csv}"));
        let codes: Vec<&str> = parsed.stations.iter().map(|s| s.code.as_str()).collect();
        let want: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        prop_assert_eq!(codes, want);
        for (s, r) in parsed.stations.iter().zip(&rows) {
            prop_assert_eq!((s.location.lon, s.location.lat), (r.3, r.4));
            prop_assert_eq!(s.opening_hours.as_str(), r.6.as_str());
        }
        let mutated = mutate(csv, edits);
        check_import("parsing a mutated CSV", mutated.as_bytes(), rows.len() + 8, csv_count);
        check_import("parsing arbitrary bytes as CSV", &junk, 0, csv_count);
    }
}

/// A station feature whose fields are each valid or replaced by arbitrary JSON.
fn station_feature() -> impl Strategy<Value = Value> {
    (
        valid_station(),
        prop::collection::vec(
            (
                prop::sample::select(vec![
                    "/type",
                    "/geometry",
                    "/geometry/type",
                    "/geometry/coordinates",
                    "/properties",
                    "/properties/code",
                    "/properties/name",
                    "/properties/county",
                    "/properties/amenities",
                    "/properties/opening_hours",
                    "/properties/demo",
                    "/properties/phone",
                    "/properties/extra",
                ]),
                json_value(),
            ),
            0..3,
        ),
    )
        .prop_map(
            |((code, name, county, lon, lat, amenities, hours), damage)| {
                let mut f = json!({
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [lon, lat]},
                    "properties": {"code": code, "name": name, "county": county,
                        "amenities": amenities, "opening_hours": hours, "demo": true}
                });
                for (pointer, value) in damage {
                    set_pointer(&mut f, pointer, value);
                }
                f
            },
        )
}

/// Sets (or adds) the value at a JSON pointer whose parent exists as an object.
fn set_pointer(doc: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
    if let Some(Value::Object(m)) = doc.pointer_mut(parent) {
        m.insert(key.to_string(), value);
    }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn station_geojson_with_damaged_fields_is_refused_by_feature_number(
        features in prop::collection::vec(station_feature(), 0..6),
        wrapper in json_value(),
    ) {
        let n = features.len();
        let doc = json!({"type": "FeatureCollection", "features": features});
        let bytes = serde_json::to_vec(&doc).expect("json");
        match timed("parsing station GeoJSON", &doc, || parse_geojson(&bytes)) {
            Ok(p) => prop_assert!(p.stations.len() == n),
            Err(ImportError::Row { row, reason }) => {
                prop_assert!((1..=n).contains(&row), "row {} of {}: {}", row, n, reason);
            }
            Err(ImportError::File(m)) => prop_assert!(!m.is_empty()),
            Err(ImportError::Store(e)) => panic!("{e}"),
        }
        let bytes = serde_json::to_vec(&wrapper).expect("json");
        check_import("parsing arbitrary JSON as station GeoJSON", &bytes, 0, geojson_count);
    }
}

// ---- regions and demand ---------------------------------------------------------------------

/// A ring of a few points near (lon, lat): often valid, sometimes self-intersecting,
/// degenerate or open.
fn ring() -> impl Strategy<Value = Value> {
    (
        110.0f64..120.0,
        20.0f64..30.0,
        prop::collection::vec((-0.2f64..0.2, -0.2f64..0.2), 2..8),
        any::<bool>(),
    )
        .prop_map(|(x, y, offsets, close)| {
            let mut pts: Vec<Value> = offsets
                .iter()
                .map(|(dx, dy)| json!([x + dx, y + dy]))
                .collect();
            if close {
                pts.push(pts[0].clone());
            }
            Value::from(pts)
        })
}

fn region_feature() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec![
            "110101", "110102", "110100", "110000", "360102", "360100", "360000", "999999",
        ]),
        prop::collection::vec(prop::collection::vec(ring(), 1..3), 1..3),
        prop::option::of(prop::sample::select(vec![
            "county", "city", "province", "town",
        ])),
        prop::option::of(json_value()),
    )
        .prop_map(|(adcode, polygons, level, parent)| {
            let mut props = json!({"adcode": adcode, "name": format!("区{adcode}")});
            if let Some(l) = level {
                props["level"] = json!(l);
            }
            if let Some(p) = parent {
                props["parent_adcode"] = p;
            }
            let geometry = if polygons.len() == 1 {
                json!({"type": "Polygon", "coordinates": polygons[0]})
            } else {
                json!({"type": "MultiPolygon", "coordinates": polygons})
            };
            json!({"type": "Feature", "properties": props, "geometry": geometry})
        })
}

proptest! {
    #![proptest_config(config(160))]

    #[test]
    fn region_geojson_with_odd_outlines_never_panics(
        features in prop::collection::vec(region_feature(), 1..5),
        edits in edits(),
    ) {
        let doc = json!({"type": "FeatureCollection", "features": features});
        let text = doc.to_string();
        for input in [text.clone(), mutate(text, edits)] {
            let n = features.len();
            match timed("parsing region GeoJSON", &input,
                || yizhan::io::regions::parse_regions_geojson(input.as_bytes())) {
                Ok(regions) => prop_assert!(regions.len() >= n.min(1)),
                Err(ImportError::Row { row, reason }) => {
                    prop_assert!(row >= 1 && !reason.is_empty());
                }
                Err(ImportError::File(m)) => prop_assert!(!m.is_empty()),
                Err(ImportError::Store(e)) => panic!("{e}"),
            }
        }
    }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn demand_csv_valid_rows_import_exactly_and_mutations_never_panic(
        rows in prop::collection::vec(
            (-90.0f64..=90.0, -180.0f64..=180.0, 0.001f64..1e6, "[a-z外卖]{0,6}"), 1..20),
        edits in edits(),
        junk in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut csv = String::from("lat,lon,weight,label\n");
        for (lat, lon, w, label) in &rows {
            csv.push_str(&format!("{lat},{lon},{w},{label}\n"));
        }
        let points = timed("parsing demand CSV", &csv,
            || yizhan::io::demand::parse_demand_csv(csv.as_bytes()))
            .unwrap_or_else(|e| panic!("a valid demand file was refused: {e}\n{csv}"));
        prop_assert_eq!(points.len(), rows.len());
        for input in [mutate(csv, edits).into_bytes(), junk] {
            match timed("parsing mutated demand CSV", &String::from_utf8_lossy(&input),
                || yizhan::io::demand::parse_demand_csv(&input)) {
                Ok(p) => prop_assert!(p.iter().all(|d| d.weight.is_finite() && d.weight > 0.0)),
                Err(ImportError::Row { row, reason }) => prop_assert!(row >= 2 && !reason.is_empty()),
                Err(ImportError::File(m)) => prop_assert!(!m.is_empty()),
                Err(ImportError::Store(e)) => panic!("{e}"),
            }
        }
    }
}

// ---- merge patches and report bodies --------------------------------------------------------

fn station() -> Station {
    let now = Utc::now();
    yizhan::domain::NewStation {
        code: "FZ-1".into(),
        name: "（示例）站".into(),
        address: "路1号".into(),
        county: "360102".into(),
        location: LonLat::new(115.89, 28.68).expect("valid"),
        amenities: AmenitySet::from_keys(&["water"]).expect("valid"),
        opening_hours: "24/7".parse().expect("valid"),
        phone: Some("0791".into()),
        photo_url: None,
        notes: None,
        demo: true,
    }
    .into_station(1, now)
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn merge_patches_apply_to_valid_stations_or_name_the_bad_field(body in patch_body()) {
        let current = station();
        let now = Utc::now();
        let parsed = timed("reading a merge patch", &body,
            || serde_json::from_value::<StationPatch>(body.clone()));
        let Ok(patch) = parsed else { return Ok(()) };
        match timed("applying a merge patch", &body, || patch.apply(&current, now)) {
            Ok(after) => {
                // What a patch produces is a valid station: the same checks an import makes.
                let as_new = yizhan::domain::NewStation {
                    code: after.code.clone(),
                    name: after.name.clone(),
                    address: after.address.clone(),
                    county: after.county.clone(),
                    location: after.location,
                    amenities: after.amenities,
                    opening_hours: after.opening_hours.clone(),
                    phone: after.phone.clone(),
                    photo_url: after.photo_url.clone(),
                    notes: after.notes.clone(),
                    demo: after.demo,
                };
                prop_assert!(as_new.validate().is_ok(), "{:?} from {}", as_new.validate(), body);
                prop_assert!(LonLat::new(after.location.lon, after.location.lat).is_ok());
                if let Some(c) = &after.temporary_closure {
                    prop_assert!(c.until > now);
                }
                prop_assert_eq!(after.id, current.id);
            }
            Err(e) => assert_clear(&e),
        }
    }

    #[test]
    fn report_bodies_parse_or_name_the_bad_field(
        kind in prop_oneof![
            prop::sample::select(vec!["closed", "amenity_broken", "wrong_location", "other"])
                .prop_map(str::to_string),
            text(),
        ],
        amenity in prop::option::of(prop_oneof![Just("hot_water".to_string()), text()]),
        note in prop::option::of(prop_oneof!["\\PC{0,600}", text()]),
        lat in prop::option::of(prop_oneof![-100.0f64..100.0, any::<f64>()]),
        lon in prop::option::of(prop_oneof![-200.0f64..200.0, any::<f64>()]),
        resolution in text(),
    ) {
        match NewReport::parse(&kind, amenity.as_deref(), note.as_deref(), lat, lon) {
            Ok(r) => {
                prop_assert_eq!(r.amenity.is_some(), r.kind.as_str() == "amenity_broken");
                if let Some(n) = &r.note {
                    prop_assert!(n.chars().count() <= 500 && !n.trim().is_empty());
                }
                if let Some(p) = r.position {
                    prop_assert!(LonLat::new(p.lon, p.lat).is_ok());
                    prop_assert!(((p.lat * 1000.0).round() - p.lat * 1000.0).abs() < 1e-6);
                }
            }
            Err(e) => assert_clear(&e),
        }
        match Resolution::new(&resolution) {
            Ok(r) => prop_assert!(!r.as_str().trim().is_empty() && r.as_str().chars().count() <= 500),
            Err(e) => assert_clear(&e),
        }
    }
}
