use crate::domain::{AmenitySet, CsvText, Hours, Invalid, LonLat, NewStation};
use crate::store::{Store, StoreError};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

/// Why a file was rejected; `row` is the CSV line number (header = 1) or the 1-based feature index.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A bad row: the whole file is rejected and the store is unchanged.
    #[error("row {row}: {reason}")]
    Row {
        /// Where.
        row: usize,
        /// What was wrong.
        reason: String,
    },
    /// The file as a whole could not be read.
    #[error("{0}")]
    File(String),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

/// Rows of a parsed file, with the row numbers for messages.
pub struct Parsed {
    /// Stations in file order.
    pub stations: Vec<NewStation>,
    /// Row number of each station, in the same order.
    pub rows: Vec<usize>,
}

/// Reads and validates a `.csv` (its text cells read as `csv_text` says) or `.geojson`/`.json`
/// file; nothing touches a store.
pub fn parse_file(path: &Path, csv_text: CsvText) -> Result<Parsed, ImportError> {
    let bytes = std::fs::read(path)
        .map_err(|e| ImportError::File(format!("cannot read {}: {e}", path.display())))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "csv" => parse_csv_with(&bytes, csv_text),
        "geojson" | "json" => parse_geojson(&bytes),
        _ => Err(ImportError::File(format!(
            "cannot tell the format of {}: use a .csv or .geojson file",
            path.display()
        ))),
    }
}

/// One CSV record as written.
#[derive(Debug, Deserialize)]
struct CsvRow {
    code: String,
    name: String,
    #[serde(default)]
    address: String,
    county: String,
    lon: String,
    lat: String,
    #[serde(default)]
    amenities: String,
    opening_hours: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    demo: String,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    photo_url: String,
}

fn non_empty(s: String) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn parse_bool(s: &str) -> Result<bool, Invalid> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "false" | "0" | "no" => Ok(false),
        "true" | "1" | "yes" => Ok(true),
        other => Err(Invalid::new(
            "invalid_demo",
            format!("demo must be true or false, got {other:?}"),
        )),
    }
}

fn parse_coord(name: &str, s: &str) -> Result<f64, Invalid> {
    s.trim().parse::<f64>().map_err(|_| {
        Invalid::new(
            "invalid_coordinate",
            format!("{name} must be a number, got {s:?}"),
        )
    })
}

impl CsvRow {
    /// The station a row describes; text cells are read as `text` says (trimmed first, since
    /// a neutralising quote sits before any text), coordinates and `demo` as they are.
    fn into_station(self, text: CsvText) -> Result<NewStation, Invalid> {
        let location = LonLat::new(
            parse_coord("lon", &self.lon)?,
            parse_coord("lat", &self.lat)?,
        )?;
        let cell = |c: &str| text.read(c.trim()).to_string();
        let s = NewStation {
            code: cell(&self.code),
            name: cell(&self.name),
            address: cell(&self.address),
            county: cell(&self.county),
            location,
            amenities: AmenitySet::parse_list(&cell(&self.amenities), ';')?,
            opening_hours: cell(&self.opening_hours).parse::<Hours>()?,
            phone: non_empty(cell(&self.phone)),
            photo_url: non_empty(cell(&self.photo_url)),
            notes: non_empty(cell(&self.notes)),
            demo: parse_bool(&self.demo)?,
        };
        s.validate()?;
        Ok(s)
    }
}

/// Parses CSV with the [`super::CSV_HEADER`] columns (`photo_url` optional), as written by a
/// default (neutralised) export.
pub fn parse_csv(bytes: &[u8]) -> Result<Parsed, ImportError> {
    parse_csv_with(bytes, CsvText::Neutralised)
}

/// Parses CSV with the [`super::CSV_HEADER`] columns, its text cells read as `text` says.
pub fn parse_csv_with(bytes: &[u8], text: CsvText) -> Result<Parsed, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::Headers)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| ImportError::File(format!("cannot read the CSV header: {e}")))?;
    for required in ["code", "name", "county", "lon", "lat", "opening_hours"] {
        if !headers.iter().any(|h| h == required) {
            return Err(ImportError::File(format!(
                "the CSV header lacks the column {required:?}; expected {}",
                super::CSV_HEADER.join(",")
            )));
        }
    }
    let mut parsed = Parsed {
        stations: Vec::new(),
        rows: Vec::new(),
    };
    for (i, record) in reader.deserialize::<CsvRow>().enumerate() {
        let row = i + 2;
        let rec = record.map_err(|e| ImportError::Row {
            row,
            reason: e.to_string(),
        })?;
        let station = rec.into_station(text).map_err(|e| ImportError::Row {
            row,
            reason: e.message,
        })?;
        parsed.stations.push(station);
        parsed.rows.push(row);
    }
    check_unique_codes(&parsed)?;
    Ok(parsed)
}

