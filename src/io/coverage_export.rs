//! Coverage results as files for GIS tools and spreadsheets, chosen by the file's extension: a
//! GeoPackage (layers `gaps` and `counties`, table `coverage_run`), the gaps as GeoJSON, or the
//! county table as CSV. Each is written under a temporary name beside the target and moved into
//! place only when complete, so a failed run leaves no file behind.

use crate::coverage::service::{CoverageResult, DemandSource};
use crate::coverage::table::{counties_csv, figure_columns, Figure, FigureColumn};
use crate::coverage::{Figures, Params, ATTRIBUTION};
use crate::store::sqlite::export_gpkg::{
    write_geopackage, AttributeTable, Column, ColumnType, Feature, FeatureLayer, GpkgWriteError,
    Value,
};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::value::RawValue;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The kinds of file a coverage result is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// `.gpkg`: gaps and county outlines with their figures, and the run's parameters.
    GeoPackage,
    /// `.geojson` / `.json`: the gaps FeatureCollection.
    GeoJson,
    /// `.csv`: the county table.
    Csv,
}

impl OutputFormat {
    /// The format a file name asks for (by extension, any case).
    pub fn of_path(path: &Path) -> Result<Self, CoverageExportError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("gpkg") => Ok(Self::GeoPackage),
            Some("geojson" | "json") => Ok(Self::GeoJson),
            Some("csv") => Ok(Self::Csv),
            _ => Err(CoverageExportError::UnknownFormat(path.to_path_buf())),
        }
    }

    /// What a file of this format holds, for messages.
    pub fn contents(self) -> &'static str {
        match self {
            Self::GeoPackage => "layers gaps and counties, table coverage_run",
            Self::GeoJson => "the gaps as GeoJSON",
            Self::Csv => "the county table",
        }
    }
}

/// Why a coverage file was not written.
#[derive(Debug, thiserror::Error)]
pub enum CoverageExportError {
    /// The extension names no format we write.
    #[error("{0}: the output must end in .gpkg (GeoPackage: gaps and counties layers), .geojson or .json (the gaps), or .csv (the county table)")]
    UnknownFormat(PathBuf),
    /// The target exists and overwriting was not asked for.
    #[error("{0} already exists; pass --force to replace it")]
    Exists(PathBuf),
    /// The file system said no.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// Writing the GeoPackage failed.
    #[error(transparent)]
    Gpkg(#[from] GpkgWriteError),
    /// Writing the CSV failed.
    #[error("writing CSV: {0}")]
    Csv(#[from] csv::Error),
    /// The gaps were not the GeoJSON they should be (a bug).
    #[error("the gaps are not a GeoJSON FeatureCollection: {0}")]
    Json(#[from] serde_json::Error),
}

/// What was asked, written beside the figures so a file explains itself.
#[derive(Debug, Clone)]
pub struct RunDescription {
    /// The area as replies name it (`{"adcode","name","level"}` or `{"bbox":[…]}`).
    pub area: serde_json::Value,
    /// Mode, minutes, opening filter.
    pub params: Params,
    /// H3 resolution.
    pub res: u8,
    /// The travel model's name.
    pub travel: &'static str,
    /// When the run happened.
    pub created_at: DateTime<Utc>,
}

impl RunDescription {
    /// The area's code (`360102`) or box (`bbox:w,s,e,n`).
    pub fn area_key(&self) -> String {
        if let Some(code) = self.area.get("adcode").and_then(|c| c.as_str()) {
            return code.to_string();
        }
        match self.area.get("bbox").and_then(|b| b.as_array()) {
            Some(b) => format!(
                "bbox:{}",
                b.iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            None => String::new(),
        }
    }

    /// The area's name, when it is a region.
    pub fn area_name(&self) -> Option<String> {
        self.area
            .get("name")
            .and_then(|n| n.as_str())
            .map(str::to_string)
    }

    fn open(&self) -> &'static str {
        if self.params.only_24h {
            "24h"
        } else {
            "any"
        }
    }

    fn mode(&self) -> &'static str {
        match self.params.mode {
            crate::domain::Mode::Walk => "walk",
            crate::domain::Mode::Ebike => "ebike",
        }
    }
}

/// Refuses a target that exists, unless `force`.
pub fn check_target(out: &Path, force: bool) -> Result<(), CoverageExportError> {
    if !force && out.symlink_metadata().is_ok() {
        return Err(CoverageExportError::Exists(out.to_path_buf()));
    }
    Ok(())
}

/// Writes `r` to `out` in the format its extension names. The file appears complete or not at
/// all; an existing `out` is replaced only with `force` (and never raced: without `force` the
/// final move fails if another process created `out` meanwhile).
pub async fn write_coverage(
    out: &Path,
    force: bool,
    r: &CoverageResult,
    run: &RunDescription,
) -> Result<OutputFormat, CoverageExportError> {
    let format = OutputFormat::of_path(out)?;
    check_target(out, force)?;
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CoverageExportError::Io { path, source }
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".yizhan-coverage-").suffix(".part");
    // tempfile's private 0600 would carry over to the finished file; an export is for sharing.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let mut tmp = builder.tempfile_in(&dir).map_err(io_err(&dir))?;
    match format {
        OutputFormat::Csv => {
            let text = counties_csv(r)?;
            tmp.write_all(text.as_bytes()).map_err(io_err(tmp.path()))?;
        }
        OutputFormat::GeoJson => {
            let text = gaps_geojson(r, run)?;
            tmp.write_all(text.as_bytes()).map_err(io_err(tmp.path()))?;
        }
        OutputFormat::GeoPackage => {
            let (layers, tables) = geopackage_contents(r, run);
            write_geopackage(tmp.path(), &layers, &tables).await?;
        }
    }
    tmp.as_file().sync_all().map_err(io_err(tmp.path()))?;
    let persisted = if force {
        tmp.persist(out)
    } else {
        tmp.persist_noclobber(out)
    };
    match persisted {
        Ok(_) => Ok(format),
        Err(e) if !force && e.error.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(CoverageExportError::Exists(out.to_path_buf()))
        }
        // The temporary file is removed when `e` drops.
        Err(e) => Err(CoverageExportError::Io {
            path: out.to_path_buf(),
            source: e.error,
        }),
    }
}

