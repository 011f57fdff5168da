//! Rider problem reports (纠错): what a rider says is wrong with a station, and how a manager
//! closed it. A report is a message to the station's managers; it never changes the station.

use super::{Amenity, Invalid, LonLat};
use chrono::{DateTime, Utc};
use std::fmt;
use std::str::FromStr;

/// Longest note a rider may leave, in characters.
pub const NOTE_MAX_CHARS: usize = 500;
/// Longest resolution a manager may write, in characters.
pub const RESOLUTION_MAX_CHARS: usize = 500;
/// Decimals a reporter's position keeps: 0.001° is about 110 m of latitude, enough to tell
/// which entrance or street is meant and too coarse to pinpoint a person.
pub const POSITION_DECIMALS: i32 = 3;

/// What kind of problem a rider reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportKind {
    /// The station was closed when it should be open.
    Closed,
    /// An amenity the station lists is missing or out of order (names the amenity).
    AmenityBroken,
    /// The station is not where the map shows it.
    WrongLocation,
    /// Anything else (the note says what).
    Other,
}

impl ReportKind {
    /// Every kind, in contract order.
    pub const ALL: [ReportKind; 4] = [
        ReportKind::Closed,
        ReportKind::AmenityBroken,
        ReportKind::WrongLocation,
        ReportKind::Other,
    ];

    /// The stable key used in the API and the stores.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Closed => "closed",
            ReportKind::AmenityBroken => "amenity_broken",
            ReportKind::WrongLocation => "wrong_location",
            ReportKind::Other => "other",
        }
    }
}

impl FromStr for ReportKind {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                Invalid::new(
                    "invalid_kind",
                    format!(
                        "kind must be one of closed, amenity_broken, wrong_location, other; got {s:?}"
                    ),
                )
            })
    }
}

impl fmt::Display for ReportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a report stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportStatus {
    /// Waiting for a manager.
    Open,
    /// A manager closed it with a resolution note.
    Resolved,
}

impl ReportStatus {
    /// The stable key used in the API and the stores.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportStatus::Open => "open",
            ReportStatus::Resolved => "resolved",
        }
    }

    /// Parses a list filter: `open` (the default when absent), `resolved`, or `all` (`None`).
    pub fn parse_filter(s: Option<&str>) -> Result<Option<ReportStatus>, Invalid> {
        match s.map(str::trim) {
            None | Some("") | Some("open") => Ok(Some(ReportStatus::Open)),
            Some("resolved") => Ok(Some(ReportStatus::Resolved)),
            Some("all") => Ok(None),
            Some(other) => Err(Invalid::new(
                "invalid_status",
                format!("status must be open, resolved or all; got {other:?}"),
            )),
        }
    }
}

impl FromStr for ReportStatus {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(ReportStatus::Open),
            "resolved" => Ok(ReportStatus::Resolved),
            _ => Err(Invalid::new(
                "invalid_status",
                format!("status must be open or resolved; got {s:?}"),
            )),
        }
    }
}

impl fmt::Display for ReportStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated report as a rider files it (the station comes from the URL).
#[derive(Debug, Clone, PartialEq)]
pub struct NewReport {
    /// What is wrong.
    pub kind: ReportKind,
    /// The broken amenity: present exactly when `kind` is `AmenityBroken`.
    pub amenity: Option<Amenity>,
    /// The rider's words, trimmed; `None` when blank.
    pub note: Option<String>,
    /// The rider's position rounded to [`POSITION_DECIMALS`] decimals, if given.
    pub position: Option<LonLat>,
}

