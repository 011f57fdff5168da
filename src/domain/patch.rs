use super::station::{optional_text, required_text, validate_county, validate_photo_url};
use super::{AmenitySet, Hours, Invalid, LonLat, Station, TemporaryClosure};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

/// Longest temporary-closure reason, in characters.
pub const MAX_REASON: usize = 200;

/// A JSON merge patch (RFC 7396) of a station: an absent field stays, `null` clears an optional one.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StationPatch {
    /// New name.
    #[serde(default, deserialize_with = "some")]
    pub name: Option<Option<String>>,
    /// New address.
    #[serde(default, deserialize_with = "some")]
    pub address: Option<Option<String>>,
    /// New amenity set (replaces the old one).
    #[serde(default, deserialize_with = "some")]
    pub amenities: Option<Option<AmenitySet>>,
    /// New opening hours.
    #[serde(default, deserialize_with = "some")]
    pub opening_hours: Option<Option<Hours>>,
    /// Set or clear a temporary closure.
    #[serde(default, deserialize_with = "some")]
    pub temporary_closure: Option<Option<TemporaryClosure>>,
    /// Set or clear the phone.
    #[serde(default, deserialize_with = "some")]
    pub phone: Option<Option<String>>,
    /// Set or clear the photo URL.
    #[serde(default, deserialize_with = "some")]
    pub photo_url: Option<Option<String>>,
    /// Set or clear the notes.
    #[serde(default, deserialize_with = "some")]
    pub notes: Option<Option<String>>,
    /// Move the station (admin only): latitude, with `lon`.
    #[serde(default, deserialize_with = "some")]
    pub lat: Option<Option<f64>>,
    /// Move the station (admin only): longitude, with `lat`.
    #[serde(default, deserialize_with = "some")]
    pub lon: Option<Option<f64>>,
    /// Reassign the county (admin only).
    #[serde(default, deserialize_with = "some")]
    pub county: Option<Option<String>>,
}

/// Distinguishes an explicit `null` (`Some(None)`) from an absent field (`None`).
fn some<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn required<T>(field: &'static str, v: Option<T>) -> Result<T, Invalid> {
    v.ok_or_else(|| Invalid::new("invalid_field", format!("{field} cannot be null")))
}

impl StationPatch {
    /// Whether the patch changes what only an admin may change (location, county).
    pub fn needs_admin(&self) -> bool {
        self.lat.is_some() || self.lon.is_some() || self.county.is_some()
    }

    /// Whether the patch changes nothing at all.
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.address.is_none()
            && self.amenities.is_none()
            && self.opening_hours.is_none()
            && self.temporary_closure.is_none()
            && self.phone.is_none()
            && self.photo_url.is_none()
            && self.notes.is_none()
            && !self.needs_admin()
    }

    /// The station after the patch, validated; `now` rejects closures that already ended.
    pub fn apply(self, current: &Station, now: DateTime<Utc>) -> Result<Station, Invalid> {
        let mut s = current.clone();
        if let Some(v) = self.name {
            let v = required("name", v)?;
            required_text("name", &v)?;
            s.name = v.trim().to_string();
        }
        if let Some(v) = self.address {
            let v = v.unwrap_or_default();
            optional_text("address", Some(&v))?;
            s.address = v.trim().to_string();
        }
        if let Some(v) = self.amenities {
            s.amenities = required("amenities", v)?;
        }
        if let Some(v) = self.opening_hours {
            s.opening_hours = required("opening_hours", v)?;
        }
        if let Some(v) = self.temporary_closure {
            if let Some(c) = &v {
                if c.until <= now {
                    return Err(Invalid::new(
                        "invalid_closure",
                        format!(
                            "temporary_closure.until must be in the future, got {}",
                            c.until.to_rfc3339()
                        ),
                    ));
                }
                if c.reason.chars().count() > MAX_REASON {
                    return Err(Invalid::new(
                        "invalid_closure",
                        format!("temporary_closure.reason must be at most {MAX_REASON} characters"),
                    ));
                }
                optional_text("temporary_closure.reason", Some(&c.reason))?;
            }
            s.temporary_closure = v;
        }
        type Check = fn(Option<&str>) -> Result<(), Invalid>;
        let phone: Check = |v| optional_text("phone", v);
        let notes: Check = |v| optional_text("notes", v);
        for (patch, slot, check) in [
            (self.phone, &mut s.phone, phone),
            (
                self.photo_url,
                &mut s.photo_url,
                validate_photo_url as Check,
            ),
            (self.notes, &mut s.notes, notes),
        ] {
            if let Some(v) = patch {
                let v = v.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
                check(v.as_deref())?;
                *slot = v;
            }
        }
        match (self.lat, self.lon) {
            (None, None) => {}
            (Some(Some(lat)), Some(Some(lon))) => s.location = LonLat::new(lon, lat)?,
            _ => {
                return Err(Invalid::new(
                    "invalid_location",
                    "moving a station needs both lat and lon as numbers",
                ))
            }
        }
        if let Some(v) = self.county {
            let v = required("county", v)?;
            validate_county(&v)?;
            s.county = v;
        }
        Ok(s)
    }
}

