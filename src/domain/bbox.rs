use super::{Invalid, LonLat};
use std::str::FromStr;

/// Largest box side accepted, in degrees: a map view, not a continent.
pub const MAX_BBOX_SPAN_DEG: f64 = 10.0;

/// A WGS-84 bounding box `west,south,east,north`, not inverted, at most [`MAX_BBOX_SPAN_DEG`] a side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    /// South-west corner.
    pub min: LonLat,
    /// North-east corner.
    pub max: LonLat,
}

impl BBox {
    /// Validates corners given as west, south, east, north.
    pub fn new(w: f64, s: f64, e: f64, n: f64) -> Result<Self, Invalid> {
        let min = LonLat::new(w, s).map_err(|e| Invalid::new("invalid_bbox", e.message))?;
        let max = LonLat::new(e, n).map_err(|e| Invalid::new("invalid_bbox", e.message))?;
        if w >= e || s >= n {
            return Err(Invalid::new(
                "invalid_bbox",
                format!("bbox must be west,south,east,north with west < east and south < north, got {w},{s},{e},{n}"),
            ));
        }
        if e - w > MAX_BBOX_SPAN_DEG || n - s > MAX_BBOX_SPAN_DEG {
            return Err(Invalid::new(
                "bbox_too_large",
                format!(
                    "bbox sides must be at most {MAX_BBOX_SPAN_DEG} degrees, got {:.3} x {:.3}",
                    e - w,
                    n - s
                ),
            ));
        }
        Ok(Self { min, max })
    }

    /// Whether a point lies inside or on the border.
    pub fn contains(&self, p: &LonLat) -> bool {
        p.lon >= self.min.lon
            && p.lon <= self.max.lon
            && p.lat >= self.min.lat
            && p.lat <= self.max.lat
    }
}

impl FromStr for BBox {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        let nums: Option<Vec<f64>> = parts.iter().map(|p| p.parse::<f64>().ok()).collect();
        match nums {
            Some(v) if v.len() == 4 => BBox::new(v[0], v[1], v[2], v[3]),
            _ => Err(Invalid::new(
                "invalid_bbox",
                format!("bbox must be four numbers west,south,east,north, got {s:?}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_inverted_huge_and_malformed() {
        assert_eq!(
            "116,28,115,29".parse::<BBox>().unwrap_err().code,
            "invalid_bbox"
        );
        assert_eq!(
            "70,10,140,55".parse::<BBox>().unwrap_err().code,
            "bbox_too_large"
        );
        assert_eq!("1,2,3".parse::<BBox>().unwrap_err().code, "invalid_bbox");
        assert_eq!("a,b,c,d".parse::<BBox>().unwrap_err().code, "invalid_bbox");
        assert!("115.8,28.6,116.0,28.8".parse::<BBox>().is_ok());
    }
}