impl NewReport {
    /// Validates raw input: a known kind, an amenity key exactly for `amenity_broken`, a note
    /// of at most [`NOTE_MAX_CHARS`] without control characters other than newlines, and both
    /// or neither of `lat`/`lon` on WGS-84. The position is rounded here, before anything keeps it.
    pub fn parse(
        kind: &str,
        amenity: Option<&str>,
        note: Option<&str>,
        lat: Option<f64>,
        lon: Option<f64>,
    ) -> Result<Self, Invalid> {
        let kind: ReportKind = kind.trim().parse()?;
        let amenity = match (kind, amenity.map(str::trim)) {
            (ReportKind::AmenityBroken, Some(key)) => Some(key.parse::<Amenity>()?),
            (ReportKind::AmenityBroken, None) => {
                return Err(Invalid::new(
                    "amenity_required",
                    format!(
                        "a report of kind amenity_broken names the amenity; valid amenities are: {}",
                        Amenity::valid_keys()
                    ),
                ))
            }
            (_, Some(key)) => {
                return Err(Invalid::new(
                    "amenity_not_allowed",
                    format!(
                        "amenity is only given with kind amenity_broken; got amenity {key:?} with kind {kind}"
                    ),
                ))
            }
            (_, None) => None,
        };
        let note = match note {
            Some(n) => clean_text(n, TextField::Note, NOTE_MAX_CHARS)?,
            None => None,
        };
        let position = match (lat, lon) {
            (None, None) => None,
            (Some(lat), Some(lon)) => Some(rounded(LonLat::new(lon, lat)?)),
            _ => {
                return Err(Invalid::new(
                    "invalid_position",
                    "give both lat and lon of the position, or neither",
                ))
            }
        };
        Ok(Self {
            kind,
            amenity,
            note,
            position,
        })
    }
}

/// A manager's note closing a report: 1 to [`RESOLUTION_MAX_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution(String);

impl Resolution {
    /// Validates a resolution note (trimmed; same character rules as a rider's note).
    pub fn new(raw: &str) -> Result<Self, Invalid> {
        clean_text(raw, TextField::Resolution, RESOLUTION_MAX_CHARS)?
            .map(Resolution)
            .ok_or_else(|| {
                Invalid::new(
                    "resolution_required",
                    "a resolution says what was done (1 to 500 characters)",
                )
            })
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stored report.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Store id.
    pub id: i64,
    /// The station it is about.
    pub station_id: i64,
    /// What is wrong.
    pub kind: ReportKind,
    /// The broken amenity (kind `AmenityBroken` only).
    pub amenity: Option<Amenity>,
    /// The rider's note.
    pub note: Option<String>,
    /// The rider's rounded position; for managers' eyes only.
    pub position: Option<LonLat>,
    /// Open or resolved.
    pub status: ReportStatus,
    /// When it was filed.
    pub created_at: DateTime<Utc>,
    /// When it was resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// The login of who resolved it.
    pub resolved_by: Option<String>,
    /// What was done.
    pub resolution: Option<String>,
}

/// A report with the station it is about, as a manager's inbox lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxReport {
    /// The report.
    pub report: Report,
    /// The station's union code.
    pub station_code: String,
    /// The station's name.
    pub station_name: String,
}

/// Which stations' reports to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportScope<'a> {
    /// Every station (admins).
    All,
    /// These stations (a manager's).
    Stations(&'a [i64]),
}

/// Rounds a position to [`POSITION_DECIMALS`] decimals (still valid: rounding never leaves
/// [-90, 90] × [-180, 180]).
pub fn rounded(p: LonLat) -> LonLat {
    let scale = 10f64.powi(POSITION_DECIMALS);
    let r = |v: f64| (v * scale).round() / scale;
    LonLat {
        lon: r(p.lon),
        lat: r(p.lat),
    }
}

/// Which free-text field is checked (names the error codes).
#[derive(Debug, Clone, Copy)]
enum TextField {
    Note,
    Resolution,
}

impl fmt::Display for TextField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TextField::Note => "note",
            TextField::Resolution => "resolution",
        })
    }
}

