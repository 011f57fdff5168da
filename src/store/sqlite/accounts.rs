//! Accounts and sessions in the GeoPackage file (plain tables, not map layers).

use super::SqliteStore;
use crate::domain::{Account, Login, Role};
use crate::store::{AccountStore, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{FromRow, SqliteConnection};

#[derive(FromRow)]
struct AccountRow {
    id: i64,
    login: String,
    role: String,
    password_hash: String,
}

impl AccountRow {
    async fn into_account(self, conn: &mut SqliteConnection) -> StoreResult<(Account, String)> {
        let role: Role =
            self.role
                .parse()
                .map_err(|e: crate::domain::Invalid| StoreError::Corrupt {
                    id: self.id,
                    reason: e.message,
                })?;
        let stations: Vec<i64> = sqlx::query_scalar(
            "SELECT station_id FROM account_stations WHERE account_id = ? ORDER BY station_id",
        )
        .bind(self.id)
        .fetch_all(&mut *conn)
        .await?;
        Ok((
            Account {
                id: self.id,
                login: self.login,
                role,
                stations,
            },
            self.password_hash,
        ))
    }
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
            let station: Option<i64> = sqlx::query_scalar(
                "SELECT fid FROM stations WHERE code = ? AND retired_at IS NULL",
            )
            .bind(code)
            .fetch_optional(&mut *tx)
            .await?;
            let station = station.ok_or_else(|| StoreError::UnknownStationCode(code.clone()))?;
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

    async fn account_by_login(&self, login: &Login) -> StoreResult<Option<(Account, String)>> {
        let mut conn = self.pool.acquire().await?;
        let row: Option<AccountRow> =
            sqlx::query_as("SELECT id, login, role, password_hash FROM accounts WHERE login = ?")
                .bind(login.as_str())
                .fetch_optional(&mut *conn)
                .await?;
        match row {
            Some(row) => Ok(Some(row.into_account(&mut conn).await?)),
            None => Ok(None),
        }
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
        let row: Option<AccountRow> = sqlx::query_as(
            "SELECT a.id, a.login, a.role, a.password_hash FROM sessions s \
             JOIN accounts a ON a.id = s.account_id \
             WHERE s.token_hash = ? AND julianday(s.expires_at) > julianday(?)",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
        match row {
            Some(row) => Ok(Some(row.into_account(&mut conn).await?.0)),
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
