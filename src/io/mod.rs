//! Files in and out: stations (CSV and GeoJSON), region outlines and demand; imports
//! all-or-nothing; coverage results out.

/// Consistent copies of the SQLite store (`yizhan backup`).
pub mod backup;
/// The county basemap at a few levels of detail, simplified with shared borders kept shared.
pub mod basemap;
/// Coverage results as GeoPackage, GeoJSON or CSV files for GIS tools and spreadsheets.
pub mod coverage_export;
/// Demand points from CSV, aggregated to H3 cells before they are stored.
pub mod demand;
/// Writing stations as CSV or GeoJSON.
pub mod export;
/// Reading and validating station files before anything reaches the store.
pub mod import;
/// Region outlines from GeoJSON, with missing parents dissolved from their children.
pub mod regions;
/// The demo data set shipped in `seeds/`, loaded into an empty store.
pub mod seed;

/// The CSV header, shared by import, export and the seeds.
pub const CSV_HEADER: [&str; 12] = [
    "code",
    "name",
    "address",
    "county",
    "lon",
    "lat",
    "amenities",
    "opening_hours",
    "phone",
    "demo",
    "notes",
    "photo_url",
];