/// Trims free text and checks it: at most `max` characters, no control characters except
/// newlines (`\r\n` is folded to `\n`, as browsers send textareas). Blank is `None`.
fn clean_text(raw: &str, field: TextField, max: usize) -> Result<Option<String>, Invalid> {
    let (too_long, invalid) = match field {
        TextField::Note => ("note_too_long", "invalid_note"),
        TextField::Resolution => ("resolution_too_long", "invalid_resolution"),
    };
    let text = raw.replace("\r\n", "\n");
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let n = text.chars().count();
    if n > max {
        return Err(Invalid::new(
            too_long,
            format!("{field} has at most {max} characters, got {n}"),
        ));
    }
    if let Some(c) = text.chars().find(|&c| c.is_control() && c != '\n') {
        return Err(Invalid::new(
            invalid,
            format!(
                "{field} may not contain control characters other than newlines; found U+{:04X}",
                c as u32
            ),
        ));
    }
    Ok(Some(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Result<NewReport, Invalid>) -> &'static str {
        r.expect_err("should be rejected").code
    }

    #[test]
    fn amenity_is_required_exactly_for_amenity_broken() {
        let ok = NewReport::parse("amenity_broken", Some("hot_water"), None, None, None).unwrap();
        assert_eq!(ok.amenity, Some(Amenity::HotWater));
        assert_eq!(
            code(NewReport::parse("amenity_broken", None, None, None, None)),
            "amenity_required"
        );
        assert_eq!(
            code(NewReport::parse(
                "amenity_broken",
                Some("sauna"),
                None,
                None,
                None
            )),
            "unknown_amenity"
        );
        assert_eq!(
            code(NewReport::parse("closed", Some("water"), None, None, None)),
            "amenity_not_allowed"
        );
        assert_eq!(
            code(NewReport::parse("burnt_down", None, None, None, None)),
            "invalid_kind"
        );
    }

    #[test]
    fn notes_are_bounded_and_free_of_control_characters() {
        let at_limit = "驿".repeat(NOTE_MAX_CHARS);
        let r = NewReport::parse("other", None, Some(&at_limit), None, None).unwrap();
        assert_eq!(r.note.as_deref(), Some(at_limit.as_str()));
        let over = "驿".repeat(NOTE_MAX_CHARS + 1);
        assert_eq!(
            code(NewReport::parse("other", None, Some(&over), None, None)),
            "note_too_long"
        );
        let lines = NewReport::parse("other", None, Some("  门锁了\r\n没人\n "), None, None)
            .unwrap()
            .note;
        assert_eq!(lines.as_deref(), Some("门锁了\n没人"));
        for bad in ["a\u{0}b", "a\tb", "a\u{1b}[31m", "a\u{85}b"] {
            assert_eq!(
                code(NewReport::parse("other", None, Some(bad), None, None)),
                "invalid_note",
                "{bad:?}"
            );
        }
        let blank = NewReport::parse("other", None, Some("  \n "), None, None).unwrap();
        assert_eq!(blank.note, None);
    }

    #[test]
    fn positions_come_in_pairs_are_validated_and_rounded() {
        assert_eq!(
            code(NewReport::parse("closed", None, None, Some(28.6), None)),
            "invalid_position"
        );
        assert_eq!(
            code(NewReport::parse("closed", None, None, None, Some(115.9))),
            "invalid_position"
        );
        assert_eq!(
            code(NewReport::parse(
                "closed",
                None,
                None,
                Some(91.0),
                Some(115.9)
            )),
            "invalid_lat"
        );
        assert_eq!(
            code(NewReport::parse(
                "closed",
                None,
                None,
                Some(28.0),
                Some(f64::NAN)
            )),
            "invalid_lon"
        );
        let r = NewReport::parse("closed", None, None, Some(28.682_49), Some(115.893_51)).unwrap();
        assert_eq!(
            r.position,
            Some(LonLat {
                lon: 115.894,
                lat: 28.682
            })
        );
        let edge = rounded(LonLat::new(179.999_9, -89.999_9).unwrap());
        assert!(LonLat::new(edge.lon, edge.lat).is_ok());
    }

    #[test]
    fn resolutions_need_text() {
        assert_eq!(
            Resolution::new("  ").unwrap_err().code,
            "resolution_required"
        );
        assert_eq!(
            Resolution::new(&"x".repeat(RESOLUTION_MAX_CHARS + 1))
                .unwrap_err()
                .code,
            "resolution_too_long"
        );
        assert_eq!(Resolution::new(" 已修好 ").unwrap().as_str(), "已修好");
    }

    #[test]
    fn status_filter_defaults_to_open() {
        assert_eq!(
            ReportStatus::parse_filter(None).unwrap(),
            Some(ReportStatus::Open)
        );
        assert_eq!(ReportStatus::parse_filter(Some("all")).unwrap(), None);
        assert_eq!(
            ReportStatus::parse_filter(Some("resolved")).unwrap(),
            Some(ReportStatus::Resolved)
        );
        assert_eq!(
            ReportStatus::parse_filter(Some("closed")).unwrap_err().code,
            "invalid_status"
        );
    }
}
