use super::{AmenitySet, Hours, Invalid, LonLat};
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};

/// Longest free-text field accepted (name, address, notes…), in characters.
pub const MAX_TEXT: usize = 500;

/// A closure set by a manager that ends by itself at `until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemporaryClosure {
    /// When the station reopens (with the offset the manager gave).
    pub until: DateTime<FixedOffset>,
    /// Why it is closed, shown to riders.
    #[serde(default)]
    pub reason: String,
}

/// A station as stored: the store is the source of truth, the index caches it.
#[derive(Debug, Clone, PartialEq)]
pub struct Station {
    /// Store-assigned id.
    pub id: i64,
    /// Union's unique code, e.g. `JX-360102-0007`.
    pub code: String,
    /// Display name.
    pub name: String,
    /// Street address.
    pub address: String,
    /// County-level division code (adcode), e.g. `360102`.
    pub county: String,
    /// WGS-84 position.
    pub location: LonLat,
    /// What it offers.
    pub amenities: AmenitySet,
    /// Regular opening hours.
    pub opening_hours: Hours,
    /// A temporary closure, if one was set (it may have ended already).
    pub temporary_closure: Option<TemporaryClosure>,
    /// Contact phone.
    pub phone: Option<String>,
    /// Photo URL.
    pub photo_url: Option<String>,
    /// Free notes.
    pub notes: Option<String>,
    /// Demo data, never to be presented as a real station.
    pub demo: bool,
    /// When a manager last confirmed the data is current.
    pub verified_at: Option<DateTime<Utc>>,
    /// Optimistic-concurrency version, bumped by every change.
    pub version: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Station {
    /// Whether a temporary closure is in force at `now`.
    pub fn is_temporarily_closed(&self, now: DateTime<Utc>) -> bool {
        self.temporary_closure
            .as_ref()
            .is_some_and(|c| c.until > now)
    }

    /// The end of a closure in force, as a Unix timestamp (0 when none): what the index filters on.
    pub fn closed_until_ts(&self) -> i64 {
        self.temporary_closure
            .as_ref()
            .map_or(0, |c| c.until.timestamp())
    }
}

/// A station as the store holds it at one version, retired or not: what the index orders
/// changes by, so a retirement is ordered like any edit.
// Short-lived values moved into the index: boxing the station would add an allocation per
// change to save stack space nobody holds.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum StationState {
    /// Active (shown in queries) at `station.version`.
    Active(Station),
    /// Retired at `version` (the retirement bumped it): gone from queries.
    Retired {
        /// The station's id.
        id: i64,
        /// The version the retirement wrote.
        version: i64,
    },
}

impl StationState {
    /// The station's id.
    pub fn id(&self) -> i64 {
        match self {
            StationState::Active(s) => s.id,
            StationState::Retired { id, .. } => *id,
        }
    }

    /// The version this state was written at.
    pub fn version(&self) -> i64 {
        match self {
            StationState::Active(s) => s.version,
            StationState::Retired { version, .. } => *version,
        }
    }
}

/// A station before the store gives it an id: what import and create take.
#[derive(Debug, Clone, PartialEq)]
pub struct NewStation {
    /// Union's unique code.
    pub code: String,
    /// Display name.
    pub name: String,
    /// Street address.
    pub address: String,
    /// County adcode.
    pub county: String,
    /// WGS-84 position.
    pub location: LonLat,
    /// What it offers.
    pub amenities: AmenitySet,
    /// Regular opening hours.
    pub opening_hours: Hours,
    /// Contact phone.
    pub phone: Option<String>,
    /// Photo URL.
    pub photo_url: Option<String>,
    /// Free notes.
    pub notes: Option<String>,
    /// Demo data flag.
    pub demo: bool,
}