/// The gaps FeatureCollection exactly as the API writes it, with the run's `region`, `mode`,
/// `minutes`, `open`, `res` and `attribution` as top-level members.
pub fn gaps_geojson(r: &CoverageResult, run: &RunDescription) -> Result<String, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Gaps<'a> {
        #[serde(borrow)]
        features: &'a RawValue,
    }
    #[derive(serde::Serialize)]
    struct Out<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        region: &'a serde_json::Value,
        mode: &'static str,
        minutes: f64,
        open: &'static str,
        res: u8,
        attribution: &'static str,
        features: &'a RawValue,
    }
    let gaps: Gaps<'_> = serde_json::from_str(&r.gaps_geojson)?;
    serde_json::to_string(&Out {
        kind: "FeatureCollection",
        region: &run.area,
        mode: run.mode(),
        minutes: run.params.minutes,
        open: run.open(),
        res: run.res,
        attribution: ATTRIBUTION,
        features: gaps.features,
    })
}

fn text(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

fn figure_value(f: Option<Figure>) -> Value {
    match f {
        Some(Figure::Count(n)) => Value::Integer(i64::try_from(n).unwrap_or(i64::MAX)),
        Some(Figure::Measure(v)) => Value::Real(v),
        None => Value::Null,
    }
}

fn figure_column(c: &FigureColumn) -> Column {
    Column {
        name: c.name,
        kind: if c.is_count {
            ColumnType::Integer
        } else {
            ColumnType::Real
        },
    }
}

fn figure_values<'a>(
    columns: &'a [FigureColumn],
    f: &'a Figures,
) -> impl Iterator<Item = Value> + 'a {
    columns.iter().map(move |c| figure_value((c.get)(f)))
}

