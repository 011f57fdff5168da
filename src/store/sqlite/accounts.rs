//! Accounts and sessions in the GeoPackage file (plain tables, not map layers).

use super::SqliteStore;
use crate::domain::{Account, Login, Role};
use crate::store::{AccountRecord, AccountStore, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{FromRow, SqliteConnection};

#[derive(FromRow)]
struct AccountRow {
    id: i64,
    login: String,
    role: String,
    password_hash: String,
    disabled_at: Option<DateTime<Utc>>,
}

/// The columns [`AccountRow`] reads, from `accounts a`.
const ACCOUNT_COLUMNS: &str = "a.id, a.login, a.role, a.password_hash, a.disabled_at";

impl AccountRow {
    async fn into_record(self, conn: &mut SqliteConnection) -> StoreResult<AccountRecord> {
        let role: Role =
            self.role
                .parse()
                .map_err(|e: crate::domain::Invalid| StoreError::Corrupt {
                    id: self.id,
                    reason: e.message,
                })?;
        let stations = assigned_stations(conn, self.id).await?;
        Ok(AccountRecord {
            account: Account {
                id: self.id,
                login: self.login,
                role,
                stations,
            },
            password_hash: self.password_hash,
            disabled_at: self.disabled_at,
        })
    }
}

async fn assigned_stations(conn: &mut SqliteConnection, account_id: i64) -> StoreResult<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT station_id FROM account_stations WHERE account_id = ? ORDER BY station_id",
    )
    .bind(account_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// The id of the active station with this code (`UnknownStationCode` otherwise).
async fn station_by_code(conn: &mut SqliteConnection, code: &str) -> StoreResult<i64> {
    let station: Option<i64> =
        sqlx::query_scalar("SELECT fid FROM stations WHERE code = ? AND retired_at IS NULL")
            .bind(code)
            .fetch_optional(&mut *conn)
            .await?;
    station.ok_or_else(|| StoreError::UnknownStationCode(code.to_string()))
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_account(
        &self,
        login: &Login,
        password_hash: &str,
        role: Role,
        station_codes: &[String],
    ) -> StoreResult<i64> {
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        let id = sqlx::query_scalar::<_, i64>(
            "INSERT INTO accounts (login, password_hash, role, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(login.as_str())
        .bind(password_hash)
        .bind(role.as_str())
        .bind(now)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::DuplicateLogin(login.to_string())
            }
            e => e.into(),
        })?;
        for code in station_codes {
            let station = station_by_code(&mut tx, code).await?;
            sqlx::query(
                "INSERT INTO account_stations (account_id, station_id) VALUES (?, ?) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(station)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    async fn set_password(&self, login: &Login, password_hash: &str) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "UPDATE accounts SET password_hash = ?, updated_at = ? WHERE login = ? RETURNING id",
        )
        .bind(password_hash)
        .bind(Utc::now())
        .bind(login.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let id = id.ok_or_else(|| StoreError::UnknownLogin(login.to_string()))?;
        // A new password ends every session the old one opened.
        sqlx::query("DELETE FROM sessions WHERE account_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn account_by_login(&self, login: &Login) -> StoreResult<Option<AccountRecord>> {
        let mut conn = self.pool.acquire().await?;
        let row: Option<AccountRow> = sqlx::query_as(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.login = ?"
        ))
        .bind(login.as_str())
        .fetch_optional(&mut *conn)
        .await?;
        match row {
            Some(row) => Ok(Some(row.into_record(&mut conn).await?)),
            None => Ok(None),
        }
    }

    async fn set_account_disabled(&self, login: &Login, disabled: bool) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM accounts WHERE login = ?")
            .bind(login.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        let id = id.ok_or_else(|| StoreError::UnknownLogin(login.to_string()))?;
        let now = Utc::now();
        // Only a change is written, so an account disabled twice keeps its first time.
        let changed = sqlx::query(
            "UPDATE accounts SET disabled_at = ?, updated_at = ? \
             WHERE id = ? AND (disabled_at IS NULL) = ?",
        )
        .bind(disabled.then_some(now))
        .bind(now)
        .bind(id)
        .bind(disabled)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if disabled {
            sqlx::query("DELETE FROM sessions WHERE account_id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    async fn delete_account(&self, login: &Login) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM accounts WHERE login = ?")
            .bind(login.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        let id = id.ok_or_else(|| StoreError::UnknownLogin(login.to_string()))?;
        let (changes, resolutions): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM audit_log WHERE account_id = ?), \
                    (SELECT COUNT(*) FROM reports WHERE resolved_by_id = ?)",
        )
        .bind(id)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        if changes > 0 || resolutions > 0 {
            return Err(StoreError::AccountHasHistory {
                login: login.to_string(),
                changes,
                resolutions,
            });
        }
        // Sessions and assigned stations go with it (ON DELETE CASCADE).
        sqlx::query("DELETE FROM accounts WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_account_stations(
        &self,
        login: &Login,
        station_codes: &[String],
    ) -> StoreResult<Vec<i64>> {
        let mut tx = self.pool.begin().await?;
        let row: Option<(i64, String)> =
            sqlx::query_as("SELECT id, role FROM accounts WHERE login = ?")
                .bind(login.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        let (id, role) = row.ok_or_else(|| StoreError::UnknownLogin(login.to_string()))?;
        let role: Role = role
            .parse()
            .map_err(|e: crate::domain::Invalid| StoreError::Corrupt {
                id,
                reason: e.message,
            })?;
        if role != Role::Manager {
            return Err(StoreError::NotAManager {
                login: login.to_string(),
                role,
            });
        }
        sqlx::query("DELETE FROM account_stations WHERE account_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for code in station_codes {
            let station = station_by_code(&mut tx, code).await?;
            sqlx::query(
                "INSERT INTO account_stations (account_id, station_id) VALUES (?, ?) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(station)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE accounts SET updated_at = ? WHERE id = ?")
            .bind(Utc::now())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let stations = assigned_stations(&mut tx, id).await?;
        tx.commit().await?;
        Ok(stations)
    }

    async fn create_session(
        &self,
        token_hash: &str,
        account_id: i64,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, account_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
        )
        .bind(token_hash)
        .bind(account_id)
        .bind(Utc::now())
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session_account(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Account>> {
        let mut conn = self.pool.acquire().await?;
        // Timestamps are RFC 3339 text; julianday() compares them as instants whatever
        // the number of fractional digits.
        let row: Option<AccountRow> = sqlx::query_as(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM sessions s \
             JOIN accounts a ON a.id = s.account_id \
             WHERE s.token_hash = ? AND julianday(s.expires_at) > julianday(?) \
               AND a.disabled_at IS NULL"
        ))
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
        match row {
            Some(row) => Ok(Some(row.into_record(&mut conn).await?.account)),
            None => Ok(None),
        }
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let res = sqlx::query("DELETE FROM sessions WHERE julianday(expires_at) <= julianday(?)")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected())
    }
}
