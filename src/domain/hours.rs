use super::Invalid;
use chrono::{NaiveDateTime, TimeDelta};
use opening_hours::{Context, OpeningHours};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Longest expression accepted: real ones are a few dozen characters. The length also bounds
/// the cost of parsing and of [`Hours::is_open_at`] (a day or two of schedule, measured at
/// tens of microseconds for the worst 255-character expressions found by `tests/fuzz_parsers.rs`).
const MAX_LEN: usize = 255;

/// How far any search for the next change of state looks before it takes the state as
/// lasting for ever. Unbounded, the crate walks day by day to the year 9999 through schedules
/// that never change but are not constant in syntax: `Mo-Su 00:00-24:00/00:01` repeated four
/// times took 63 s, `2026 Jan Mo[1]-2026 Jan Fr[1] Sa-Su` 37 s (debug build); bounded, 0.1 ms.
/// The service asks only "open at this minute?", which reads one or two days of schedule; the
/// bound makes every other question a stored expression can be asked cheap too.
pub const CHANGE_HORIZON: TimeDelta = TimeDelta::days(8);

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
    /// The last answer of [`Hours::is_open_at`]: `minute << 1 | open` ([`NO_ANSWER`] before the
    /// first). The syntax has minute resolution, so one evaluation serves a whole minute (a
    /// reply asks for each station it lists, and stations share schedules).
    last: AtomicU64,
}

/// [`Parsed::last`] before any answer (no minute maps to it).
const NO_ANSWER: u64 = u64::MAX;

impl Hours {
    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.0.text
    }

    /// Whether the place is open at a local wall-clock time (the station's time zone).
    pub fn is_open_at(&self, local: NaiveDateTime) -> bool {
        let minute = (local.and_utc().timestamp().div_euclid(60) as u64) << 1;
        let last = self.0.last.load(Ordering::Relaxed);
        if last != NO_ANSWER && last & !1 == minute {
            return last & 1 == 1;
        }
        let open = self.0.parsed.is_open(local);
        // Racing writers store answers for their own minutes; each is right for its minute.
        self.0
            .last
            .store(minute | u64::from(open), Ordering::Relaxed);
        open
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
    let parsed: OpeningHours = text
        .parse::<OpeningHours>()
        .map_err(|e| {
            Invalid::new(
                "invalid_opening_hours",
                format!("opening_hours {text:?} is not valid OSM opening_hours syntax: {e}"),
            )
        })?
        .with_context(Context::default().approx_bound_interval_size(CHANGE_HORIZON));
    let hours = Hours(Arc::new(Parsed {
        text: text.to_string(),
        parsed,
        last: AtomicU64::new(NO_ANSWER),
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
        // The remembered answer is per minute: the last open minute and the first closed one,
        // asked in turn, each get their own.
        let fri = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        let last_open = fri.and_hms_opt(17, 59, 59).unwrap();
        let first_closed = fri.and_hms_opt(18, 0, 0).unwrap();
        for _ in 0..2 {
            assert!(h.is_open_at(last_open));
            assert!(h.is_open_at(fri.and_hms_opt(17, 59, 0).unwrap()));
            assert!(!h.is_open_at(first_closed));
            assert!(!h.is_open_at(fri.and_hms_opt(18, 0, 30).unwrap()));
        }
    }

    /// Expressions whose state never changes although their syntax is not constant: the crate
    /// searched up to the year 9999 for a change (seconds to a minute each) before the bound.
    #[test]
    fn change_searches_are_bounded_by_the_horizon() {
        let now = NaiveDate::from_ymd_opt(2026, 12, 2)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        for text in [
            "Mo-Su 00:00-24:00/00:01; Mo-Su 00:00-24:00/00:01; Mo-Su 00:00-24:00/00:01",
            "2026 Jan Mo[1]-2026 Jan Fr[1] Sa-Su",
            "00:00-48:00/00:01",
            "2026-9999/7 Feb 29 Mo[5]",
        ] {
            let h: Hours = text.parse().unwrap();
            let started = std::time::Instant::now();
            let next = h.0.parsed.next_change(now);
            let took = started.elapsed();
            assert!(
                took < std::time::Duration::from_millis(500),
                "{text}: next_change took {took:?}"
            );
            // Nothing changes within the horizon: the state is taken as lasting.
            assert_eq!(next, None, "{text}");
            assert_eq!(h.is_open_at(now), text.contains("00:00"), "{text}");
        }
        // Real schedules keep their exact answers.
        let h: Hours = "Mo-Fr 08:00-20:00".parse().unwrap();
        assert_eq!(
            h.0.parsed.next_change(now),
            Some(now.date().and_hms_opt(20, 0, 0).unwrap())
        );
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