/// Properties of a GeoJSON feature.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeatureProps {
    code: String,
    name: String,
    #[serde(default)]
    address: String,
    county: String,
    #[serde(default)]
    amenities: Vec<String>,
    opening_hours: String,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    photo_url: Option<String>,
    #[serde(default)]
    notes: Option<String>,
    #[serde(default)]
    demo: bool,
    // Read-only fields written by export; accepted and ignored on import.
    #[serde(default, rename = "id")]
    _id: Option<serde_json::Value>,
    #[serde(default, rename = "version")]
    _version: Option<serde_json::Value>,
    #[serde(default, rename = "verified_at")]
    _verified_at: Option<serde_json::Value>,
    #[serde(default, rename = "temporary_closure")]
    _temporary_closure: Option<serde_json::Value>,
}

/// Parses a GeoJSON FeatureCollection of Point features.
pub fn parse_geojson(bytes: &[u8]) -> Result<Parsed, ImportError> {
    let doc: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ImportError::File(format!("not valid JSON: {e}")))?;
    let features = doc
        .get("features")
        .and_then(|f| f.as_array())
        .filter(|_| doc.get("type").and_then(|t| t.as_str()) == Some("FeatureCollection"))
        .ok_or_else(|| ImportError::File("expected a GeoJSON FeatureCollection".to_string()))?;
    let mut parsed = Parsed {
        stations: Vec::new(),
        rows: Vec::new(),
    };
    for (i, f) in features.iter().enumerate() {
        let row = i + 1;
        let err = |reason: String| ImportError::Row { row, reason };
        let coords = f
            .pointer("/geometry/coordinates")
            .and_then(|c| c.as_array())
            .filter(|_| f.pointer("/geometry/type").and_then(|t| t.as_str()) == Some("Point"))
            .ok_or_else(|| err("geometry must be a Point".to_string()))?;
        let (lon, lat) = match coords.as_slice() {
            [lon, lat, ..] => (
                lon.as_f64()
                    .ok_or_else(|| err("longitude must be a number".to_string()))?,
                lat.as_f64()
                    .ok_or_else(|| err("latitude must be a number".to_string()))?,
            ),
            _ => return Err(err("a Point needs [lon, lat]".to_string())),
        };
        let props: FeatureProps =
            serde_json::from_value(f.get("properties").cloned().unwrap_or_default())
                .map_err(|e| err(format!("properties: {e}")))?;
        let build = || -> Result<NewStation, Invalid> {
            let s = NewStation {
                code: props.code.trim().to_string(),
                name: props.name.trim().to_string(),
                address: props.address.trim().to_string(),
                county: props.county.trim().to_string(),
                location: LonLat::new(lon, lat)?,
                amenities: AmenitySet::from_keys(&props.amenities)?,
                opening_hours: props.opening_hours.parse()?,
                phone: props.phone.clone().and_then(non_empty),
                photo_url: props.photo_url.clone().and_then(non_empty),
                notes: props.notes.clone().and_then(non_empty),
                demo: props.demo,
            };
            s.validate()?;
            Ok(s)
        };
        parsed.stations.push(build().map_err(|e| err(e.message))?);
        parsed.rows.push(row);
    }
    check_unique_codes(&parsed)?;
    Ok(parsed)
}

fn check_unique_codes(parsed: &Parsed) -> Result<(), ImportError> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (s, &row) in parsed.stations.iter().zip(&parsed.rows) {
        if let Some(first) = seen.insert(s.code.as_str(), row) {
            return Err(ImportError::Row {
                row,
                reason: format!("duplicate code {:?} (first on row {first})", s.code),
            });
        }
    }
    Ok(())
}

/// Writes parsed stations in one transaction; a code already in the store rejects the file.
pub async fn import_parsed(store: &dyn Store, parsed: &Parsed) -> Result<Vec<i64>, ImportError> {
    store
        .insert_stations(&parsed.stations)
        .await
        .map_err(|e| match e {
            StoreError::DuplicateCode {
                code,
                index: Some(i),
            } => ImportError::Row {
                row: parsed.rows[i],
                reason: format!("duplicate code {code:?}: a station with this code already exists"),
            },
            other => ImportError::Store(other),
        })
}