/// The fields whose values differ between two versions of a station, by their API names.
pub fn changed_fields(a: &Station, b: &Station) -> Vec<&'static str> {
    let mut f = Vec::new();
    let mut check = |name, differs: bool| {
        if differs {
            f.push(name)
        }
    };
    check("code", a.code != b.code);
    check("name", a.name != b.name);
    check("address", a.address != b.address);
    check("county", a.county != b.county);
    check("location", a.location != b.location);
    check("amenities", a.amenities != b.amenities);
    check("opening_hours", a.opening_hours != b.opening_hours);
    check(
        "temporary_closure",
        a.temporary_closure != b.temporary_closure,
    );
    check("phone", a.phone != b.phone);
    check("photo_url", a.photo_url != b.photo_url);
    check("notes", a.notes != b.notes);
    check("demo", a.demo != b.demo);
    check("verified_at", a.verified_at != b.verified_at);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn station() -> Station {
        Station {
            id: 1,
            code: "JX-1".into(),
            name: "（示例）站".into(),
            address: "路1号".into(),
            county: "360102".into(),
            location: LonLat::new(115.89, 28.68).unwrap(),
            amenities: AmenitySet::from_keys(&["water"]).unwrap(),
            opening_hours: "24/7".parse().unwrap(),
            temporary_closure: None,
            phone: Some("0791".into()),
            photo_url: None,
            notes: None,
            demo: true,
            verified_at: None,
            version: 3,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn merge_patch_keeps_absent_and_clears_null() {
        let p: StationPatch =
            serde_json::from_str(r#"{"phone":null,"amenities":["toilet"]}"#).unwrap();
        let s = p.apply(&station(), Utc::now()).unwrap();
        assert_eq!(s.phone, None);
        assert_eq!(s.amenities.keys(), vec!["toilet"]);
        assert_eq!(s.name, "（示例）站");
        assert_eq!(changed_fields(&station(), &s), vec!["amenities", "phone"]);
    }

    #[test]
    fn rejects_unknown_fields_null_required_and_past_closures() {
        assert!(serde_json::from_str::<StationPatch>(r#"{"nmae":"x"}"#).is_err());
        let p: StationPatch = serde_json::from_str(r#"{"name":null}"#).unwrap();
        assert!(p.apply(&station(), Utc::now()).is_err());
        let p: StationPatch = serde_json::from_str(
            r#"{"temporary_closure":{"until":"2020-01-01T00:00:00+08:00","reason":"x"}}"#,
        )
        .unwrap();
        assert_eq!(
            p.apply(&station(), Utc::now()).unwrap_err().code,
            "invalid_closure"
        );
        assert!(serde_json::from_str::<StationPatch>(r#"{"opening_hours":"whenever"}"#).is_err());
    }
}
