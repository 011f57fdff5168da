use crate::domain::{Crs, LonLat, Mode};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Serialize;

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

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// Builds the three hand-off links from `origin` to a station.
pub fn links(origin: LonLat, dest: LonLat, name: &str, mode: Mode) -> NavLinks {
    let (glon, glat) = Crs::Gcj02.from_wgs84(dest);
    let (oglon, oglat) = Crs::Gcj02.from_wgs84(origin);
    let (blon, blat) = Crs::Bd09.from_wgs84(dest);
    let (oblon, oblat) = Crs::Bd09.from_wgs84(origin);
    let name = enc(name);
    let here = enc("我的位置");
    let (amap_mode, baidu_mode, tencent_mode) = match mode {
        Mode::Walk => ("walk", "walking", "walk"),
        Mode::Ebike => ("ride", "riding", "bike"),
    };
    NavLinks {
        amap: format!(
            "https://uri.amap.com/navigation?from={oglon:.6},{oglat:.6},{here}&to={glon:.6},{glat:.6},{name}\
             &mode={amap_mode}&coordinate=gaode&callnative=1&src=yizhan"
        ),
        baidu: format!(
            "https://api.map.baidu.com/direction?origin=latlng:{oblat:.6},{oblon:.6}|name:{here}\
             &destination=latlng:{blat:.6},{blon:.6}|name:{name}&mode={baidu_mode}&coord_type=bd09ll\
             &region=&output=html&src=yizhan"
        ),
        tencent: format!(
            "https://apis.map.qq.com/uri/v1/routeplan?type={tencent_mode}&from={here}&fromcoord={oglat:.6},{oglon:.6}\
             &to={name}&tocoord={glat:.6},{glon:.6}&referer=yizhan"
        ),
    }
}
