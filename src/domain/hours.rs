use super::Invalid;
use chrono::NaiveDateTime;
use opening_hours::OpeningHours;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Longest expression accepted: real ones are a few dozen characters.
const MAX_LEN: usize = 255;

/// An OSM `opening_hours` expression, parsed once, kept with the text the user wrote.
///
/// Shared: stations with the same text hold the same parse (a pointer each, not 88 bytes and a
/// string: a million stations repeat a few hundred schedules).
#[derive(Clone, Debug)]
pub struct Hours(Arc<Parsed>);

#[derive(Debug)]
struct Parsed {
    text: String,
    parsed: OpeningHours,
}

impl Hours {
    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.0.text
    }

    /// Whether the place is open at a local wall-clock time (the station's time zone).
    pub fn is_open_at(&self, local: NaiveDateTime) -> bool {
        self.0.parsed.is_open(local)
    }

    /// Whether this is the always-open expression, which needs no evaluation.
    pub fn is_always_open(&self) -> bool {
        self.0.text == "24/7"
    }
}

impl PartialEq for Hours {
    fn eq(&self, other: &Self) -> bool {
        self.0.text == other.0.text
    }
}

impl Eq for Hours {}

impl FromStr for Hours {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        if text.is_empty() || text.len() > MAX_LEN {
            return Err(Invalid::new(
                "invalid_opening_hours",
                format!("opening_hours must be 1..{MAX_LEN} characters of OSM opening_hours syntax, got {s:?}"),
            ));
        }
        parse_cached(text)
    }
}

/// Distinct expressions remembered per thread. Parsing (a PEG grammar) costs tens of
/// microseconds, far more than the rest of loading a station, and real data repeats a few
/// hundred schedules: a million-station start-up would spend most of its time here.
const PARSE_CACHE_SIZE: usize = 1024;

/// Parses an expression (already trimmed), or shares the parse of the same text.
fn parse_cached(text: &str) -> Result<Hours, Invalid> {
    thread_local! {
        static CACHE: RefCell<HashMap<String, Hours>> = RefCell::new(HashMap::new());
    }
    if let Some(hit) = CACHE.with(|c| c.borrow().get(text).cloned()) {
        return Ok(hit);
    }
    let parsed: OpeningHours = text.parse().map_err(|e| {
        Invalid::new(
            "invalid_opening_hours",
            format!("opening_hours {text:?} is not valid OSM opening_hours syntax: {e}"),
        )
    })?;
    let hours = Hours(Arc::new(Parsed {
        text: text.to_string(),
        parsed,
    }));
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= PARSE_CACHE_SIZE {
            c.clear();
        }
        c.insert(text.to_string(), hours.clone());
    });
    Ok(hours)
}

impl fmt::Display for Hours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Hours {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Hours {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn evaluates_weekday_ranges() {
        let h: Hours = "Mo-Fr 08:00-18:00".parse().unwrap();
        // 2026-11-27 is a Friday.
        let fri_noon = NaiveDate::from_ymd_opt(2026, 11, 27)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        let sat_noon = NaiveDate::from_ymd_opt(2026, 11, 28)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        assert!(h.is_open_at(fri_noon));
        assert!(!h.is_open_at(sat_noon));
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(
            "open sometimes".parse::<Hours>().unwrap_err().code,
            "invalid_opening_hours"
        );
        assert_eq!(
            "".parse::<Hours>().unwrap_err().code,
            "invalid_opening_hours"
        );
    }
}
