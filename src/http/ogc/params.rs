//! Query parameters and links of the OGC API – Features endpoints, as pure functions: the
//! standard's rules (unknown parameters are a 400, `limit` above the maximum is clamped, `bbox`
//! in CRS84 may cross the antimeridian) kept apart from the handlers so they are tested alone.

use crate::domain::LonLat;
use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// Features per page when the client gives no `limit` (the standard's example value).
pub const DEFAULT_LIMIT: usize = 10;
/// Largest page; a larger `limit` is served as this one (OGC 17-069r4, /req/core/fc-limit-response-1).
pub const MAX_LIMIT: usize = 10_000;

/// The query string as distinct name → value pairs, refusing names the endpoint does not define
/// (/req/core/query-param-unknown: a 400) and names given twice (which value would count?).
pub fn parse_query(raw: Option<&str>, allowed: &[&str]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (name, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if !allowed.contains(&name.as_ref()) {
            let known = if allowed.is_empty() {
                "none".to_string()
            } else {
                allowed.join(", ")
            };
            return Err(Error::bad_request(
                "invalid_query",
                format!("unknown query parameter {name:?} (this resource takes: {known})"),
            ));
        }
        if out.insert(name.to_string(), value.to_string()).is_some() {
            return Err(Error::bad_request(
                "invalid_query",
                format!("query parameter {name:?} given more than once"),
            ));
        }
    }
    Ok(out)
}

/// `f`: only JSON is served (`json`, or `geojson` where the reply is GeoJSON).
pub fn check_format(f: Option<&str>, geojson: bool) -> Result<()> {
    match f {
        None | Some("json") => Ok(()),
        Some("geojson") if geojson => Ok(()),
        Some(other) => Err(Error::bad_request(
            "invalid_format",
            format!(
                "f must be {}, got {other:?} (no HTML encoding here)",
                if geojson { "json or geojson" } else { "json" }
            ),
        )),
    }
}

/// `limit`: an integer ≥ 1; values above [`MAX_LIMIT`] are served as [`MAX_LIMIT`].
pub fn parse_limit(s: Option<&str>) -> Result<usize> {
    let Some(s) = s else {
        return Ok(DEFAULT_LIMIT);
    };
    let bad = || {
        Error::bad_request(
            "invalid_limit",
            format!("limit must be a positive integer, got {s:?}"),
        )
    };
    let digits = s.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    // Longer than any usize: still "a lot", so the maximum.
    let n = digits.parse::<usize>().unwrap_or(usize::MAX);
    if n == 0 {
        return Err(bad());
    }
    Ok(n.min(MAX_LIMIT))
}

/// `offset`: how many matching features to skip (an integer ≥ 0).
pub fn parse_offset(s: Option<&str>) -> Result<usize> {
    let Some(s) = s else { return Ok(0) };
    s.trim().parse::<usize>().map_err(|_| {
        Error::bad_request(
            "invalid_offset",
            format!("offset must be an integer ≥ 0, got {s:?}"),
        )
    })
}

/// A `bbox` in CRS84 (lon/lat): west may exceed east, for a box across the antimeridian.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Crs84Box {
    /// West edge, degrees east.
    pub west: f64,
    /// South edge, degrees north.
    pub south: f64,
    /// East edge (less than west when the box crosses the antimeridian).
    pub east: f64,
    /// North edge.
    pub north: f64,
}

impl Crs84Box {
    /// Parses `w,s,e,n` or `w,s,zmin,e,n,zmax` (heights ignored: stations have none), checking
    /// every value is a finite in-range coordinate and south ≤ north.
    pub fn parse(s: &str) -> Result<Self> {
        let nums: Option<Vec<f64>> = s
            .split(',')
            .map(|p| p.trim().parse::<f64>().ok().filter(|v| v.is_finite()))
            .collect();
        let (west, south, east, north) = match nums.as_deref() {
            Some(&[w, s, e, n]) => (w, s, e, n),
            Some(&[w, s, _, e, n, _]) => (w, s, e, n),
            _ => {
                return Err(Error::bad_request(
                    "invalid_bbox",
                    format!("bbox must be 4 (or 6) numbers west,south,east,north, got {s:?}"),
                ))
            }
        };
        for (name, v, max) in [
            ("west", west, 180.0),
            ("east", east, 180.0),
            ("south", south, 90.0),
            ("north", north, 90.0),
        ] {
            if !(-max..=max).contains(&v) {
                return Err(Error::bad_request(
                    "invalid_bbox",
                    format!("bbox {name} must be in [-{max}, {max}], got {v}"),
                ));
            }
        }
        if south > north {
            return Err(Error::bad_request(
                "invalid_bbox",
                format!("bbox south ({south}) must not exceed north ({north})"),
            ));
        }
        Ok(Self {
            west,
            south,
            east,
            north,
        })
    }

    /// The box as one or two plain `[w, s, e, n]` boxes with west ≤ east (two when it crosses
    /// the antimeridian).
    pub fn parts(&self) -> Vec<[f64; 4]> {
        if self.west <= self.east {
            vec![[self.west, self.south, self.east, self.north]]
        } else {
            vec![
                [self.west, self.south, 180.0, self.north],
                [-180.0, self.south, self.east, self.north],
            ]
        }
    }

    /// Whether a point lies inside or on the border.
    pub fn contains(&self, p: &LonLat) -> bool {
        self.parts()
            .iter()
            .any(|[w, s, e, n]| p.lon >= *w && p.lon <= *e && p.lat >= *s && p.lat <= *n)
    }
}

/// Where this service is reached from the client's side: scheme and `host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    /// `http` or `https`.
    pub scheme: &'static str,
    /// `host[:port]` as the client addressed it.
    pub authority: String,
}

