//! What the OpenAPI document says beyond each route's own annotations: the JSON error body of
//! every 4xx/5xx, and the closed vocabularies (modes, datums, report kinds, amenities …) as
//! enumerations built from the same lists the parsers read, so the two cannot drift.
//! `scripts/schemathesis.sh` checks the document against the running service.

use crate::domain::amenity::ALL as ALL_AMENITIES;
use crate::domain::report::{ReportKind, ReportStatus};
use crate::domain::station::MAX_TEXT;
use crate::domain::{Crs, Mode, Role};
use utoipa::openapi::content::Content;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::ResponseBuilder;
use utoipa::openapi::{Ref, RefOr};
use utoipa::{Modify, ToSchema};

/// The body of every error reply: `{"error":{"code","message"}}`.
#[derive(Debug, ToSchema)]
pub struct ErrorReply {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// One error.
#[derive(Debug, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code (e.g. `invalid_lat`, `version_mismatch`).
    pub code: String,
    /// What was wrong, for people, naming the offending value.
    pub message: String,
    /// With 412 (`version_mismatch`): the version now stored.
    #[schema(nullable = false)]
    pub current_version: Option<i64>,
}

/// A string schema that takes exactly these values.
pub fn string_enum(values: impl IntoIterator<Item = &'static str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .into()
}

/// A documentation type for a closed set of strings, for `value_type = …` in parameters
/// (`inline`) and schemas (a reference to the schema registered under its name less `Schema`).
macro_rules! string_enum_schema {
    ($(#[$doc:meta])* $name:ident => $values:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                string_enum($values)
            }
        }

        impl ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name).trim_end_matches("Schema"))
            }
        }
    };
}

string_enum_schema!(
    /// `walk` or `ebike`.
    ModeSchema => Mode::ALL.map(Mode::as_str)
);
string_enum_schema!(
    /// `wgs84`, `gcj02` or `bd09`.
    CrsSchema => Crs::ALL.map(Crs::as_str)
);
string_enum_schema!(
    /// What `include` may add to a nearest reply: `nav`, `county` (a comma list of these).
    IncludeSchema => super::stations::INCLUDE_VALUES
);
string_enum_schema!(
    /// A level of detail of the county basemap: `low`, `medium` or `full`.
    DetailSchema => super::counties::DETAIL_VALUES
);
string_enum_schema!(
    /// A report kind.
    ReportKindSchema => ReportKind::ALL.map(ReportKind::as_str)
);
string_enum_schema!(
    /// `open` or `resolved`.
    ReportStatusSchema => [ReportStatus::Open, ReportStatus::Resolved].map(ReportStatus::as_str)
);
string_enum_schema!(
    /// Which reports a list shows: `open`, `resolved` or `all`.
    StatusFilterSchema => ["open", "resolved", "all"]
);
string_enum_schema!(
    /// The one status a report can be set to.
    ResolvedSchema => [ReportStatus::Resolved.as_str()]
);
string_enum_schema!(
    /// Which stations count for coverage: `any` or `24h`.
    OpenSchema => super::coverage::OPEN_VALUES
);
string_enum_schema!(
    /// How coverage minutes are measured: `network` (roads of the loaded extract),
    /// `straight_line`, or `both` (figures of the two side by side).
    TravelSchema => super::coverage::TRAVEL_VALUES
);
string_enum_schema!(
    /// How coverage minutes are measured: `network` or `straight_line`.
    TravelOneSchema => super::coverage::TRAVEL_ONE_VALUES
);
string_enum_schema!(
    /// What a coverage reply is: `json`, `cells` or `csv`.
    FormatSchema => super::coverage::FORMATS
);
string_enum_schema!(
    /// Demand to weigh coverage by: `import`, `queries` or `none`.
    DemandSchema => super::coverage::DEMAND_VALUES
);
string_enum_schema!(
    /// What suggestions maximise: `area` or `demand`.
    WeightSchema => super::coverage::WEIGHTS
);
string_enum_schema!(
    /// An amenity key.
    AmenitySchema => ALL_AMENITIES.map(|a| a.key())
);
string_enum_schema!(
    /// `admin`, `manager` or `planner`.
    RoleSchema => Role::ALL.map(Role::as_str)
);

