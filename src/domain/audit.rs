use super::Station;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Who made a change: an account, or an operator tool (`account_id` none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The account, when a person logged in made it.
    pub account_id: Option<i64>,
    /// The login, or the tool's name (e.g. `cli:import`).
    pub login: String,
}

impl Actor {
    /// Bulk imports (`yizhan import`, the demo seeds): no account, the tool's name.
    pub fn importer() -> Self {
        Actor {
            account_id: None,
            login: "import".to_string(),
        }
    }
}

/// What kind of change an audit record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditAction {
    /// A station was created.
    Create,
    /// Fields changed.
    Update,
    /// A manager confirmed the data is current.
    Verify,
    /// The station was retired (gone from queries, kept with its history).
    Retire,
}

impl AuditAction {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Create => "create",
            AuditAction::Update => "update",
            AuditAction::Verify => "verify",
            AuditAction::Retire => "retire",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "create" => Some(AuditAction::Create),
            "update" => Some(AuditAction::Update),
            "verify" => Some(AuditAction::Verify),
            "retire" => Some(AuditAction::Retire),
            _ => None,
        }
    }
}

/// One change to one station, written in the same transaction as the change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    /// Sequence number (increasing in commit order per store).
    pub id: i64,
    /// The station changed.
    pub station_id: i64,
    /// Who.
    pub actor: Actor,
    /// What kind of change.
    pub action: AuditAction,
    /// When.
    pub at: DateTime<Utc>,
    /// The fields that changed.
    pub fields: Vec<String>,
    /// The full state before (none for a creation).
    pub before: Option<Value>,
    /// The full state after (for a retirement: the state it was retired in).
    pub after: Option<Value>,
}

/// The full state of a station as the audit log keeps it: replaying `after` states in order
/// reproduces the store.
pub fn station_state(s: &Station) -> Value {
    json!({
        "id": s.id,
        "code": s.code,
        "name": s.name,
        "address": s.address,
        "county": s.county,
        "lon": s.location.lon,
        "lat": s.location.lat,
        "amenities": s.amenities,
        "opening_hours": s.opening_hours,
        "temporary_closure": s.temporary_closure,
        "phone": s.phone,
        "photo_url": s.photo_url,
        "notes": s.notes,
        "demo": s.demo,
        "verified_at": s.verified_at,
        "version": s.version,
    })
}
