//! Audited station changes on the PostGIS store.

use super::{station_columns, PgStore, StationRow};
use crate::domain::audit::{station_state, Actor, AuditAction, AuditRecord};
use crate::domain::patch::changed_fields;
use crate::domain::{NewStation, Station, StationState};
use crate::store::geom::Wgs84Geometry;
use crate::store::{encode_amenities, AuditRow, EditStore, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use geozero::wkb;
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};

#[allow(clippy::too_many_arguments)] // one audit record is this many facts
pub(super) async fn write_audit(
    conn: &mut PgConnection,
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
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
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

/// Tells the other replicas a station changed: delivered when (and only if) the transaction
/// commits. Bulk imports skip it; the replicas' periodic resync picks those up.
async fn notify_change(conn: &mut PgConnection, station_id: i64) -> StoreResult<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(super::CHANGE_CHANNEL)
        .bind(station_id.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn row_any(conn: &mut PgConnection, id: i64) -> StoreResult<Option<(Station, bool)>> {
    let sql = concat!(
        "SELECT ",
        station_columns!(),
        ", retired_at IS NOT NULL AS retired FROM stations WHERE id = $1"
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
async fn mismatch(conn: &mut PgConnection, id: i64) -> StoreError {
    match row_any(conn, id).await {
        Ok(Some((s, false))) => StoreError::VersionMismatch { current: s.version },
        Ok(_) => StoreError::NotFound(id),
        Err(e) => e,
    }
}

#[async_trait]
impl EditStore for PgStore {
    async fn create_station(&self, station: &NewStation, actor: &Actor) -> StoreResult<Station> {
        let mut tx = self.pool.begin().await?;
        let id = Self::insert_one(&mut tx, station, 0, Utc::now()).await?;
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
        notify_change(&mut tx, id).await?;
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
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        let res = sqlx::query(
            "UPDATE stations SET geom = $1, name = $2, address = $3, county = $4, amenities = $5, opening_hours = $6, \
               closure_until = $7, closure_reason = $8, phone = $9, photo_url = $10, notes = $11, verified_at = $12, \
               version = version + 1, updated_at = $13 \
             WHERE id = $14 AND version = $15 AND retired_at IS NULL",
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
        notify_change(&mut tx, before.id).await?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn retire_station(
        &self,
        id: i64,
        expected_version: Option<i64>,
        actor: &Actor,
    ) -> StoreResult<Station> {
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
            "UPDATE stations SET retired_at = $1, updated_at = $2, version = version + 1 \
             WHERE id = $3 AND version = $4 AND retired_at IS NULL",
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
        notify_change(&mut tx, id).await?;
        tx.commit().await?;
        Ok(after)
    }

    async fn station_history(&self, id: i64) -> StoreResult<Vec<AuditRecord>> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT id, station_id, account_id, actor, action, at, fields, before, after \
             FROM audit_log WHERE station_id = $1 ORDER BY id",
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
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM stations WHERE id = $1")
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
            "SELECT id, version, retired_at IS NULL FROM stations WHERE updated_at >= $1 ORDER BY id",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    async fn subscribe_changes(&self) -> StoreResult<Option<crate::store::ChangeStream>> {
        use futures::StreamExt;
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        // sqlx would reconnect a lost listener by itself and carry on, silently skipping every
        // notification sent meanwhile. Instead the stream ends when the connection is lost, so
        // the follower subscribes again and resyncs what it may have missed.
        listener.eager_reconnect(false);
        listener.listen(super::CHANGE_CHANNEL).await?;
        let stream = futures::stream::unfold(Some(listener), |listener| async move {
            let mut listener = listener?;
            match listener.try_recv().await {
                Ok(Some(n)) => {
                    let id = n.payload().parse::<i64>().map_err(|_| StoreError::Corrupt {
                        id: 0,
                        reason: format!(
                            "change notification with a non-numeric payload {:?}",
                            n.payload()
                        ),
                    });
                    Some((id, Some(listener)))
                }
                Ok(None) => None,
                Err(e) => Some((Err(e.into()), None)),
            }
        });
        Ok(Some(stream.boxed()))
    }
}
