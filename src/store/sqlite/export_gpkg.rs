//! Writing a new, standalone GeoPackage file for GIS tools (what `yizhan coverage --out
//! FILE.gpkg` writes): MultiPolygon feature layers and attribute tables, with the metadata
//! tables GDAL and QGIS read, all in one transaction. Not the service's store: nothing here
//! migrates, and the file is never opened again by the service.
//!
//! No R-tree index is written: its standard triggers call SpatiaLite functions plain SQLite
//! lacks, so a GIS tool editing the file would leave the index stale; layers of a few hundred
//! counties need none.

use crate::store::geom::Wgs84Geometry;
use geo::BoundingRect;
use geozero::{CoordDimensions, ToWkb};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use std::path::Path;

/// What can go wrong writing the file.
#[derive(Debug, thiserror::Error)]
pub enum GpkgWriteError {
    /// SQLite said no (the file, a statement).
    #[error("writing the GeoPackage: {0}")]
    Db(#[from] sqlx::Error),
    /// A geometry geozero could not encode.
    #[error("encoding a geometry of layer {layer}: {reason}")]
    Geometry {
        /// The layer.
        layer: &'static str,
        /// geozero's message.
        reason: String,
    },
    /// A row whose number of values differs from its table's columns (a bug in the caller).
    #[error("a row of {table} has {got} values for {want} columns")]
    RowShape {
        /// The table.
        table: &'static str,
        /// Values in the row.
        got: usize,
        /// Columns of the table.
        want: usize,
    },
}

/// A column's GeoPackage data type (the names the spec allows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// 64-bit integer.
    Integer,
    /// Double precision.
    Real,
    /// UTF-8 text.
    Text,
    /// ISO-8601 UTC instant (`2024-05-01T08:00:00.000Z`).
    DateTime,
}

impl ColumnType {
    fn sql(self) -> &'static str {
        match self {
            ColumnType::Integer => "INTEGER",
            ColumnType::Real => "REAL",
            ColumnType::Text => "TEXT",
            ColumnType::DateTime => "DATETIME",
        }
    }
}

/// An attribute column.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Its name (written quoted, so any text is safe).
    pub name: &'static str,
    /// Its type.
    pub kind: ColumnType,
}

/// A value of an attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// No value.
    Null,
    /// An integer.
    Integer(i64),
    /// A number.
    Real(f64),
    /// Text (also datetimes, as ISO-8601).
    Text(String),
}

/// A feature: an outline and its attribute values (in the layer's column order).
#[derive(Debug, Clone)]
pub struct Feature {
    /// WGS-84 lon/lat; an empty one is written as a NULL geometry.
    pub geometry: geo::MultiPolygon<f64>,
    /// One value per column.
    pub values: Vec<Value>,
}

/// A MultiPolygon feature layer in EPSG:4326 (geometry column `geom`, key `fid`).
#[derive(Debug, Clone)]
pub struct FeatureLayer {
    /// Table name and identifier.
    pub name: &'static str,
    /// Description shown by GIS tools.
    pub description: String,
    /// Attribute columns.
    pub columns: Vec<Column>,
    /// The features, in fid order.
    pub features: Vec<Feature>,
}

/// A non-spatial table (GeoPackage data type `attributes`, key `fid`).
#[derive(Debug, Clone)]
pub struct AttributeTable {
    /// Table name and identifier.
    pub name: &'static str,
    /// Description shown by GIS tools.
    pub description: String,
    /// Columns.
    pub columns: Vec<Column>,
    /// Rows of values in column order.
    pub rows: Vec<Vec<Value>>,
}

/// The GeoPackage 1.3 core: header, spatial reference systems (the three the spec requires,
/// defined as in migration 0001 of the store), contents and geometry columns.
const CORE: &str = r#"
PRAGMA application_id = 1196444487;
PRAGMA user_version = 10300;
CREATE TABLE gpkg_spatial_ref_sys (
  srs_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL PRIMARY KEY,
  organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL,
  definition TEXT NOT NULL,
  description TEXT
);
INSERT INTO gpkg_spatial_ref_sys VALUES
  ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', 'undefined cartesian coordinate reference system'),
  ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', 'undefined geographic coordinate reference system'),
  ('WGS 84 geodetic', 4326, 'EPSG', 4326,
   'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]',
   'longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid');
CREATE TABLE gpkg_contents (
  table_name TEXT NOT NULL PRIMARY KEY,
  data_type TEXT NOT NULL,
  identifier TEXT UNIQUE,
  description TEXT DEFAULT '',
  last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE,
  srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id)
);
CREATE TABLE gpkg_geometry_columns (
  table_name TEXT NOT NULL,
  column_name TEXT NOT NULL,
  geometry_type_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL,
  z TINYINT NOT NULL,
  m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
  CONSTRAINT uk_gc_table_name UNIQUE (table_name),
  CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id)
);
"#;

/// `name` as a quoted SQL identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `CREATE TABLE` of a table keyed by `fid`, with an optional geometry column first.
fn create_table(name: &str, geometry: Option<&str>, columns: &[Column]) -> String {
    let mut sql = format!(
        "CREATE TABLE {} (fid INTEGER PRIMARY KEY AUTOINCREMENT",
        ident(name)
    );
    if let Some(g) = geometry {
        sql.push_str(&format!(", geom {g}"));
    }
    for c in columns {
        sql.push_str(&format!(", {} {}", ident(c.name), c.kind.sql()));
    }
    sql.push(')');
    sql
}

