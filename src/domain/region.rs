//! Administrative regions (province, city, county) with their adcodes and WGS-84 outlines:
//! what coverage is measured over and reported by.

use super::Invalid;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// A six-digit administrative division code (行政区划代码), e.g. `360102`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Adcode(u32);

impl Adcode {
    /// The code as a number (`360102`).
    pub fn get(self) -> u32 {
        self.0
    }

    /// Builds a code from its number: six digits, not starting with 0.
    pub fn new(code: u32) -> Result<Self, Invalid> {
        if (100_000..=999_999).contains(&code) {
            Ok(Self(code))
        } else {
            Err(Invalid::new(
                "invalid_adcode",
                format!("an adcode has six digits (e.g. 360102), got {code}"),
            ))
        }
    }

    /// The level the code's shape suggests: `xx0000` a province, `xxxx00` a city, else a
    /// county. (Some county-level units sit directly under a province; the stored parent says so.)
    pub fn level_hint(self) -> RegionLevel {
        if self.0.is_multiple_of(10_000) {
            RegionLevel::Province
        } else if self.0.is_multiple_of(100) {
            RegionLevel::City
        } else {
            RegionLevel::County
        }
    }

    /// The province this code lies in (`360102` → `360000`).
    pub fn province(self) -> Adcode {
        Adcode(self.0 / 10_000 * 10_000)
    }

    /// The city-level code of this code (`360102` → `360100`).
    pub fn city(self) -> Adcode {
        Adcode(self.0 / 100 * 100)
    }
}

impl FromStr for Adcode {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.len() != 6 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Invalid::new(
                "invalid_adcode",
                format!("an adcode has six digits (e.g. 360102), got {s:?}"),
            ));
        }
        Adcode::new(
            t.parse()
                .map_err(|_| Invalid::new("invalid_adcode", format!("not an adcode: {s:?}")))?,
        )
    }
}

impl fmt::Display for Adcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:06}", self.0)
    }
}

impl Serialize for Adcode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Adcode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(u32),
        }
        match Raw::deserialize(d)? {
            Raw::Text(s) => s.parse().map_err(serde::de::Error::custom),
            Raw::Number(n) => Adcode::new(n).map_err(serde::de::Error::custom),
        }
    }
}

/// Province, city (prefecture) or county (district, county-level city).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum RegionLevel {
    /// 省 / 自治区 / 直辖市.
    Province,
    /// 地级市 / 州 / 盟.
    City,
    /// 区 / 县 / 县级市.
    County,
}

impl RegionLevel {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            RegionLevel::Province => "province",
            RegionLevel::City => "city",
            RegionLevel::County => "county",
        }
    }
}

impl FromStr for RegionLevel {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "province" => Ok(RegionLevel::Province),
            "city" => Ok(RegionLevel::City),
            "county" => Ok(RegionLevel::County),
            _ => Err(Invalid::new(
                "invalid_level",
                format!("level must be province, city or county, got {s:?}"),
            )),
        }
    }
}

/// Names of the provincial-level divisions (省级行政区) by code: what a province derived from its
/// cities is called when the file names it nowhere.
const PROVINCES: [(u32, &str); 34] = [
    (110_000, "北京市"),
    (120_000, "天津市"),
    (130_000, "河北省"),
    (140_000, "山西省"),
    (150_000, "内蒙古自治区"),
    (210_000, "辽宁省"),
    (220_000, "吉林省"),
    (230_000, "黑龙江省"),
    (310_000, "上海市"),
    (320_000, "江苏省"),
    (330_000, "浙江省"),
    (340_000, "安徽省"),
    (350_000, "福建省"),
    (360_000, "江西省"),
    (370_000, "山东省"),
    (410_000, "河南省"),
    (420_000, "湖北省"),
    (430_000, "湖南省"),
    (440_000, "广东省"),
    (450_000, "广西壮族自治区"),
    (460_000, "海南省"),
    (500_000, "重庆市"),
    (510_000, "四川省"),
    (520_000, "贵州省"),
    (530_000, "云南省"),
    (540_000, "西藏自治区"),
    (610_000, "陕西省"),
    (620_000, "甘肃省"),
    (630_000, "青海省"),
    (640_000, "宁夏回族自治区"),
    (650_000, "新疆维吾尔自治区"),
    (710_000, "台湾省"),
    (810_000, "香港特别行政区"),
    (820_000, "澳门特别行政区"),
];

/// The name of a provincial-level division (`360000` → `江西省`), if the code is one.
pub fn province_name(code: Adcode) -> Option<&'static str> {
    PROVINCES
        .iter()
        .find(|(c, _)| *c == code.get())
        .map(|(_, name)| *name)
}

/// Longest region name accepted, in characters.
pub const MAX_REGION_NAME: usize = 100;

