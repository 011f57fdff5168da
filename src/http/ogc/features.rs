//! The features of the OGC collections: stations from the in-memory index, regions from the
//! coverage service's region set, filtered by a CRS84 box and ordered for stable paging.

use super::params::Crs84Box;
use crate::coverage::gaps::multipolygon_json;
use crate::coverage::service::CoverageService;
use crate::domain::{AmenitySet, BBox, Region, Station};
use crate::index::StationIndex;
use geo::{BoundingRect, Intersects};
use serde_json::json;
use std::sync::Arc;

/// Active stations matching `bbox` (all without one), by id.
pub fn matching_stations(index: &StationIndex, bbox: Option<&Crs84Box>) -> Vec<Arc<Station>> {
    let snapshot = index.load();
    let Some(b) = bbox else {
        return snapshot.all();
    };
    let mut found = Vec::new();
    for [w, s, e, n] in b.parts() {
        // Small boxes go through the R-tree; the index's `BBox` refuses large ones (the bbox
        // API's guard on reply size), which paging makes unnecessary here: those scan.
        match BBox::new(w, s, e, n) {
            Ok(small) => found.extend(
                snapshot
                    .in_bbox(&small, AmenitySet::default(), usize::MAX)
                    .0,
            ),
            Err(_) => found.extend(
                snapshot
                    .all()
                    .into_iter()
                    .filter(|st| b.contains(&st.location)),
            ),
        }
    }
    // Two halves across the antimeridian may both hold a station on ±180°.
    found.sort_by_key(|s| s.id);
    found.dedup_by_key(|s| s.id);
    found
}

/// A region as a GeoJSON Feature (id: its adcode), as text.
pub fn region_feature(r: &Region) -> String {
    let props = json!({
        "adcode": r.adcode.to_string(),
        "name": r.name,
        "level": r.level,
        "parent": r.parent.map(|p| p.to_string()),
    });
    let mut out = format!(
        "{{\"type\":\"Feature\",\"id\":{},\"properties\":{props},\"geometry\":",
        r.adcode
    );
    multipolygon_json(&mut out, &r.outline);
    out.push('}');
    out
}

fn region_intersects(r: &Region, b: &Crs84Box) -> bool {
    b.parts().iter().any(|[w, s, e, n]| {
        let rect = geo::Rect::new(geo::coord! { x: *w, y: *s }, geo::coord! { x: *e, y: *n });
        r.outline
            .bounding_rect()
            .is_some_and(|br| br.intersects(&rect))
            && r.outline.intersects(&rect)
    })
}

/// Regions whose outline intersects `bbox`, by adcode.
pub fn matching_regions(service: &CoverageService, bbox: Option<&Crs84Box>) -> Vec<Region> {
    let set = service.regions();
    let mut regions: Vec<Region> = set
        .all()
        .iter()
        .filter(|r| bbox.is_none_or(|b| region_intersects(r, b)))
        .cloned()
        .collect();
    regions.sort_by_key(|r| r.adcode);
    regions
}