/// The layers and table of the GeoPackage: `gaps` (one feature per county with uncovered
/// cells), `counties` (outlines with every figure of the county table), `coverage_run`.
fn geopackage_contents(
    r: &CoverageResult,
    run: &RunDescription,
) -> (Vec<FeatureLayer>, Vec<AttributeTable>) {
    let grid = &r.grid;
    let columns = figure_columns(
        r.demand.is_some(),
        r.coverage.total.no_access_cells.is_some(),
    );
    let name_columns = [
        Column {
            name: "adcode",
            kind: ColumnType::Text,
        },
        Column {
            name: "name",
            kind: ColumnType::Text,
        },
    ];
    let what = format!(
        "{} {} min ({}, res {})",
        run.mode(),
        run.params.minutes,
        run.area_name().unwrap_or_else(|| run.area_key()),
        run.res
    );

    let gaps = FeatureLayer {
        name: "gaps",
        description: format!("未覆盖区域 / uncovered areas, {what}; {ATTRIBUTION}"),
        columns: name_columns
            .iter()
            .copied()
            .chain([Column {
                name: "uncovered_km2",
                kind: ColumnType::Real,
            }])
            .collect(),
        features: r
            .coverage
            .gaps
            .iter()
            .map(|g| {
                let county = grid.counties.get(usize::from(g.county));
                Feature {
                    geometry: g.outline.clone(),
                    values: vec![
                        county.map_or(Value::Null, |c| text(c.adcode.to_string())),
                        county.map_or(Value::Null, |c| text(c.name.clone())),
                        // As the GeoJSON writes it: to the square metre.
                        Value::Real((g.uncovered_km2 * 1000.0).round() / 1000.0),
                    ],
                }
            })
            .collect(),
    };

    let counties = FeatureLayer {
        name: "counties",
        description: format!("区县覆盖 / coverage per county, {what}; {ATTRIBUTION}"),
        columns: name_columns
            .iter()
            .copied()
            .chain(columns.iter().map(figure_column))
            .collect(),
        features: r
            .counties_worst_first
            .iter()
            .map(|f| {
                let outline = grid
                    .counties
                    .iter()
                    .find(|c| Some(c.adcode) == f.adcode)
                    .map(|c| c.outline.clone())
                    .unwrap_or_else(|| geo::MultiPolygon(Vec::new()));
                Feature {
                    geometry: outline,
                    values: [
                        f.adcode.map_or(Value::Null, |c| text(c.to_string())),
                        f.name.clone().map_or(Value::Null, text),
                    ]
                    .into_iter()
                    .chain(figure_values(&columns, f))
                    .collect(),
                }
            })
            .collect(),
    };

    let c = |name: &'static str, kind: ColumnType| Column { name, kind };
    let run_table = AttributeTable {
        name: "coverage_run",
        description: format!("计算参数与合计 / parameters and totals of this run, {what}"),
        columns: [
            c("region", ColumnType::Text),
            c("region_name", ColumnType::Text),
            c("mode", ColumnType::Text),
            c("minutes", ColumnType::Real),
            c("res", ColumnType::Integer),
            c("open", ColumnType::Text),
            c("travel", ColumnType::Text),
            // `demand` itself is the total's demand figure (when demand was used).
            c("demand_source", ColumnType::Text),
            c("data_version", ColumnType::Integer),
            c("computed_ms", ColumnType::Integer),
        ]
        .into_iter()
        .chain(columns.iter().map(figure_column))
        .chain([
            c("created_at", ColumnType::DateTime),
            c("attribution", ColumnType::Text),
        ])
        .collect(),
        rows: vec![[
            text(run.area_key()),
            run.area_name().map_or(Value::Null, text),
            text(run.mode()),
            Value::Real(run.params.minutes),
            Value::Integer(i64::from(run.res)),
            text(run.open()),
            text(run.travel),
            r.demand
                .map_or(Value::Null, |d| text(DemandSource::as_str(d))),
            Value::Integer(i64::try_from(r.data_version).unwrap_or(i64::MAX)),
            Value::Integer(i64::try_from(r.computed_ms).unwrap_or(i64::MAX)),
        ]
        .into_iter()
        .chain(figure_values(&columns, &r.coverage.total))
        .chain([
            text(run.created_at.to_rfc3339_opts(SecondsFormat::Millis, true)),
            text(ATTRIBUTION),
        ])
        .collect()],
    };
    (vec![gaps, counties], vec![run_table])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_come_from_the_extension() {
        let f = |p: &str| OutputFormat::of_path(Path::new(p));
        assert_eq!(f("a.gpkg").unwrap(), OutputFormat::GeoPackage);
        assert_eq!(f("dir/a.GPKG").unwrap(), OutputFormat::GeoPackage);
        assert_eq!(f("a.geojson").unwrap(), OutputFormat::GeoJson);
        assert_eq!(f("a.json").unwrap(), OutputFormat::GeoJson);
        assert_eq!(f("a.csv").unwrap(), OutputFormat::Csv);
        for bad in ["a.shp", "a", "a.gpkg.tmp", ".csv"] {
            let e = f(bad).unwrap_err().to_string();
            assert!(
                e.contains(".gpkg") && e.contains(".geojson") && e.contains(".csv"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn run_descriptions_name_regions_and_boxes() {
        let run = |area| RunDescription {
            area,
            params: Params {
                mode: crate::domain::Mode::Ebike,
                minutes: 10.0,
                only_24h: true,
            },
            res: 8,
            travel: "straight_line",
            created_at: Utc::now(),
        };
        let r = run(serde_json::json!({"adcode": "360102", "name": "东湖区", "level": "county"}));
        assert_eq!(
            (r.area_key(), r.area_name()),
            ("360102".into(), Some("东湖区".into()))
        );
        assert_eq!((r.mode(), r.open()), ("ebike", "24h"));
        let b = run(serde_json::json!({"bbox": [115.8, 28.6, 116.0, 28.8]}));
        assert_eq!(
            (b.area_key(), b.area_name()),
            ("bbox:115.8,28.6,116.0,28.8".into(), None)
        );
    }
}
