//! Demand cells and query-origin counts (plain attribute tables in the GeoPackage file).

use super::SqliteStore;
use crate::domain::demand::DemandCell;
use crate::store::demand::{
    cell_value, decode_cell, decode_count, merge_demand, merge_query_counts,
};
use crate::store::{DemandStore, StoreResult};
use async_trait::async_trait;
use h3o::CellIndex;

#[async_trait]
impl DemandStore for SqliteStore {
    async fn store_demand(&self, cells: &[DemandCell], replace: bool) -> StoreResult<usize> {
        let rows = merge_demand(cells);
        let _w = self.write_lock.lock().await;
        let mut tx = self.pool.begin().await?;
        if replace {
            sqlx::query("DELETE FROM demand_cells")
                .execute(&mut *tx)
                .await?;
        }
        for c in &rows {
            sqlx::query(
                "INSERT INTO demand_cells (cell, label, weight, points) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (cell, label) DO UPDATE SET weight = weight + excluded.weight, \
                   points = points + excluded.points",
            )
            .bind(cell_value(c.cell))
            .bind(&c.label)
            .bind(c.weight)
            .bind(c.points)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(rows.len())
    }

    async fn load_demand(&self) -> StoreResult<Vec<DemandCell>> {
        let rows: Vec<(i64, String, f64, i64)> = sqlx::query_as(
            "SELECT cell, label, weight, points FROM demand_cells ORDER BY cell, label",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(cell, label, weight, points)| {
                Ok(DemandCell {
                    cell: decode_cell("demand_cells", cell)?,
                    label,
                    weight,
                    points,
                })
            })
            .collect()
    }

    async fn add_query_counts(&self, counts: &[(CellIndex, u64)]) -> StoreResult<()> {
        let rows = merge_query_counts(counts);
        let _w = self.write_lock.lock().await;
        let mut tx = self.pool.begin().await?;
        for (cell, n) in rows {
            sqlx::query(
                "INSERT INTO query_demand (cell, count) VALUES (?, ?) \
                 ON CONFLICT (cell) DO UPDATE SET count = count + excluded.count",
            )
            .bind(cell)
            .bind(n)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn load_query_counts(&self) -> StoreResult<Vec<(CellIndex, u64)>> {
        let rows: Vec<(i64, i64)> =
            sqlx::query_as("SELECT cell, count FROM query_demand ORDER BY cell")
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|(cell, count)| decode_count(cell, count))
            .collect()
    }
}