impl BaseUrl {
    /// From the request's `Host` (which a proxy must pass through, as the deployment notes ask)
    /// and whether it came over https; a missing or malformed host is a 400, never a link
    /// pointing somewhere odd.
    pub fn new(host: Option<&str>, https: bool) -> Result<Self> {
        let host = host.ok_or_else(|| {
            Error::bad_request("invalid_host", "a Host header is needed to build links")
        })?;
        let authority: axum::http::uri::Authority = host.parse().map_err(|_| {
            Error::bad_request("invalid_host", format!("Host {host:?} is not host[:port]"))
        })?;
        if authority.as_str().contains('@') {
            return Err(Error::bad_request(
                "invalid_host",
                format!("Host {host:?} is not host[:port]"),
            ));
        }
        Ok(Self {
            scheme: if https { "https" } else { "http" },
            authority: authority.as_str().to_ascii_lowercase(),
        })
    }

    /// The absolute URL of `path` with `query` pairs (encoded), in order.
    pub fn url(&self, path: &str, query: &[(&str, String)]) -> String {
        let mut u = format!("{}://{}{path}", self.scheme, self.authority);
        if !query.is_empty() {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in query {
                q.append_pair(k, v);
            }
            u.push('?');
            u.push_str(&q.finish());
        }
        u
    }
}

/// One link object of the standard (`href`, `rel`, `type`, `title`).
pub fn link(href: String, rel: &str, media_type: &str, title: &str) -> serde_json::Value {
    serde_json::json!({ "href": href, "rel": rel, "type": media_type, "title": title })
}

/// Offsets of the previous and next pages, when there are such pages.
pub fn neighbour_pages(
    offset: usize,
    limit: usize,
    matched: usize,
) -> (Option<usize>, Option<usize>) {
    let prev = (offset > 0).then(|| offset.saturating_sub(limit));
    let next = offset.checked_add(limit).filter(|&n| n < matched);
    (prev, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_repeated_parameters_are_refused() {
        let allowed = ["bbox", "limit"];
        let q = parse_query(Some("limit=5&bbox=1%2C2%2C3%2C4"), &allowed).unwrap();
        assert_eq!(q["bbox"], "1,2,3,4");
        assert!(parse_query(Some("limt=5"), &allowed).is_err());
        assert!(parse_query(Some("limit=5&limit=6"), &allowed).is_err());
        assert!(parse_query(None, &[]).unwrap().is_empty());
        assert!(parse_query(Some("f=json"), &[]).is_err());
    }

    #[test]
    fn limit_is_clamped_above_and_refused_below() {
        assert_eq!(parse_limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(parse_limit(Some("100")).unwrap(), 100);
        assert_eq!(parse_limit(Some("10001")).unwrap(), MAX_LIMIT);
        assert_eq!(
            parse_limit(Some("99999999999999999999999")).unwrap(),
            MAX_LIMIT
        );
        for bad in ["0", "-1", "1.5", "", "ten"] {
            assert!(parse_limit(Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(parse_offset(Some("30")).unwrap(), 30);
        assert!(parse_offset(Some("-1")).is_err());
    }

    #[test]
    fn bbox_accepts_crs84_and_the_antimeridian() {
        let b = Crs84Box::parse("115,28,116,29").unwrap();
        assert!(b.contains(&LonLat {
            lon: 115.5,
            lat: 28.5
        }));
        assert!(!b.contains(&LonLat {
            lon: 114.5,
            lat: 28.5
        }));
        let z = Crs84Box::parse("115,28,0,116,29,100").unwrap();
        assert_eq!(z, b);
        let across = Crs84Box::parse("170,-10,-170,10").unwrap();
        assert_eq!(across.parts().len(), 2);
        assert!(across.contains(&LonLat {
            lon: 179.0,
            lat: 0.0
        }));
        assert!(across.contains(&LonLat {
            lon: -179.0,
            lat: 0.0
        }));
        assert!(!across.contains(&LonLat { lon: 0.0, lat: 0.0 }));
        for bad in [
            "1,2,3",
            "1,2,3,x",
            "0,95,1,96",
            "181,0,182,1",
            "0,10,1,5",
            "NaN,0,1,1",
        ] {
            assert!(Crs84Box::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pages_link_back_and_forth_only_where_there_is_a_page() {
        assert_eq!(neighbour_pages(0, 10, 25), (None, Some(10)));
        assert_eq!(neighbour_pages(10, 10, 25), (Some(0), Some(20)));
        assert_eq!(neighbour_pages(20, 10, 25), (Some(10), None));
        assert_eq!(neighbour_pages(5, 10, 25), (Some(0), Some(15)));
        assert_eq!(neighbour_pages(0, 10, 10), (None, None));
        assert_eq!(neighbour_pages(50, 10, 25), (Some(40), None));
    }

    #[test]
    fn base_url_comes_from_a_well_formed_host_only() {
        let b = BaseUrl::new(Some("Example.org:8080"), true).unwrap();
        assert_eq!(
            b.url("/ogc/collections", &[("f", "json".into())]),
            "https://example.org:8080/ogc/collections?f=json"
        );
        assert_eq!(
            b.url("/x", &[("bbox", "1,2,3,4".into())]),
            "https://example.org:8080/x?bbox=1%2C2%2C3%2C4"
        );
        assert!(BaseUrl::new(None, false).is_err());
        assert!(BaseUrl::new(Some("a b"), false).is_err());
        assert!(BaseUrl::new(Some("user@evil.example"), false).is_err());
        assert!(BaseUrl::new(Some("evil.example/path"), false).is_err());
    }
}
