use super::{Crs, Invalid};
use url::Url;

/// Leaflet's default subdomains, used when the template has `{s}` and none are given.
const DEFAULT_SUBDOMAINS: [&str; 3] = ["a", "b", "c"];

/// Placeholders a tile URL template may hold (Leaflet's own; `{r}` is its retina suffix).
const PLACEHOLDERS: [&str; 5] = ["{s}", "{z}", "{x}", "{y}", "{r}"];

/// Highest zoom a raster basemap may claim (Leaflet's maps stop at 18–20 in practice).
pub const MAX_ZOOM_LIMIT: u8 = 22;

/// A raster tile layer the operator configured (天地图 with their key, a licensed Amap layer …),
/// validated: an absolute http(s) template with `{z}`, `{x}` and `{y}`, and the exact origins
/// its tiles come from, which is all the content security policy lets in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Basemap {
    url: String,
    attribution: String,
    crs: Crs,
    subdomains: Vec<String>,
    max_zoom: u8,
    origins: Vec<String>,
}

impl Basemap {
    /// Checks a template and its settings. `subdomains` is a comma-separated list, or, without
    /// a comma, one subdomain per character (Leaflet's convention: `"1234"`, `"abc"`).
    /// Only `wgs84` and `gcj02` tiles can be drawn under our markers.
    pub fn new(
        url: &str,
        attribution: &str,
        crs: Crs,
        subdomains: Option<&str>,
        max_zoom: u8,
    ) -> Result<Self, Invalid> {
        let bad = |m: String| Invalid::new("invalid_basemap", m);
        if crs == Crs::Bd09 {
            return Err(bad(
                "basemap tiles in bd09 cannot be drawn: use a wgs84 or gcj02 layer".into(),
            ));
        }
        if !(1..=MAX_ZOOM_LIMIT).contains(&max_zoom) {
            return Err(bad(format!(
                "basemap max zoom must be 1..={MAX_ZOOM_LIMIT}, got {max_zoom}"
            )));
        }
        for needed in ["{z}", "{x}", "{y}"] {
            if !url.contains(needed) {
                return Err(bad(format!("basemap URL {url:?} lacks {needed}")));
            }
        }
        // Any other `{…}` is a Leaflet option we do not pass: the tile would be requested with
        // the braces in it.
        let mut rest = url.to_string();
        for p in PLACEHOLDERS {
            rest = rest.replace(p, "");
        }
        if rest.contains('{') || rest.contains('}') {
            return Err(bad(format!(
                "basemap URL {url:?} has a placeholder other than {{s}} {{z}} {{x}} {{y}} {{r}}"
            )));
        }
        let subdomains: Vec<String> = match subdomains.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) if s.contains(',') => s
                .split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect(),
            Some(s) => s.chars().map(String::from).collect(),
            None if url.contains("{s}") => DEFAULT_SUBDOMAINS.map(String::from).to_vec(),
            None => Vec::new(),
        };
        // `{s}` belongs in the host: anywhere else the origins listed would not be the ones used.
        let authority = url.split_once("://").map_or("", |(_, rest)| {
            rest.split(['/', '?', '#']).next().unwrap_or("")
        });
        if url.contains("{s}") && !authority.contains("{s}") {
            return Err(bad(format!(
                "basemap URL {url:?}: {{s}} must be part of the host name"
            )));
        }
        if let Some(odd) = subdomains
            .iter()
            .find(|s| !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        {
            return Err(bad(format!(
                "basemap subdomain {odd:?} must be letters, digits and hyphens"
            )));
        }
        if url.contains("{s}") && subdomains.is_empty() {
            return Err(bad(format!(
                "basemap URL {url:?} has {{s}} but no subdomains"
            )));
        }
        let hosts: Vec<&str> = if url.contains("{s}") {
            subdomains.iter().map(String::as_str).collect()
        } else {
            vec![""]
        };
        let mut origins = Vec::new();
        for sub in hosts {
            let concrete = url
                .replace("{s}", sub)
                .replace("{z}", "0")
                .replace("{x}", "0")
                .replace("{y}", "0")
                .replace("{r}", "");
            let parsed = Url::parse(&concrete)
                .map_err(|e| bad(format!("basemap URL {url:?} is not a URL ({e})")))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(bad(format!(
                    "basemap URL {url:?} must be an absolute http(s) URL"
                )));
            }
            if !parsed.username().is_empty() || parsed.password().is_some() {
                return Err(bad(format!(
                    "basemap URL {url:?} must not carry a user name"
                )));
            }
            let origin = parsed.origin().ascii_serialization();
            // It goes into a header: nothing that could end a CSP directive or source.
            if origin.contains(|c: char| c.is_whitespace() || c == ';' || c == ',' || c == '\'') {
                return Err(bad(format!("basemap URL {url:?} has an odd host name")));
            }
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        Ok(Self {
            url: url.to_string(),
            attribution: attribution.trim().to_string(),
            crs,
            subdomains,
            max_zoom,
            origins,
        })
    }

    /// The tile URL template, as Leaflet takes it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The credit the tile provider requires (plain text).
    pub fn attribution(&self) -> &str {
        &self.attribution
    }

    /// The coordinate system the tiles are drawn in (`wgs84` or `gcj02`).
    pub fn crs(&self) -> Crs {
        self.crs
    }

    /// What `{s}` takes, in turn.
    pub fn subdomains(&self) -> &[String] {
        &self.subdomains
    }

    /// The highest zoom the provider serves.
    pub fn max_zoom(&self) -> u8 {
        self.max_zoom
    }

    /// Every origin (`https://t0.example.cn`) a tile can come from.
    pub fn origins(&self) -> &[String] {
        &self.origins
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIANDITU: &str = "https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile\
        &LAYER=vec&TILEMATRIXSET=w&FORMAT=tiles&TILECOL={x}&TILEROW={y}&TILEMATRIX={z}&tk=KEY";

    #[test]
    fn every_subdomain_is_an_origin() {
        let b = Basemap::new(TIANDITU, "天地图", Crs::Wgs84, Some("01234567"), 18).unwrap();
        assert_eq!(b.subdomains().len(), 8);
        assert_eq!(b.origins()[0], "https://t0.tianditu.gov.cn");
        assert_eq!(b.origins()[7], "https://t7.tianditu.gov.cn");
        assert_eq!(b.origins().len(), 8);
    }

    #[test]
    fn comma_separated_subdomains_and_leaflets_default() {
        let url = "https://{s}.tiles.example.cn/{z}/{x}/{y}.png";
        let b = Basemap::new(url, "", Crs::Gcj02, Some("wprd01, wprd02"), 18).unwrap();
        assert_eq!(
            b.origins(),
            [
                "https://wprd01.tiles.example.cn",
                "https://wprd02.tiles.example.cn"
            ]
        );
        let b = Basemap::new(url, "", Crs::Gcj02, None, 18).unwrap();
        assert_eq!(b.origins().len(), 3);
    }

    #[test]
    fn one_origin_without_subdomains_port_kept() {
        let b = Basemap::new(
            "http://127.0.0.1:9999/t/{z}/{x}/{y}{r}.png",
            "x",
            Crs::Wgs84,
            None,
            19,
        )
        .unwrap();
        assert_eq!(b.origins(), ["http://127.0.0.1:9999"]);
    }

    #[test]
    fn bad_templates_are_refused() {
        for url in [
            "https://t.example.cn/{z}/{x}.png",
            "ftp://t.example.cn/{z}/{x}/{y}.png",
            "/tiles/{z}/{x}/{y}.png",
            "https://t.example.cn/{z}/{x}/{y}.png?key={apikey}",
            "https://user:pw@t.example.cn/{z}/{x}/{y}.png",
            "https://t.example.cn/{s}/{z}/{x}/{y}.png",
        ] {
            assert!(
                Basemap::new(url, "", Crs::Wgs84, None, 18).is_err(),
                "{url} accepted"
            );
        }
        let ok = "https://t.example.cn/{z}/{x}/{y}.png";
        assert!(Basemap::new(ok, "", Crs::Bd09, None, 18).is_err());
        assert!(Basemap::new(ok, "", Crs::Wgs84, None, 0).is_err());
        assert!(Basemap::new(ok, "", Crs::Wgs84, None, 30).is_err());
    }
}
