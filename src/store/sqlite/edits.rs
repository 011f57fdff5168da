//! Audited station changes on the GeoPackage store.

use super::{station_columns, SqliteStore, StationRow};
use crate::domain::audit::{station_state, Actor, AuditAction, AuditRecord};
use crate::domain::patch::changed_fields;
use crate::domain::{NewStation, Station, StationState};
use crate::store::geom::Wgs84Geometry;
use crate::store::{encode_amenities, AuditRow, EditStore, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use geozero::wkb;
use sqlx::types::Json;
use sqlx::{FromRow, SqliteConnection};

#[allow(clippy::too_many_arguments)] // one audit record is this many facts
pub(super) async fn write_audit(
    conn: &mut SqliteConnection,
    station_id: i64,
    actor: &Actor,
    action: AuditAction,
    at: DateTime<Utc>,
    fields: &[&str],
    before: Option<&Station>,
    after: Option<&Station>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_log (station_id, account_id, actor, action, at, fields, before, after) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(station_id)
    .bind(actor.account_id)
    .bind(&actor.login)
    .bind(action.as_str())
    .bind(at)
    .bind(Json(fields))
    .bind(before.map(|s| Json(station_state(s))))
    .bind(after.map(|s| Json(station_state(s))))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn row_any(conn: &mut SqliteConnection, id: i64) -> StoreResult<Option<(Station, bool)>> {
    let sql = concat!(
        "SELECT ",
        station_columns!(),
        ", retired_at IS NOT NULL AS retired FROM stations WHERE fid = ?"
    );
    let row: Option<(StationRow, bool)> = sqlx::query(sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| -> Result<_, sqlx::Error> {
            use sqlx::Row;
            Ok((StationRow::from_row(&r)?, r.try_get("retired")?))
        })
        .transpose()?;
    row.map(|(r, retired)| r.into_station().map(|s| (s, retired)))
        .transpose()
}

/// Why a conditional write matched no row: gone, or another version.
async fn mismatch(conn: &mut SqliteConnection, id: i64) -> StoreError {
    match row_any(conn, id).await {
        Ok(Some((s, false))) => StoreError::VersionMismatch { current: s.version },
        Ok(_) => StoreError::NotFound(id),
        Err(e) => e,
    }
}

#[async_trait]
impl EditStore for SqliteStore {
    async fn create_station(&self, station: &NewStation, actor: &Actor) -> StoreResult<Station> {
        // The import path writes the row and its spatial-index entry; audit it in the same transaction.
        let _w = self.write_lock.lock().await;
        let mut tx = self.pool.begin().await?;
        let id = Self::insert_one(&mut tx, station, 0, Utc::now()).await?;
        Self::refresh_extent(&mut tx).await?;
        let created = row_any(&mut tx, id)
            .await?
            .ok_or(StoreError::NotFound(id))?
            .0;
        write_audit(
            &mut tx,
            id,
            actor,
            AuditAction::Create,
            created.created_at,
            &["*"],
            None,
            Some(&created),
        )
        .await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn update_station(
        &self,
        before: &Station,
        after: &Station,
        action: AuditAction,
        actor: &Actor,
    ) -> StoreResult<Station> {
        let _w = self.write_lock.lock().await;
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        let res = sqlx::query(
            "UPDATE stations SET geom = ?, name = ?, address = ?, county = ?, amenities = ?, opening_hours = ?, \
               closure_until = ?, closure_reason = ?, phone = ?, photo_url = ?, notes = ?, verified_at = ?, \
               version = version + 1, updated_at = ? \
             WHERE fid = ? AND version = ? AND retired_at IS NULL",
        )
        .bind(wkb::Encode(Wgs84Geometry::point(after.location)))
        .bind(&after.name)
        .bind(&after.address)
        .bind(&after.county)
        .bind(encode_amenities(after.amenities))
        .bind(after.opening_hours.as_str())
        .bind(after.temporary_closure.as_ref().map(|c| c.until))
        .bind(after.temporary_closure.as_ref().map(|c| c.reason.clone()))
        .bind(&after.phone)
        .bind(&after.photo_url)
        .bind(&after.notes)
        .bind(after.verified_at)
        .bind(now)
        .bind(before.id)
        .bind(before.version)
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() == 0 {
            return Err(mismatch(&mut tx, before.id).await);
        }
        if after.location != before.location {
            sqlx::query("UPDATE rtree_stations_geom SET minx = ?, maxx = ?, miny = ?, maxy = ? WHERE id = ?")
                .bind(after.location.lon)
                .bind(after.location.lon)
                .bind(after.location.lat)
                .bind(after.location.lat)
                .bind(before.id)
                .execute(&mut *tx)
                .await?;
            Self::refresh_extent(&mut tx).await?;
        }
        let stored = row_any(&mut tx, before.id)
            .await?
            .ok_or(StoreError::NotFound(before.id))?
            .0;
        let fields = changed_fields(before, &stored);
        write_audit(
            &mut tx,
            before.id,
            actor,
            action,
            now,
            &fields,
            Some(before),
            Some(&stored),
        )
        .await?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn retire_station(
        &self,
        id: i64,
        expected_version: Option<i64>,
        actor: &Actor,
    ) -> StoreResult<Station> {
        let _w = self.write_lock.lock().await;
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        let before = match row_any(&mut tx, id).await? {
            Some((s, false)) => s,
            _ => return Err(StoreError::NotFound(id)),
        };
        if expected_version.is_some_and(|v| v != before.version) {
            return Err(StoreError::VersionMismatch {
                current: before.version,
            });
        }
        let res = sqlx::query(
            "UPDATE stations SET retired_at = ?, updated_at = ?, version = version + 1 \
             WHERE fid = ? AND version = ? AND retired_at IS NULL",
        )
        .bind(now)
        .bind(now)
        .bind(id)
        .bind(before.version)
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() == 0 {
            return Err(mismatch(&mut tx, id).await);
        }
        let after = row_any(&mut tx, id)
            .await?
            .ok_or(StoreError::NotFound(id))?
            .0;
        write_audit(
            &mut tx,
            id,
            actor,
            AuditAction::Retire,
            now,
            &["retired"],
            Some(&before),
            Some(&after),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    async fn station_history(&self, id: i64) -> StoreResult<Vec<AuditRecord>> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT id, station_id, account_id, actor, action, at, fields, before, after \
             FROM audit_log WHERE station_id = ? ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(AuditRow::into_record).collect()
    }

    async fn audit_log(&self) -> StoreResult<Vec<AuditRecord>> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT id, station_id, account_id, actor, action, at, fields, before, after FROM audit_log ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(AuditRow::into_record).collect()
    }

    async fn station_exists(&self, id: i64) -> StoreResult<bool> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM stations WHERE fid = ?")
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    async fn station_state(&self, id: i64) -> StoreResult<Option<StationState>> {
        let mut conn = self.pool.acquire().await?;
        Ok(row_any(&mut conn, id).await?.map(|(s, retired)| {
            if retired {
                StationState::Retired {
                    id,
                    version: s.version,
                }
            } else {
                StationState::Active(s)
            }
        }))
    }

    async fn changed_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<(i64, i64, bool)>> {
        let rows: Vec<(i64, i64, bool)> = sqlx::query_as(
            "SELECT fid, version, retired_at IS NULL FROM stations WHERE updated_at >= ? ORDER BY fid",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    async fn subscribe_changes(&self) -> StoreResult<Option<crate::store::ChangeStream>> {
        Ok(None)
    }
}
