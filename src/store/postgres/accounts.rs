//! Accounts and sessions in PostgreSQL.

use super::PgStore;
use crate::domain::{Account, Login, Role};
use crate::store::{AccountStore, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::FromRow;

#[derive(FromRow)]
struct AccountRow {
    id: i64,
    login: String,
    role: String,
    password_hash: String,
    stations: Vec<i64>,
}

impl AccountRow {
    fn into_account(self) -> StoreResult<(Account, String)> {
        let role: Role =
            self.role
                .parse()
                .map_err(|e: crate::domain::Invalid| StoreError::Corrupt {
                    id: self.id,
                    reason: e.message,
                })?;
        Ok((
            Account {
                id: self.id,
                login: self.login,
                role,
                stations: self.stations,
            },
            self.password_hash,
        ))
    }
}

/// An account row with its assigned station ids (ascending) in one array.
macro_rules! account_select {
    () => {
        "SELECT a.id, a.login, a.role, a.password_hash, \
       COALESCE((SELECT array_agg(x.station_id ORDER BY x.station_id) \
                 FROM account_stations x WHERE x.account_id = a.id), '{}') AS stations \
     FROM accounts a"
    };
}
#[allow(unused_imports)]
pub(crate) use account_select;

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
            let station: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM stations WHERE code = $1 AND retired_at IS NULL",
            )
            .bind(code)
            .fetch_optional(&mut *tx)
            .await?;
            let station = station.ok_or_else(|| StoreError::UnknownStationCode(code.clone()))?;
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

    async fn account_by_login(&self, login: &Login) -> StoreResult<Option<(Account, String)>> {
        let sql = concat!(account_select!(), " WHERE a.login = $1");
        let row: Option<AccountRow> = sqlx::query_as(sql)
            .bind(login.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(AccountRow::into_account).transpose()
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
             WHERE s.token_hash = $1 AND s.expires_at > $2"
        );
        let row: Option<AccountRow> = sqlx::query_as(sql)
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(AccountRow::into_account)
            .transpose()?
            .map(|(a, _)| a))
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