impl NewStation {
    /// The station as the store holds it right after insertion (version 1).
    pub fn into_station(self, id: i64, now: DateTime<Utc>) -> Station {
        Station {
            id,
            code: self.code,
            name: self.name,
            address: self.address,
            county: self.county,
            location: self.location,
            amenities: self.amenities,
            opening_hours: self.opening_hours,
            temporary_closure: None,
            phone: self.phone,
            photo_url: self.photo_url,
            notes: self.notes,
            demo: self.demo,
            verified_at: None,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    /// Checks the text fields (the typed fields are valid by construction).
    pub fn validate(&self) -> Result<(), Invalid> {
        validate_code(&self.code)?;
        required_text("name", &self.name)?;
        optional_text("address", Some(&self.address))?;
        validate_county(&self.county)?;
        optional_text("phone", self.phone.as_deref())?;
        validate_photo_url(self.photo_url.as_deref())?;
        optional_text("notes", self.notes.as_deref())?;
        Ok(())
    }
}

/// A union code: 1..64 characters of letters, digits, `-` and `_`.
pub fn validate_code(code: &str) -> Result<(), Invalid> {
    let ok = !code.is_empty()
        && code.len() <= 64
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Invalid::new(
            "invalid_code",
            format!("code must be 1..64 letters, digits, '-' or '_', got {code:?}"),
        ))
    }
}

/// A photo URL, when there is one: an absolute `https:` or `http:` URL with a host, what a
/// browser may load as an image. `javascript:`, `data:`, `file:` and every other scheme, and
/// relative or scheme-relative URLs, are refused (`invalid_photo_url`).
pub fn validate_photo_url(value: Option<&str>) -> Result<(), Invalid> {
    optional_text("photo_url", value)?;
    let Some(v) = value else { return Ok(()) };
    let lower = v.get(..8).unwrap_or(v).to_ascii_lowercase();
    // The URL standard also reads `https:host` and `https:\\host` as https://host; asking
    // for the `//` leaves one spelling of an absolute URL.
    let spelled_absolute = lower.starts_with("https://") || lower.starts_with("http://");
    let parsed = url::Url::parse(v).ok().filter(|u| {
        matches!(u.scheme(), "https" | "http") && u.host_str().is_some_and(|h| !h.is_empty())
    });
    if spelled_absolute && parsed.is_some() {
        Ok(())
    } else {
        Err(Invalid::new(
            "invalid_photo_url",
            format!("photo_url must be an absolute https:// or http:// URL, got {v:?}"),
        ))
    }
}

/// A county adcode: six digits.
pub fn validate_county(county: &str) -> Result<(), Invalid> {
    if county.len() == 6 && county.chars().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err(Invalid::new(
            "invalid_county",
            format!("county must be a 6-digit adcode, got {county:?}"),
        ))
    }
}

/// A required text field: not blank, at most [`MAX_TEXT`] characters.
pub fn required_text(field: &'static str, value: &str) -> Result<(), Invalid> {
    if value.trim().is_empty() {
        return Err(Invalid::new(
            "invalid_field",
            format!("{field} must not be empty"),
        ));
    }
    optional_text(field, Some(value))
}

/// An optional text field: at most [`MAX_TEXT`] characters, no control characters.
pub fn optional_text(field: &'static str, value: Option<&str>) -> Result<(), Invalid> {
    let Some(v) = value else { return Ok(()) };
    if v.chars().count() > MAX_TEXT {
        return Err(Invalid::new(
            "invalid_field",
            format!(
                "{field} must be at most {MAX_TEXT} characters, got {}",
                v.chars().count()
            ),
        ));
    }
    if v.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Invalid::new(
            "invalid_field",
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photo_urls_are_absolute_http_or_https() {
        for ok in [
            "https://example.org/p/1.jpg",
            "http://example.org/p.jpg?size=2",
            "HTTPS://EXAMPLE.ORG/a.png",
            "https://[2001:db8::1]/p.jpg",
        ] {
            assert_eq!(validate_photo_url(Some(ok)), Ok(()), "{ok}");
        }
        assert_eq!(validate_photo_url(None), Ok(()));
        for bad in [
            "javascript:alert(1)",
            "JavaScript://example.org/%0Aalert(1)",
            "data:image/png;base64,iVBORw0KGgo=",
            "file:///etc/passwd",
            "ftp://example.org/p.jpg",
            "//example.org/p.jpg",
            "/p/1.jpg",
            "https:example.org",
            "https:\\\\example.org\\p.jpg",
            "https://",
            "example.org/p.jpg",
        ] {
            let e = validate_photo_url(Some(bad)).unwrap_err();
            assert_eq!(e.code, "invalid_photo_url", "{bad}");
        }
    }
}