/// An administrative region and its outline (WGS-84 lon/lat).
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    /// Its code.
    pub adcode: Adcode,
    /// Its name (`东湖区`).
    pub name: String,
    /// Province, city or county.
    pub level: RegionLevel,
    /// The region it belongs to (none for a province).
    pub parent: Option<Adcode>,
    /// The outline, WGS-84 lon/lat.
    pub outline: geo::MultiPolygon<f64>,
}

impl Region {
    /// Validates a region: a name, a non-empty outline of finite in-range coordinates whose
    /// rings are closed and have at least four positions, and a parent of a higher level.
    pub fn new(
        adcode: Adcode,
        name: &str,
        level: RegionLevel,
        parent: Option<Adcode>,
        outline: geo::MultiPolygon<f64>,
    ) -> Result<Self, Invalid> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_REGION_NAME {
            return Err(Invalid::new(
                "invalid_name",
                format!("region {adcode}: a name of 1–{MAX_REGION_NAME} characters is needed"),
            ));
        }
        if outline.0.is_empty() {
            return Err(Invalid::new(
                "invalid_geometry",
                format!("region {adcode}: the outline has no polygon"),
            ));
        }
        for polygon in &outline.0 {
            for ring in std::iter::once(polygon.exterior()).chain(polygon.interiors()) {
                if ring.0.len() < 4 || ring.0.first() != ring.0.last() {
                    return Err(Invalid::new(
                        "invalid_geometry",
                        format!("region {adcode}: every ring needs at least 4 positions and must be closed"),
                    ));
                }
                if let Some(c) = ring.0.iter().find(|c| {
                    !(c.x.is_finite()
                        && c.y.is_finite()
                        && (-180.0..=180.0).contains(&c.x)
                        && (-90.0..=90.0).contains(&c.y))
                }) {
                    return Err(Invalid::new(
                        "invalid_geometry",
                        format!(
                            "region {adcode}: position ({}, {}) is not a WGS-84 lon/lat",
                            c.x, c.y
                        ),
                    ));
                }
            }
        }
        if let Some(p) = parent {
            if p == adcode || p.level_hint() >= level {
                return Err(Invalid::new(
                    "invalid_parent",
                    format!(
                        "region {adcode} ({}) cannot have {p} as its parent",
                        level.as_str()
                    ),
                ));
            }
        }
        Ok(Self {
            adcode,
            name: name.to_string(),
            level,
            parent,
            outline,
        })
    }
}

/// Every known region, looked up by code, with the counties under each.
#[derive(Debug, Clone, Default)]
pub struct RegionSet {
    regions: Vec<Region>,
    by_code: HashMap<Adcode, usize>,
}

impl RegionSet {
    /// Indexes regions by code (a later duplicate replaces an earlier one).
    pub fn new(regions: Vec<Region>) -> Self {
        let mut by_code = HashMap::with_capacity(regions.len());
        for (i, r) in regions.iter().enumerate() {
            by_code.insert(r.adcode, i);
        }
        let regions = regions
            .into_iter()
            .enumerate()
            .filter(|(i, r)| by_code.get(&r.adcode) == Some(i))
            .map(|(_, r)| r)
            .collect::<Vec<_>>();
        let by_code = regions
            .iter()
            .enumerate()
            .map(|(i, r)| (r.adcode, i))
            .collect();
        Self { regions, by_code }
    }

    /// The region with this code.
    pub fn get(&self, code: Adcode) -> Option<&Region> {
        self.by_code.get(&code).map(|&i| &self.regions[i])
    }

    /// Every region, in the order given.
    pub fn all(&self) -> &[Region] {
        &self.regions
    }

