//! Validated domain types: once built, a value carries its guarantee (no HTTP, no SQL here).

/// Accounts, roles and login names of the staff who edit stations.
pub mod account;
/// Amenity keys and the bit set stations carry.
pub mod amenity;
/// Audit records: who changed what, before and after.
pub mod audit;
/// Raster basemaps an operator may configure: tile template, credit, datum, origins.
pub mod basemap;
/// Bounding boxes for map queries.
pub mod bbox;
/// Coordinate systems spoken at the edge (WGS-84, GCJ-02, BD-09).
pub mod crs;
/// Weighted demand points and the H3 cells they are aggregated to.
pub mod demand;
/// OSM `opening_hours` expressions, parsed once and kept with their text.
pub mod hours;
/// Longitude/latitude pairs on WGS-84.
pub mod lonlat;
/// JSON merge patches of stations and what they changed.
pub mod patch;
/// Administrative regions (province, city, county) and their outlines.
pub mod region;
/// Rider problem reports (纠错) and their resolution.
pub mod report;
/// CSV text cells that spreadsheets would run as formulas, and their neutral form.
pub mod spreadsheet;
/// Stations as stored and served.
pub mod station;
/// Travel modes and the straight-line travel-time model.
pub mod travel;

pub use account::{Account, Login, Role};
pub use amenity::{Amenity, AmenitySet};
pub use basemap::Basemap;
pub use bbox::BBox;
pub use crs::Crs;
pub use hours::Hours;
pub use lonlat::LonLat;
pub use patch::StationPatch;
pub use region::{Adcode, Region, RegionLevel, RegionSet};
pub use spreadsheet::CsvText;
pub use station::{NewStation, Station, StationState, TemporaryClosure};
pub use travel::{Mode, TravelModel};

/// A value that failed validation: a stable machine code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    /// Stable, machine-readable code (e.g. `invalid_lat`).
    pub code: &'static str,
    /// What was wrong, naming the offending value.
    pub message: String,
}

impl Invalid {
    /// Builds an error with a code and a message.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}
