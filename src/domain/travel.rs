use super::Invalid;
use std::str::FromStr;

/// How the worker travels to the station.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// On foot (the official 15-minute circle).
    #[default]
    Walk,
    /// By e-bike.
    Ebike,
}

impl Mode {
    /// Every mode, in contract order.
    pub const ALL: [Mode; 2] = [Mode::Walk, Mode::Ebike];

    /// The key used in the API (`walk`, `ebike`).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Walk => "walk",
            Mode::Ebike => "ebike",
        }
    }
}

impl FromStr for Mode {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                Invalid::new(
                    "invalid_mode",
                    format!("mode must be walk or ebike, got {s:?}"),
                )
            })
    }
}

/// Straight-line travel time: distance × detour factor / speed (no road network yet).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TravelModel {
    /// Walking speed in km/h.
    pub walk_kmh: f64,
    /// E-bike speed in km/h.
    pub ebike_kmh: f64,
    /// Ratio of road distance to straight-line distance.
    pub detour: f64,
}

impl Default for TravelModel {
    fn default() -> Self {
        Self {
            walk_kmh: 4.5,
            ebike_kmh: 15.0,
            detour: 1.3,
        }
    }
}

impl TravelModel {
    /// Minutes to cover a straight-line distance in metres.
    pub fn minutes(&self, mode: Mode, distance_m: f64) -> f64 {
        distance_m * self.detour / (self.speed_kmh(mode) * 1000.0 / 60.0)
    }

    /// The straight-line distance reachable in `minutes`.
    pub fn reach_m(&self, mode: Mode, minutes: f64) -> f64 {
        minutes * self.speed_kmh(mode) * 1000.0 / 60.0 / self.detour
    }

    fn speed_kmh(&self, mode: Mode) -> f64 {
        match mode {
            Mode::Walk => self.walk_kmh,
            Mode::Ebike => self.ebike_kmh,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_km_walk_is_about_seventeen_minutes_with_detour() {
        let m = TravelModel::default().minutes(Mode::Walk, 1000.0);
        assert!((m - 17.333).abs() < 0.01, "{m}");
        let back = TravelModel::default().reach_m(Mode::Walk, m);
        assert!((back - 1000.0).abs() < 1e-6);
    }
}