    /// Whether there is no region at all.
    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }

    /// Whether `code` lies under `ancestor` (or is it), following stored parents.
    pub fn is_within(&self, code: Adcode, ancestor: Adcode) -> bool {
        let mut at = Some(code);
        // Parents always have a higher level, so the chain has at most three steps; the bound
        // guards against a cycle in hand-edited data.
        for _ in 0..4 {
            match at {
                Some(c) if c == ancestor => return true,
                Some(c) => at = self.get(c).and_then(|r| r.parent),
                None => return false,
            }
        }
        false
    }

    /// The counties of a region (the county itself for a county), ordered by code.
    pub fn counties_of(&self, code: Adcode) -> Vec<&Region> {
        let mut out: Vec<&Region> = self
            .regions
            .iter()
            .filter(|r| r.level == RegionLevel::County && self.is_within(r.adcode, code))
            .collect();
        out.sort_by_key(|r| r.adcode);
        out
    }

    /// Every county, ordered by code.
    pub fn counties(&self) -> Vec<&Region> {
        let mut out: Vec<&Region> = self
            .regions
            .iter()
            .filter(|r| r.level == RegionLevel::County)
            .collect();
        out.sort_by_key(|r| r.adcode);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(x: f64, y: f64) -> geo::MultiPolygon<f64> {
        geo::MultiPolygon(vec![geo::Polygon::new(
            geo::LineString::from(vec![(x, y), (x + 1.0, y), (x + 1.0, y + 1.0), (x, y)]),
            vec![],
        )])
    }

    #[test]
    fn adcodes_parse_and_tell_their_level() {
        let c: Adcode = "360102".parse().unwrap();
        assert_eq!(c.level_hint(), RegionLevel::County);
        assert_eq!(c.city().to_string(), "360100");
        assert_eq!(c.province().to_string(), "360000");
        assert_eq!(c.province().level_hint(), RegionLevel::Province);
        for bad in ["36010", "3601020", "abcdef", "036010", "", "36 102"] {
            assert_eq!(
                bad.parse::<Adcode>().unwrap_err().code,
                "invalid_adcode",
                "{bad}"
            );
        }
        let j: Adcode = serde_json::from_str("360102").unwrap();
        assert_eq!(serde_json::to_string(&j).unwrap(), "\"360102\"");
    }

    #[test]
    fn provinces_have_names() {
        assert_eq!(province_name(Adcode::new(360_000).unwrap()), Some("江西省"));
        assert_eq!(province_name(Adcode::new(110_000).unwrap()), Some("北京市"));
        assert_eq!(province_name(Adcode::new(360_100).unwrap()), None);
        assert!(PROVINCES
            .iter()
            .all(|&(c, _)| Adcode::new(c).unwrap().level_hint() == RegionLevel::Province));
    }

    #[test]
    fn regions_reject_bad_outlines_and_parents() {
        let county: Adcode = "360102".parse().unwrap();
        let city: Adcode = "360100".parse().unwrap();
        assert!(Region::new(
            county,
            "东湖区",
            RegionLevel::County,
            Some(city),
            square(115.0, 28.0)
        )
        .is_ok());
        assert_eq!(
            Region::new(
                county,
                " ",
                RegionLevel::County,
                Some(city),
                square(115.0, 28.0)
            )
            .unwrap_err()
            .code,
            "invalid_name"
        );
        assert_eq!(
            Region::new(
                county,
                "x",
                RegionLevel::County,
                Some(city),
                square(179.5, 28.0)
            )
            .unwrap_err()
            .code,
            "invalid_geometry"
        );
        assert_eq!(
            Region::new(
                city,
                "x",
                RegionLevel::City,
                Some(county),
                square(115.0, 28.0)
            )
            .unwrap_err()
            .code,
            "invalid_parent"
        );
        assert_eq!(
            Region::new(
                county,
                "x",
                RegionLevel::County,
                None,
                geo::MultiPolygon(vec![])
            )
            .unwrap_err()
            .code,
            "invalid_geometry"
        );
    }

    #[test]
    fn counties_of_follow_parents() {
        let p: Adcode = "360000".parse().unwrap();
        let c1: Adcode = "360100".parse().unwrap();
        let k1: Adcode = "360102".parse().unwrap();
        let k2: Adcode = "360103".parse().unwrap();
        let k3: Adcode = "360201".parse().unwrap();
        let c2: Adcode = "360200".parse().unwrap();
        let set = RegionSet::new(vec![
            Region::new(
                p,
                "江西省",
                RegionLevel::Province,
                None,
                square(115.0, 28.0),
            )
            .unwrap(),
            Region::new(
                c1,
                "南昌市",
                RegionLevel::City,
                Some(p),
                square(115.0, 28.0),
            )
            .unwrap(),
            Region::new(
                c2,
                "景德镇市",
                RegionLevel::City,
                Some(p),
                square(116.0, 28.0),
            )
            .unwrap(),
            Region::new(
                k2,
                "西湖区",
                RegionLevel::County,
                Some(c1),
                square(115.0, 28.0),
            )
            .unwrap(),
            Region::new(
                k1,
                "东湖区",
                RegionLevel::County,
                Some(c1),
                square(115.0, 28.0),
            )
            .unwrap(),
            Region::new(
                k3,
                "昌江区",
                RegionLevel::County,
                Some(c2),
                square(116.0, 28.0),
            )
            .unwrap(),
        ]);
        let codes = |v: Vec<&Region>| v.iter().map(|r| r.adcode.to_string()).collect::<Vec<_>>();
        assert_eq!(codes(set.counties_of(c1)), ["360102", "360103"]);
        assert_eq!(codes(set.counties_of(p)), ["360102", "360103", "360201"]);
        assert_eq!(codes(set.counties_of(k3)), ["360201"]);
        assert!(set.counties_of("110000".parse().unwrap()).is_empty());
    }
}
