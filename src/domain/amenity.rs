use super::Invalid;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Every amenity a station can offer, in the order of the contract.
pub const ALL: [Amenity; 17] = [
    Amenity::Water,
    Amenity::HotWater,
    Amenity::Microwave,
    Amenity::Fridge,
    Amenity::PhoneCharging,
    Amenity::EbikeCharging,
    Amenity::BatterySwap,
    Amenity::Toilet,
    Amenity::RestArea,
    Amenity::AirConditioning,
    Amenity::Heating,
    Amenity::FirstAid,
    Amenity::Reading,
    Amenity::NursingRoom,
    Amenity::Wifi,
    Amenity::Umbrella,
    Amenity::RepairTools,
];

/// One thing a station offers a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Amenity {
    /// Drinking water.
    Water,
    /// Hot water.
    HotWater,
    /// Microwave oven to heat food.
    Microwave,
    /// Fridge.
    Fridge,
    /// Phone charging.
    PhoneCharging,
    /// E-bike charging.
    EbikeCharging,
    /// E-bike battery swap.
    BatterySwap,
    /// Toilet.
    Toilet,
    /// Seats to rest.
    RestArea,
    /// Air conditioning.
    AirConditioning,
    /// Heating.
    Heating,
    /// First-aid kit.
    FirstAid,
    /// Books and newspapers.
    Reading,
    /// Nursing room (爱心妈咪小屋).
    NursingRoom,
    /// Wi-Fi.
    Wifi,
    /// Umbrellas to borrow.
    Umbrella,
    /// Repair tools (e.g. for bikes).
    RepairTools,
}

impl Amenity {
    /// The stable key used in the API, files and stores.
    pub fn key(self) -> &'static str {
        match self {
            Amenity::Water => "water",
            Amenity::HotWater => "hot_water",
            Amenity::Microwave => "microwave",
            Amenity::Fridge => "fridge",
            Amenity::PhoneCharging => "phone_charging",
            Amenity::EbikeCharging => "ebike_charging",
            Amenity::BatterySwap => "battery_swap",
            Amenity::Toilet => "toilet",
            Amenity::RestArea => "rest_area",
            Amenity::AirConditioning => "air_conditioning",
            Amenity::Heating => "heating",
            Amenity::FirstAid => "first_aid",
            Amenity::Reading => "reading",
            Amenity::NursingRoom => "nursing_room",
            Amenity::Wifi => "wifi",
            Amenity::Umbrella => "umbrella",
            Amenity::RepairTools => "repair_tools",
        }
    }

    fn bit(self) -> u32 {
        1 << (self as u8)
    }

    /// All valid keys, comma separated, for error messages.
    pub fn valid_keys() -> String {
        ALL.iter().map(|a| a.key()).collect::<Vec<_>>().join(", ")
    }
}

impl FromStr for Amenity {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL.iter().copied().find(|a| a.key() == s).ok_or_else(|| {
            Invalid::new(
                "unknown_amenity",
                format!(
                    "unknown amenity {s:?}; valid amenities are: {}",
                    Amenity::valid_keys()
                ),
            )
        })
    }
}

impl fmt::Display for Amenity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// A set of amenities as a bit mask: cheap to copy and to test in the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AmenitySet(u32);

impl AmenitySet {
    /// The empty set.
    pub const EMPTY: AmenitySet = AmenitySet(0);

    /// The raw bit mask (bit i = `ALL[i]`).
    pub fn bits(self) -> u32 {
        self.0
    }

    /// Rebuilds a set from its bit mask, dropping unknown bits.
    pub fn from_bits(bits: u32) -> Self {
        AmenitySet(bits & ((1 << ALL.len()) - 1))
    }

    /// Adds one amenity.
    pub fn insert(&mut self, a: Amenity) {
        self.0 |= a.bit();
    }

    /// Whether this set has every amenity of `other`.
    pub fn contains_all(self, other: AmenitySet) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The amenities in contract order.
    pub fn iter(self) -> impl Iterator<Item = Amenity> {
        ALL.into_iter().filter(move |a| self.0 & a.bit() != 0)
    }

    /// The keys in contract order.
    pub fn keys(self) -> Vec<&'static str> {
        self.iter().map(Amenity::key).collect()
    }

    /// Parses a list separated by `sep` (`,` in URLs, `;` in CSV); blanks are ignored.
    pub fn parse_list(s: &str, sep: char) -> Result<Self, Invalid> {
        let mut set = AmenitySet::EMPTY;
        for part in s.split(sep).map(str::trim).filter(|p| !p.is_empty()) {
            set.insert(part.parse()?);
        }
        Ok(set)
    }

    /// Builds a set from keys, failing on the first unknown one.
    pub fn from_keys<S: AsRef<str>>(keys: &[S]) -> Result<Self, Invalid> {
        let mut set = AmenitySet::EMPTY;
        for k in keys {
            set.insert(k.as_ref().parse()?);
        }
        Ok(set)
    }
}

impl FromIterator<Amenity> for AmenitySet {
    fn from_iter<I: IntoIterator<Item = Amenity>>(iter: I) -> Self {
        let mut set = AmenitySet::EMPTY;
        for a in iter {
            set.insert(a);
        }
        set
    }
}

impl Serialize for AmenitySet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.keys())
    }
}

impl<'de> Deserialize<'de> for AmenitySet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let keys = Vec::<String>::deserialize(d)?;
        AmenitySet::from_keys(&keys).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_names_valid_keys_on_error() {
        let s = AmenitySet::parse_list("microwave, toilet", ',').unwrap();
        assert_eq!(s.keys(), vec!["microwave", "toilet"]);
        let err = AmenitySet::parse_list("microwave,sauna", ',').unwrap_err();
        assert_eq!(err.code, "unknown_amenity");
        assert!(err.message.contains("sauna") && err.message.contains("nursing_room"));
    }

    #[test]
    fn contains_all_is_subset() {
        let all = AmenitySet::from_keys(&["water", "toilet", "wifi"]).unwrap();
        let want = AmenitySet::from_keys(&["toilet", "water"]).unwrap();
        assert!(all.contains_all(want));
        assert!(!want.contains_all(all));
        assert!(all.contains_all(AmenitySet::EMPTY));
    }
}
