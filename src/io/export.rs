use crate::domain::{Crs, CsvText, Station};
use serde_json::{json, Map, Value};
use std::io::Write;

/// The GeoJSON properties of a station (everything but the geometry), as the API and exports show it.
pub fn station_properties(s: &Station) -> Map<String, Value> {
    let v = json!({
        "id": s.id,
        "code": s.code,
        "name": s.name,
        "address": s.address,
        "county": s.county,
        "amenities": s.amenities,
        "opening_hours": s.opening_hours,
        "temporary_closure": s.temporary_closure,
        "phone": s.phone,
        "photo_url": s.photo_url,
        "notes": s.notes,
        "demo": s.demo,
        "verified_at": s.verified_at,
        "version": s.version,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// One station as a GeoJSON Feature in the given coordinate system.
pub fn station_feature(s: &Station, crs: Crs) -> Value {
    let (lon, lat) = crs.from_wgs84(s.location);
    json!({
        "type": "Feature",
        "id": s.id,
        "geometry": { "type": "Point", "coordinates": [round7(lon), round7(lat)] },
        "properties": station_properties(s),
    })
}

/// Seven decimals is about 1 cm: more digits are noise.
pub fn round7(v: f64) -> f64 {
    (v * 1e7).round() / 1e7
}

/// Writes a GeoJSON FeatureCollection (WGS-84).
pub fn write_geojson<W: Write, S: std::borrow::Borrow<Station>>(
    out: W,
    stations: &[S],
) -> std::io::Result<()> {
    let features: Vec<Value> = stations
        .iter()
        .map(|s| station_feature(s.borrow(), Crs::Wgs84))
        .collect();
    serde_json::to_writer_pretty(
        out,
        &json!({ "type": "FeatureCollection", "features": features }),
    )
    .map_err(std::io::Error::other)
}

/// Writes CSV with the import header, so an export imports back unchanged (read with the same
/// [`CsvText`]). Text cells are neutralised unless `text` is [`CsvText::Raw`]; coordinates and
/// `demo` are never touched (a longitude of `-3` stays a number).
pub fn write_csv<W: Write, S: std::borrow::Borrow<Station>>(
    out: W,
    stations: &[S],
    text: CsvText,
) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(super::CSV_HEADER)
        .map_err(std::io::Error::other)?;
    for s in stations {
        let s: &Station = s.borrow();
        let lon = format!("{}", round7(s.location.lon));
        let lat = format!("{}", round7(s.location.lat));
        let amenities = s.amenities.keys().join(";");
        w.write_record([
            text.write(&s.code).as_ref(),
            &text.write(&s.name),
            &text.write(&s.address),
            &text.write(&s.county),
            &lon,
            &lat,
            &text.write(&amenities),
            &text.write(s.opening_hours.as_str()),
            &text.write(s.phone.as_deref().unwrap_or("")),
            if s.demo { "true" } else { "false" },
            &text.write(s.notes.as_deref().unwrap_or("")),
            &text.write(s.photo_url.as_deref().unwrap_or("")),
        ])
        .map_err(std::io::Error::other)?;
    }
    w.flush()
}
