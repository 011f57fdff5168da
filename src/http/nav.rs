use crate::domain::{Crs, LonLat, Mode};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Serialize;
use std::fmt::Write;

/// Links that open each map app's navigation, each in the app's own coordinate system.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NavLinks {
    /// Amap (高德), GCJ-02.
    pub amap: String,
    /// Baidu Maps (百度), BD-09.
    pub baidu: String,
    /// Tencent Maps (腾讯), GCJ-02.
    pub tencent: String,
}

/// "我的位置" (my position), percent-encoded: the origin's label in every link.
const HERE: &str = "%E6%88%91%E7%9A%84%E4%BD%8D%E7%BD%AE";

/// The rider's position in each app's coordinate system, converted once per request.
#[derive(Debug, Clone, Copy)]
pub struct NavOrigin {
    /// GCJ-02 (Amap, Tencent): lon, lat.
    gcj: (f64, f64),
    /// BD-09 (Baidu): lon, lat.
    bd: (f64, f64),
}

impl NavOrigin {
    /// Converts a WGS-84 position.
    pub fn new(origin: LonLat) -> Self {
        Self {
            gcj: Crs::Gcj02.from_wgs84(origin),
            bd: Crs::Bd09.from_wgs84(origin),
        }
    }
}

/// Appends `v` with six decimals (about 0.1 m) exactly as `{:.6}` writes it, without the
/// general float formatter for coordinates (a reply holds 60 of them).
///
/// Below 1,000 the product `|v|·10⁶` is off by less than 10⁻⁷ from the exact one, so rounding
/// it gives the exact decimal rounding unless it lies within 10⁻⁶ of a half; those (and ties)
/// and anything larger go to the formatter.
fn push_fixed6(out: &mut String, v: f64) {
    let scaled = v.abs() * 1e6;
    let near_half = (scaled - scaled.floor() - 0.5).abs() < 1e-6;
    let fast = v.is_finite() && v.abs() < 1000.0 && !near_half;
    if !fast {
        let _ = write!(out, "{v:.6}");
        return;
    }
    let micro = scaled.round() as u64;
    if v.is_sign_negative() {
        out.push('-');
    }
    let _ = write!(out, "{}.{:06}", micro / 1_000_000, micro % 1_000_000);
}

/// Builds the three hand-off links from `origin` to a station.
pub fn links(origin: &NavOrigin, dest: LonLat, name: &str, mode: Mode) -> NavLinks {
    let (glon, glat) = Crs::Gcj02.from_wgs84(dest);
    let (blon, blat) = Crs::Bd09.from_wgs84(dest);
    let (oglon, oglat) = origin.gcj;
    let (oblon, oblat) = origin.bd;
    let name = utf8_percent_encode(name, NON_ALPHANUMERIC).to_string();
    let (amap_mode, baidu_mode, tencent_mode) = match mode {
        Mode::Walk => ("walk", "walking", "walk"),
        Mode::Ebike => ("ride", "riding", "bike"),
    };
    // Each link is its pieces in order: text, or a coordinate written with six decimals.
    enum Piece<'a> {
        Text(&'a str),
        Coord(f64),
    }
    use Piece::{Coord, Text};
    let build = |pieces: &[Piece]| {
        let mut s = String::with_capacity(256 + 2 * name.len());
        for p in pieces {
            match p {
                Text(t) => s.push_str(t),
                Coord(v) => push_fixed6(&mut s, *v),
            }
        }
        s
    };
    NavLinks {
        amap: build(&[
            Text("https://uri.amap.com/navigation?from="),
            Coord(oglon),
            Text(","),
            Coord(oglat),
            Text(","),
            Text(HERE),
            Text("&to="),
            Coord(glon),
            Text(","),
            Coord(glat),
            Text(","),
            Text(&name),
            Text("&mode="),
            Text(amap_mode),
            Text("&coordinate=gaode&callnative=1&src=yizhan"),
        ]),
        baidu: build(&[
            Text("https://api.map.baidu.com/direction?origin=latlng:"),
            Coord(oblat),
            Text(","),
            Coord(oblon),
            Text("|name:"),
            Text(HERE),
            Text("&destination=latlng:"),
            Coord(blat),
            Text(","),
            Coord(blon),
            Text("|name:"),
            Text(&name),
            Text("&mode="),
            Text(baidu_mode),
            Text("&coord_type=bd09ll&region=&output=html&src=yizhan"),
        ]),
        tencent: build(&[
            Text("https://apis.map.qq.com/uri/v1/routeplan?type="),
            Text(tencent_mode),
            Text("&from="),
            Text(HERE),
            Text("&fromcoord="),
            Coord(oglat),
            Text(","),
            Coord(oglon),
            Text("&to="),
            Text(&name),
            Text("&tocoord="),
            Coord(glat),
            Text(","),
            Coord(glon),
            Text("&referer=yizhan"),
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn here_is_my_position_encoded() {
        assert_eq!(
            HERE,
            utf8_percent_encode("我的位置", NON_ALPHANUMERIC).to_string()
        );
    }

    #[test]
    fn six_decimals_as_the_formatter_writes_them() {
        let mut rng_state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            // xorshift64*: a fixed, dependency-free sequence.
            rng_state ^= rng_state >> 12;
            rng_state ^= rng_state << 25;
            rng_state ^= rng_state >> 27;
            rng_state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        let mut cases = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.0078125, // 1/128: an exact tie at the sixth decimal, to even
            0.0234375, // 3/128: a tie rounding up to even
            -0.0078125,
            0.000_000_500_000_1, // just past a half
            0.000_000_499_999_9,
            115.89,
            28.68,
            179.9999999,
            -179.9999996,
            89.9999995,
            1e-7,
            -1e-7,
            123_456.654_321_5,
            f64::NAN,
            f64::INFINITY,
        ];
        for _ in 0..100_000 {
            let u = (next() >> 11) as f64 / (1u64 << 53) as f64;
            cases.push(u * 360.0 - 180.0);
        }
        for v in cases {
            let mut s = String::new();
            push_fixed6(&mut s, v);
            assert_eq!(s, format!("{v:.6}"), "{v:e}");
        }
    }

    #[test]
    fn links_carry_both_ends_in_each_apps_system() {
        let origin = LonLat::new(115.89, 28.68).unwrap();
        let dest = LonLat::new(115.9, 28.69).unwrap();
        let l = links(&NavOrigin::new(origin), dest, "驿站 A&B", Mode::Walk);
        let (glon, glat) = Crs::Gcj02.from_wgs84(dest);
        let (oblon, oblat) = Crs::Bd09.from_wgs84(origin);
        assert!(
            l.amap.contains(&format!("&to={glon:.6},{glat:.6},")),
            "{}",
            l.amap
        );
        assert!(
            l.baidu
                .contains(&format!("origin=latlng:{oblat:.6},{oblon:.6}|name:{HERE}")),
            "{}",
            l.baidu
        );
        assert!(l.tencent.contains(&format!("&tocoord={glat:.6},{glon:.6}")));
        assert!(l.amap.contains("%E9%A9%BF%E7%AB%99%20A%26B"), "{}", l.amap);
    }
}
