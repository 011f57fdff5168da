//! Regions: the GeoPackage feature layer `regions`, with its R-tree and extent kept in step.

use super::SqliteStore;
use crate::domain::Region;
use crate::store::geom::Wgs84Geometry;
use crate::store::regions::{adcode_value, decode_region};
use crate::store::{RegionStore, StoreResult};
use async_trait::async_trait;
use chrono::Utc;
use geo::BoundingRect;
use geozero::wkb;
use sqlx::FromRow;

#[derive(FromRow)]
struct RegionRow {
    adcode: i64,
    name: String,
    level: String,
    parent_adcode: Option<i64>,
    geom: wkb::Decode<geo_types::Geometry<f64>>,
}

#[async_trait]
impl RegionStore for SqliteStore {
    async fn upsert_regions(&self, regions: &[Region]) -> StoreResult<usize> {
        let _w = self.write_lock.lock().await;
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        for r in regions {
            // Upserting keeps a replaced region's fid, so GIS tools see the same feature.
            let fid: i64 = sqlx::query_scalar(
                "INSERT INTO regions (geom, adcode, name, level, parent_adcode, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (adcode) DO UPDATE SET geom = excluded.geom, name = excluded.name, \
                   level = excluded.level, parent_adcode = excluded.parent_adcode, \
                   updated_at = excluded.updated_at \
                 RETURNING fid",
            )
            .bind(wkb::Encode(Wgs84Geometry::new(r.outline.clone())))
            .bind(adcode_value(r.adcode))
            .bind(&r.name)
            .bind(r.level.as_str())
            .bind(r.parent.map(adcode_value))
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM rtree_regions_geom WHERE id = ?")
                .bind(fid)
                .execute(&mut *tx)
                .await?;
            // A validated region has at least one ring, so it has a box.
            if let Some(b) = r.outline.bounding_rect() {
                sqlx::query(
                    "INSERT INTO rtree_regions_geom (id, minx, maxx, miny, maxy) \
                     VALUES (?, ?, ?, ?, ?)",
                )
                .bind(fid)
                .bind(b.min().x)
                .bind(b.max().x)
                .bind(b.min().y)
                .bind(b.max().y)
                .execute(&mut *tx)
                .await?;
            }
        }
        // The layer extent GeoPackage readers show, from the spatial index.
        sqlx::query(
            "UPDATE gpkg_contents SET \
               min_x = (SELECT min(minx) FROM rtree_regions_geom), \
               max_x = (SELECT max(maxx) FROM rtree_regions_geom), \
               min_y = (SELECT min(miny) FROM rtree_regions_geom), \
               max_y = (SELECT max(maxy) FROM rtree_regions_geom), \
               last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now') \
             WHERE table_name = 'regions'",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(regions.len())
    }

    async fn has_regions(&self) -> StoreResult<bool> {
        let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM regions)")
            .fetch_one(&self.pool)
            .await?;
        Ok(any)
    }

    async fn load_regions(&self) -> StoreResult<Vec<Region>> {
        let rows: Vec<RegionRow> = sqlx::query_as(
            "SELECT adcode, name, level, parent_adcode, geom FROM regions ORDER BY adcode",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                decode_region(
                    r.adcode,
                    &r.name,
                    &r.level,
                    r.parent_adcode,
                    r.geom.geometry,
                )
            })
            .collect()
    }
}