/// A string schema matching `pattern`.
pub fn string_pattern(pattern: impl Into<String>, description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .description(Some(description))
        .into()
}

/// A decimal number as the query parameters take it.
const NUMBER: &str = r"-?[0-9]{1,3}(\.[0-9]{1,12})?";

macro_rules! string_pattern_schema {
    ($(#[$doc:meta])* $name:ident => $pattern:expr, $description:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                string_pattern($pattern, $description)
            }
        }

        impl ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name).trim_end_matches("Schema"))
            }
        }
    };
}

string_pattern_schema!(
    /// Amenity keys separated by commas (blank entries are ignored).
    AmenityListSchema => {
        let key = format!("({})", ALL_AMENITIES.map(|a| a.key()).join("|"));
        format!("^({key}(,{key})*)?$")
    },
    "Amenity keys separated by commas"
);
string_pattern_schema!(
    /// `west,south,east,north`.
    BboxSchema => format!("^{NUMBER}(,{NUMBER}){{3}}$"),
    "west,south,east,north: west < east, south < north, at most 10 degrees a side"
);
string_pattern_schema!(
    /// A six-digit administrative code.
    AdcodeSchema => "^[1-9][0-9]{5}$", "Six-digit administrative code (行政区划代码), e.g. 360100"
);

/// Characters a text field may hold: no control characters but newlines.
const TEXT_CHAR: &str = r"[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]";

string_pattern_schema!(
    /// An optional free-text field.
    TextSchema => format!("^{TEXT_CHAR}{{0,{MAX_TEXT}}}$"),
    "Free text: at most 500 characters, no control characters but newlines"
);
string_pattern_schema!(
    /// A required free-text field: not blank.
    RequiredTextSchema => format!("^(?=[\\s\\S]*\\S){TEXT_CHAR}{{1,{MAX_TEXT}}}$"),
    "Free text, not blank: at most 500 characters, no control characters but newlines"
);
string_pattern_schema!(
    /// A union code.
    StationCodeSchema => "^[A-Za-z0-9_-]{1,64}$", "Union code: 1 to 64 letters, digits, '-' or '_'"
);
string_pattern_schema!(
    /// A county adcode as stations carry it.
    CountySchema => "^[0-9]{6}$", "County adcode: six digits"
);
string_pattern_schema!(
    /// An OSM opening_hours expression.
    OpeningHoursSchema => r"^\s*\S.{0,254}$",
    "OpenStreetMap opening_hours syntax, 1 to 255 characters (e.g. `Mo-Fr 08:00-20:00`, `24/7`); \
     an expression that does not parse is a 400"
);
/// Gives every documented 4xx/5xx response without a body the [`ErrorReply`] JSON body.
pub struct ErrorBodies;

impl Modify for ErrorBodies {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for op in ops.into_iter().flatten() {
                add_error_bodies(op);
            }
        }
    }
}

fn add_error_bodies(op: &mut Operation) {
    // Any request can meet an overloaded service (in-flight budget, request time budget) or an
    // unreachable store: every operation documents the 503 it then gets.
    op.responses
        .responses
        .entry("503".to_string())
        .or_insert_with(|| {
            ResponseBuilder::new()
                .description(
                    "`overloaded`, `busy`, `timeout` or `store_unavailable`: the service sheds \
                     load or cannot reach its store; retry after `Retry-After` seconds",
                )
                .header(
                    "Retry-After",
                    HeaderBuilder::new()
                        .schema(Some(
                            ObjectBuilder::new()
                                .schema_type(Type::Integer)
                                .minimum(Some(0)),
                        ))
                        .build(),
                )
                .build()
                .into()
        });
    for (status, response) in op.responses.responses.iter_mut() {
        let is_error = status.parse::<u16>().is_ok_and(|s| s >= 400);
        if let (true, RefOr::T(response)) = (is_error, response) {
            if response.content.is_empty() {
                response.content.insert(
                    "application/json".to_string(),
                    Content::new(Some(Ref::from_schema_name("ErrorReply"))).into(),
                );
            }
        }
    }
}