/// `INSERT` of one row (geometry first when `with_geometry`), values bound in order.
fn insert_row(name: &str, with_geometry: bool, columns: &[Column]) -> String {
    let names: Vec<String> = with_geometry
        .then(|| "geom".to_string())
        .into_iter()
        .chain(columns.iter().map(|c| ident(c.name)))
        .collect();
    let marks = vec!["?"; names.len()].join(", ");
    format!(
        "INSERT INTO {} ({}) VALUES ({marks})",
        ident(name),
        names.join(", ")
    )
}

fn bind_value<'q>(
    q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    v: &'q Value,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    match v {
        Value::Null => q.bind(None::<i64>),
        Value::Integer(i) => q.bind(*i),
        Value::Real(r) => q.bind(*r),
        Value::Text(t) => q.bind(t.as_str()),
    }
}

/// The box of a set of outlines, as `(min_x, min_y, max_x, max_y)`.
fn extent<'a>(
    outlines: impl IntoIterator<Item = &'a geo::MultiPolygon<f64>>,
) -> Option<(f64, f64, f64, f64)> {
    outlines
        .into_iter()
        .filter_map(BoundingRect::bounding_rect)
        .map(|r| (r.min().x, r.min().y, r.max().x, r.max().y))
        .reduce(|a, b| (a.0.min(b.0), a.1.min(b.1), a.2.max(b.2), a.3.max(b.3)))
}

/// GeoPackage binary of an outline, SRID 4326, with its envelope in the header (so readers
/// filter by box without parsing the rings); `None` for an empty outline.
fn encode(
    layer: &'static str,
    mp: &geo::MultiPolygon<f64>,
) -> Result<Option<Vec<u8>>, GpkgWriteError> {
    let Some(b) = mp.bounding_rect() else {
        return Ok(None);
    };
    Wgs84Geometry::new(mp.clone())
        .to_gpkg_wkb(
            CoordDimensions::xy(),
            Some(4326),
            // The GeoPackage envelope order: min x, max x, min y, max y.
            vec![b.min().x, b.max().x, b.min().y, b.max().y],
        )
        .map(Some)
        .map_err(|e| GpkgWriteError::Geometry {
            layer,
            reason: e.to_string(),
        })
}

fn check_shape(
    table: &'static str,
    values: &[Value],
    columns: &[Column],
) -> Result<(), GpkgWriteError> {
    if values.len() == columns.len() {
        Ok(())
    } else {
        Err(GpkgWriteError::RowShape {
            table,
            got: values.len(),
            want: columns.len(),
        })
    }
}

/// Creates the GeoPackage `path` (which must not exist, or be empty) holding `layers` and
/// `tables`, in one transaction: on any error the file holds no table.
pub async fn write_geopackage(
    path: &Path,
    layers: &[FeatureLayer],
    tables: &[AttributeTable],
) -> Result<(), GpkgWriteError> {
    // A rollback journal, not WAL: the finished file stands alone, with no -wal or -shm
    // beside it and its header already in place for GDAL.
    let mut conn: SqliteConnection = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Delete)
        .foreign_keys(true)
        .connect()
        .await?;
    let mut tx = conn.begin().await?;
    sqlx::raw_sql(CORE).execute(&mut *tx).await?;
    for layer in layers {
        sqlx::query(&create_table(
            layer.name,
            Some("MULTIPOLYGON"),
            &layer.columns,
        ))
        .execute(&mut *tx)
        .await?;
        let (min_x, min_y, max_x, max_y) = match extent(layer.features.iter().map(|f| &f.geometry))
        {
            Some((a, b, c, d)) => (Some(a), Some(b), Some(c), Some(d)),
            None => (None, None, None, None),
        };
        sqlx::query(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, \
               min_x, min_y, max_x, max_y, srs_id) \
             VALUES (?, 'features', ?, ?, ?, ?, ?, ?, 4326)",
        )
        .bind(layer.name)
        .bind(layer.name)
        .bind(&layer.description)
        .bind(min_x)
        .bind(min_y)
        .bind(max_x)
        .bind(max_y)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO gpkg_geometry_columns \
               (table_name, column_name, geometry_type_name, srs_id, z, m) \
             VALUES (?, 'geom', 'MULTIPOLYGON', 4326, 0, 0)",
        )
        .bind(layer.name)
        .execute(&mut *tx)
        .await?;
        let insert = insert_row(layer.name, true, &layer.columns);
        for f in &layer.features {
            check_shape(layer.name, &f.values, &layer.columns)?;
            let geom = encode(layer.name, &f.geometry)?;
            let mut q = sqlx::query(&insert).bind(geom);
            for v in &f.values {
                q = bind_value(q, v);
            }
            q.execute(&mut *tx).await?;
        }
    }
    for table in tables {
        sqlx::query(&create_table(table.name, None, &table.columns))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description) \
             VALUES (?, 'attributes', ?, ?)",
        )
        .bind(table.name)
        .bind(table.name)
        .bind(&table.description)
        .execute(&mut *tx)
        .await?;
        let insert = insert_row(table.name, false, &table.columns);
        for row in &table.rows {
            check_shape(table.name, row, &table.columns)?;
            let mut q = sqlx::query(&insert);
            for v in row {
                q = bind_value(q, v);
            }
            q.execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;
    conn.close().await?;
    Ok(())
}
