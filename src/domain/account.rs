//! Accounts of union staff who edit stations: their role, login name and assigned stations.

use super::Invalid;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Province/city/county union staff: create, retire, assign managers, see everything.
    Admin,
    /// Edits only the stations assigned to them.
    Manager,
    /// Reads demand data and coverage suggestions; manages no station.
    Planner,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 3] = [Role::Admin, Role::Manager, Role::Planner];

    /// The stored and serialized name (`admin`, `manager`, `planner`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Planner => "planner",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "manager" => Ok(Role::Manager),
            "planner" => Ok(Role::Planner),
            _ => Err(Invalid::new(
                "invalid_role",
                format!("role must be admin, manager or planner, got {s:?}"),
            )),
        }
    }
}

/// Shortest login accepted.
pub const LOGIN_MIN_CHARS: usize = 3;
/// Longest login accepted.
pub const LOGIN_MAX_CHARS: usize = 64;

/// A login name: 3 to 64 of `a-z 0-9 . _ -`. ASCII capitals are folded to lower case on
/// parsing, so `Zhang.Wei` and `zhang.wei` are the same account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Login(String);

impl Login {
    /// Parses and normalises a login name.
    pub fn new(raw: &str) -> Result<Self, Invalid> {
        let s = raw.to_ascii_lowercase();
        let n = s.chars().count();
        if !(LOGIN_MIN_CHARS..=LOGIN_MAX_CHARS).contains(&n) {
            return Err(Invalid::new(
                "invalid_login",
                format!(
                    "a login has {LOGIN_MIN_CHARS} to {LOGIN_MAX_CHARS} characters, got {n} in {raw:?}"
                ),
            ));
        }
        if let Some(c) = s.chars().find(|c| {
            !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        }) {
            return Err(Invalid::new(
                "invalid_login",
                format!("a login uses only a-z, 0-9, '.', '_' and '-'; {raw:?} has {c:?}"),
            ));
        }
        Ok(Self(s))
    }

    /// The normalised name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Login {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Login::new(s)
    }
}

impl fmt::Display for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Login {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Login::new(&s).map_err(serde::de::Error::custom)
    }
}

/// An account as the service sees it (never with its password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Store id.
    pub id: i64,
    /// Login name (normalised, see [`Login`]).
    pub login: String,
    /// What the account may do.
    pub role: Role,
    /// Ids of the stations assigned to a manager, ascending (admins manage all regardless;
    /// planners none).
    pub stations: Vec<i64>,
}

impl Account {
    /// True for admins.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether this account may edit the station: admins all, managers their assigned ones,
    /// planners none (even should stations be assigned to one behind our back).
    pub fn can_manage(&self, station_id: i64) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Manager => self.stations.binary_search(&station_id).is_ok(),
            Role::Planner => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_are_folded_to_lower_case_and_checked() {
        assert_eq!(Login::new("Zhang.Wei-01").unwrap().as_str(), "zhang.wei-01");
        assert!(Login::new("ab").is_err());
        assert!(Login::new(&"a".repeat(65)).is_err());
        assert!(Login::new(&"a".repeat(64)).is_ok());
        assert!(Login::new("张伟").is_err());
        assert!(Login::new("a b c").is_err());
        assert!(Login::new("a;drop").is_err());
    }

    #[test]
    fn roles_parse_and_serialize_lowercase() {
        assert_eq!("admin".parse::<Role>().unwrap(), Role::Admin);
        assert_eq!("manager".parse::<Role>().unwrap(), Role::Manager);
        assert_eq!("planner".parse::<Role>().unwrap(), Role::Planner);
        assert!("root".parse::<Role>().is_err());
        for role in [Role::Admin, Role::Manager, Role::Planner] {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
            assert_eq!(
                serde_json::to_string(&role).unwrap(),
                format!("\"{}\"", role.as_str())
            );
        }
        assert_eq!(
            serde_json::to_string(&Role::Manager).unwrap(),
            "\"manager\""
        );
    }

    #[test]
    fn managers_manage_only_their_stations_and_admins_all() {
        let m = Account {
            id: 1,
            login: "m".into(),
            role: Role::Manager,
            stations: vec![2, 5],
        };
        assert!(m.can_manage(5) && !m.can_manage(3) && !m.is_admin());
        let a = Account {
            role: Role::Admin,
            stations: vec![],
            ..m
        };
        assert!(a.can_manage(3) && a.is_admin());
        let p = Account {
            role: Role::Planner,
            stations: vec![2, 5],
            ..a
        };
        assert!(!p.can_manage(5) && !p.can_manage(3) && !p.is_admin());
    }
}