/// Marks properties of an object schema in `components` as needing each other
/// (JSON Schema `dependentRequired`): `pairs` is `(property, [properties it needs])`.
pub fn dependent_required(
    openapi: &mut utoipa::openapi::OpenApi,
    schema: &str,
    pairs: &[(&str, &[&str])],
) {
    let Some(RefOr::T(Schema::Object(object))) = openapi
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut(schema))
    else {
        return;
    };
    let value: serde_json::Map<String, serde_json::Value> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), serde_json::json!(v)))
        .collect();
    object
        .extensions
        .get_or_insert_with(Default::default)
        .insert("dependentRequired".to_string(), value.into());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::report::ReportStatus;
    use crate::domain::{Amenity, AmenitySet};
    use utoipa::PartialSchema;

    /// The `enum` of a string schema.
    pub(crate) fn values<T: PartialSchema>() -> Vec<String> {
        let json = serde_json::to_value(T::schema()).expect("a schema serializes");
        json["enum"]
            .as_array()
            .expect("an enum")
            .iter()
            .map(|v| v.as_str().expect("strings").to_string())
            .collect()
    }

    #[test]
    fn documented_vocabularies_are_what_the_parsers_accept() {
        for v in values::<ModeSchema>() {
            assert_eq!(v.parse::<Mode>().map(Mode::as_str), Ok(v.as_str()));
        }
        for v in values::<CrsSchema>() {
            assert_eq!(v.parse::<Crs>().map(Crs::as_str), Ok(v.as_str()));
        }
        for v in values::<ReportKindSchema>() {
            assert_eq!(
                v.parse::<ReportKind>().map(ReportKind::as_str),
                Ok(v.as_str())
            );
        }
        for v in values::<AmenitySchema>() {
            assert_eq!(v.parse::<Amenity>().map(Amenity::key), Ok(v.as_str()));
        }
        for v in values::<StatusFilterSchema>() {
            assert!(ReportStatus::parse_filter(Some(&v)).is_ok(), "{v}");
        }
        for v in values::<RoleSchema>() {
            assert!(v.parse::<Role>().is_ok(), "{v}");
        }
        assert_eq!(values::<AmenitySchema>().len(), ALL_AMENITIES.len());
        assert_eq!(values::<WeightSchema>(), ["area", "demand"]);
        assert_eq!(values::<FormatSchema>(), ["json", "cells", "csv"]);
    }

    #[test]
    fn documented_patterns_match_what_the_parsers_accept() {
        // The patterns are for clients and schemathesis; these spot checks keep them honest.
        let pattern = |s: RefOr<Schema>| {
            serde_json::to_value(s).expect("json")["pattern"]
                .as_str()
                .expect("a pattern")
                .to_string()
        };
        let list = pattern(AmenityListSchema::schema());
        for key in ALL_AMENITIES.map(|a| a.key()) {
            assert!(list.contains(key), "{key}");
            assert!(AmenitySet::parse_list(key, ',').is_ok());
        }
        assert!(pattern(BboxSchema::schema()).starts_with("^-?[0-9]{1,3}"));
        assert_eq!(pattern(AdcodeSchema::schema()), "^[1-9][0-9]{5}$");
        assert!("360102".parse::<crate::domain::Adcode>().is_ok());
        assert!("036010".parse::<crate::domain::Adcode>().is_err());
    }
}
