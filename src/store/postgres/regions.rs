//! Regions in PostGIS: `geometry(MultiPolygon, 4326)` with a GIST index.

use super::PgStore;
use crate::domain::Region;
use crate::store::geom::Wgs84Geometry;
use crate::store::regions::{adcode_value, decode_region};
use crate::store::{RegionStore, StoreResult};
use async_trait::async_trait;
use chrono::Utc;
use geozero::wkb;
use sqlx::FromRow;

#[derive(FromRow)]
struct RegionRow {
    adcode: i32,
    name: String,
    level: String,
    parent_adcode: Option<i32>,
    geom: wkb::Decode<geo_types::Geometry<f64>>,
}

#[async_trait]
impl RegionStore for PgStore {
    async fn upsert_regions(&self, regions: &[Region]) -> StoreResult<usize> {
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        for r in regions {
            sqlx::query(
                "INSERT INTO regions (adcode, name, level, parent_adcode, geom, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (adcode) DO UPDATE SET name = excluded.name, level = excluded.level, \
                   parent_adcode = excluded.parent_adcode, geom = excluded.geom, \
                   updated_at = excluded.updated_at",
            )
            .bind(adcode_value(r.adcode))
            .bind(&r.name)
            .bind(r.level.as_str())
            .bind(r.parent.map(adcode_value))
            .bind(wkb::Encode(Wgs84Geometry::new(r.outline.clone())))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        // Autovacuum may be off: fresh statistics let the planner use the GIST index.
        sqlx::query("ANALYZE regions").execute(&self.pool).await?;
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
                    i64::from(r.adcode),
                    &r.name,
                    &r.level,
                    r.parent_adcode.map(i64::from),
                    r.geom.geometry,
                )
            })
            .collect()
    }
}
