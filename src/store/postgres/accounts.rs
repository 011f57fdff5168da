//! Accounts and sessions in PostgreSQL.

use super::PgStore;
use crate::domain::{Account, Login, Role};
use crate::store::{AccountRecord, AccountStore, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection};

#[derive(FromRow)]
struct AccountRow {
    id: i64,
    login: String,
    role: String,
    password_hash: String,
    disabled_at: Option<DateTime<Utc>>,
    stations: Vec<i64>,
}

impl AccountRow {
    fn into_record(self) -> StoreResult<AccountRecord> {
        let role: Role =
            self.role
                .parse()
                .map_err(|e: crate::domain::Invalid| StoreError::Corrupt {
                    id: self.id,
                    reason: e.message,
                })?;
        Ok(AccountRecord {
            account: Account {
                id: self.id,
                login: self.login,
                role,
                stations: self.stations,
            },
            password_hash: self.password_hash,
            disabled_at: self.disabled_at,
        })
    }
}

/// An account row with its assigned station ids (ascending) in one array.
macro_rules! account_select {
    () => {
        "SELECT a.id, a.login, a.role, a.password_hash, a.disabled_at, \
       COALESCE((SELECT array_agg(x.station_id ORDER BY x.station_id) \
                 FROM account_stations x WHERE x.account_id = a.id), '{}') AS stations \
     FROM accounts a"
    };
}
#[allow(unused_imports)]
pub(crate) use account_select;

/// The id of the active station with this code (`UnknownStationCode` otherwise).
async fn station_by_code(conn: &mut PgConnection, code: &str) -> StoreResult<i64> {
    let station: Option<i64> =
        sqlx::query_scalar("SELECT id FROM stations WHERE code = $1 AND retired_at IS NULL")
            .bind(code)
            .fetch_optional(&mut *conn)
            .await?;
    station.ok_or_else(|| StoreError::UnknownStationCode(code.to_string()))
}

/// The id of the account with this login, its row locked until the transaction ends.
async fn lock_account(conn: &mut PgConnection, login: &Login) -> StoreResult<(i64, String)> {
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT id, role FROM accounts WHERE login = $1 FOR UPDATE")
            .bind(login.as_str())
            .fetch_optional(&mut *conn)
            .await?;
    row.ok_or_else(|| StoreError::UnknownLogin(login.to_string()))
}

#[async_trait]
impl AccountStore for PgStore {
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
             VALUES ($1, $2, $3, $4, $4) RETURNING id",
        )
        .bind(login.as_str())
        .bind(password_hash)
        .bind(role.as_str())
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
                "INSERT INTO account_stations (account_id, station_id) VALUES ($1, $2) \
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
            "UPDATE accounts SET password_hash = $1, updated_at = $2 WHERE login = $3 RETURNING id",
        )
        .bind(password_hash)
        .bind(Utc::now())
        .bind(login.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let id = id.ok_or_else(|| StoreError::UnknownLogin(login.to_string()))?;
        // A new password ends every session the old one opened.
        sqlx::query("DELETE FROM sessions WHERE account_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn account_by_login(&self, login: &Login) -> StoreResult<Option<AccountRecord>> {
        let sql = concat!(account_select!(), " WHERE a.login = $1");
        let row: Option<AccountRow> = sqlx::query_as(sql)
            .bind(login.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(AccountRow::into_record).transpose()
    }

    async fn set_account_disabled(&self, login: &Login, disabled: bool) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let (id, _) = lock_account(&mut tx, login).await?;
        let now = Utc::now();
        // Only a change is written, so an account disabled twice keeps its first time.
        let changed = sqlx::query(
            "UPDATE accounts SET disabled_at = $1, updated_at = $2 \
             WHERE id = $3 AND (disabled_at IS NULL) = $4",
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
            sqlx::query("DELETE FROM sessions WHERE account_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    async fn delete_account(&self, login: &Login) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let (id, _) = lock_account(&mut tx, login).await?;
        let (changes, resolutions): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM audit_log WHERE account_id = $1), \
                    (SELECT COUNT(*) FROM reports WHERE resolved_by_id = $1)",
        )
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
        sqlx::query("DELETE FROM accounts WHERE id = $1")
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
        let (id, role) = lock_account(&mut tx, login).await?;
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
        sqlx::query("DELETE FROM account_stations WHERE account_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for code in station_codes {
            let station = station_by_code(&mut tx, code).await?;
            sqlx::query(
                "INSERT INTO account_stations (account_id, station_id) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(station)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE accounts SET updated_at = $1 WHERE id = $2")
            .bind(Utc::now())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let stations: Vec<i64> = sqlx::query_scalar(
            "SELECT station_id FROM account_stations WHERE account_id = $1 ORDER BY station_id",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
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
            "INSERT INTO sessions (token_hash, account_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
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
        let sql = concat!(
            account_select!(),
            " JOIN sessions s ON s.account_id = a.id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND a.disabled_at IS NULL"
        );
        let row: Option<AccountRow> = sqlx::query_as(sql)
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(AccountRow::into_record)
            .transpose()?
            .map(|r| r.account))
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let res = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected())
    }
}
