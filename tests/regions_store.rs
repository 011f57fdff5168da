//! Regions in the store, on the store `YIZHAN_TEST_STORE` names.

mod common;

use common::*;
use yizhan::domain::{Adcode, Region, RegionLevel};

fn code(n: u32) -> Adcode {
    Adcode::new(n).unwrap()
}

/// Upserting by adcode keeps one row per code and replaces its name, level, parent and outline.
#[tokio::test]
async fn upserted_regions_replace_by_adcode() {
    let db = TestDb::new().await;
    let store = db.connect().await;
    let outline = |x: f64| {
        geo::MultiPolygon(vec![geo::Polygon::new(
            geo::LineString::from(vec![(x, 30.0), (x + 0.1, 30.0), (x + 0.1, 30.1), (x, 30.0)]),
            vec![],
        )])
    };
    let county = |name: &str, x: f64| {
        Region::new(
            code(360_102),
            name,
            RegionLevel::County,
            Some(code(360_100)),
            outline(x),
        )
        .unwrap()
    };
    assert_eq!(
        store
            .upsert_regions(&[county("东湖区", 115.0)])
            .await
            .unwrap(),
        1
    );
    store
        .upsert_regions(&[county("东湖区（新）", 116.0)])
        .await
        .unwrap();
    let stored = store.load_regions().await.unwrap();
    assert_eq!(stored, [county("东湖区（新）", 116.0)]);
    assert!(store.has_regions().await.unwrap());
}
