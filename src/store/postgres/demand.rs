//! Demand cells and query-origin counts in PostgreSQL, written in batches through `UNNEST`.

use super::PgStore;
use crate::domain::demand::DemandCell;
use crate::store::demand::{
    cell_value, decode_cell, decode_count, merge_demand, merge_query_counts,
};
use crate::store::{DemandStore, StoreResult};
use async_trait::async_trait;
use h3o::CellIndex;

/// Rows per `INSERT … SELECT FROM UNNEST(…)`: one round trip each instead of one per row.
const BATCH: usize = 10_000;

#[async_trait]
impl DemandStore for PgStore {
    async fn store_demand(&self, cells: &[DemandCell], replace: bool) -> StoreResult<usize> {
        let rows = merge_demand(cells);
        let mut tx = self.pool.begin().await?;
        if replace {
            sqlx::query("DELETE FROM demand_cells")
                .execute(&mut *tx)
                .await?;
        }
        for batch in rows.chunks(BATCH) {
            let cell: Vec<i64> = batch.iter().map(|c| cell_value(c.cell)).collect();
            let label: Vec<&str> = batch.iter().map(|c| c.label.as_str()).collect();
            let weight: Vec<f64> = batch.iter().map(|c| c.weight).collect();
            let points: Vec<i64> = batch.iter().map(|c| c.points).collect();
            sqlx::query(
                "INSERT INTO demand_cells (cell, label, weight, points) \
                 SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::float8[], $4::bigint[]) \
                 ON CONFLICT (cell, label) DO UPDATE \
                   SET weight = demand_cells.weight + excluded.weight, \
                       points = demand_cells.points + excluded.points",
            )
            .bind(cell)
            .bind(label)
            .bind(weight)
            .bind(points)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        sqlx::query("ANALYZE demand_cells")
            .execute(&self.pool)
            .await?;
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
        let mut tx = self.pool.begin().await?;
        for batch in rows.chunks(BATCH) {
            let (cell, count): (Vec<i64>, Vec<i64>) = batch.iter().copied().unzip();
            sqlx::query(
                "INSERT INTO query_demand (cell, count) \
                 SELECT * FROM UNNEST($1::bigint[], $2::bigint[]) \
                 ON CONFLICT (cell) DO UPDATE SET count = query_demand.count + excluded.count",
            )
            .bind(cell)
            .bind(count)
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
