use super::Invalid;
use chrono::NaiveDateTime;
use opening_hours::OpeningHours;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// Longest expression accepted: real ones are a few dozen characters.
const MAX_LEN: usize = 255;

/// An OSM `opening_hours` expression, parsed once, kept with the text the user wrote.
#[derive(Clone, Debug)]
pub struct Hours {
    text: String,
    parsed: OpeningHours,
}

impl Hours {
    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the place is open at a local wall-clock time (the station's time zone).
    pub fn is_open_at(&self, local: NaiveDateTime) -> bool {
        self.parsed.is_open(local)
    }

    /// Whether this is the always-open expression, which needs no evaluation.
    pub fn is_always_open(&self) -> bool {
        self.text == "24/7"
    }
}

impl PartialEq for Hours {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
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
        Ok(Self {
            text: text.to_string(),
            parsed: parse_cached(text)?,
        })
    }
}

/// Distinct expressions remembered per thread. Parsing (a PEG grammar) costs tens of
/// microseconds, far more than the rest of loading a station, and real data repeats a few
/// hundred schedules: a million-station start-up would spend most of its time here.
const PARSE_CACHE_SIZE: usize = 1024;

/// Parses an expression, or clones the parse of the same text (a few `Arc`s; it is immutable).
fn parse_cached(text: &str) -> Result<OpeningHours, Invalid> {
    thread_local! {
        static CACHE: RefCell<HashMap<String, OpeningHours>> = RefCell::new(HashMap::new());
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
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= PARSE_CACHE_SIZE {
            c.clear();
        }
        c.insert(text.to_string(), parsed.clone());
    });
    Ok(parsed)
}

impl fmt::Display for Hours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Hours {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
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
