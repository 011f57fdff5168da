//! Telling a store that cannot answer right now (down, restarting, unreachable, out of
//! connections) from one that answered "no": the first is worth retrying shortly and becomes a
//! 503 with `Retry-After`; the second is a bug or bad data and stays a 500.

use super::StoreError;
use sqlx::error::DatabaseError;

/// PostgreSQL SQLSTATEs that mean "the server cannot serve this connection now".
/// Class 08 (connection exception) is matched as a whole.
const PG_UNAVAILABLE: &[&str] = &[
    "57P01", // admin_shutdown: `pg_ctl stop -m fast`, or `pg_terminate_backend`
    "57P02", // crash_shutdown: another backend crashed and the server is resetting
    "57P03", // cannot_connect_now: starting up or shutting down
    "53300", // too_many_connections
];

/// SQLite's primary result code for "another connection holds the lock" (extended codes such
/// as `SQLITE_BUSY_SNAPSHOT` keep it in their low byte).
const SQLITE_BUSY: i32 = 5;

impl StoreError {
    /// Whether the store could not be reached or was too busy to take the request: the same
    /// request may well succeed a moment later, with nothing to change on the caller's side.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Db(e) => sqlx_unavailable(e),
            _ => false,
        }
    }
}

fn sqlx_unavailable(e: &sqlx::Error) -> bool {
    match e {
        // No connection within the acquire timeout: the server refuses connections, or every
        // connection is busy.
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        // The socket broke (server stopped, restarted, network gone) or could not be opened.
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => database_unavailable(db.as_ref()),
        _ => false,
    }
}

fn database_unavailable(db: &dyn DatabaseError) -> bool {
    if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        let code = pg.code();
        return code.starts_with("08") || PG_UNAVAILABLE.contains(&code);
    }
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        return db
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|c| c & 0xff == SQLITE_BUSY);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::{Connection, Executor};

    #[test]
    fn pool_and_socket_failures_are_unavailable() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        for e in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(refused),
        ] {
            assert!(StoreError::Db(e).is_unavailable());
        }
    }

    #[test]
    fn data_and_logic_errors_are_not_unavailable() {
        assert!(!StoreError::Db(sqlx::Error::RowNotFound).is_unavailable());
        assert!(!StoreError::Db(sqlx::Error::Protocol("odd".into())).is_unavailable());
        assert!(!StoreError::NotFound(1).is_unavailable());
        assert!(!StoreError::VersionMismatch { current: 2 }.is_unavailable());
        assert!(!StoreError::Corrupt {
            id: 1,
            reason: "x".into()
        }
        .is_unavailable());
    }

    /// A real SQLITE_BUSY (a second writer with no busy timeout) is unavailable; a real
    /// constraint failure from the same database is not.
    #[tokio::test]
    async fn sqlite_busy_is_unavailable_but_a_constraint_is_not() {
        use sqlx::sqlite::SqliteConnectOptions;
        use std::str::FromStr;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("busy.db").display());
        let opts = SqliteConnectOptions::from_str(&url)
            .unwrap()
            .create_if_missing(true)
            .busy_timeout(std::time::Duration::ZERO);
        let mut holder = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
        holder
            .execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
            .await
            .unwrap();
        holder.execute("INSERT INTO t VALUES (1)").await.unwrap();
        let dup = holder
            .execute("INSERT INTO t VALUES (1)")
            .await
            .unwrap_err();
        assert!(!StoreError::Db(dup).is_unavailable());

        holder.execute("BEGIN IMMEDIATE").await.unwrap();
        let mut other = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
        let busy = other.execute("INSERT INTO t VALUES (2)").await.unwrap_err();
        assert!(
            StoreError::Db(busy).is_unavailable(),
            "a locked database is worth retrying"
        );
    }

    /// Nothing listens on the port: connecting fails at once, and that is unavailable.
    #[tokio::test]
    async fn refused_postgres_connection_is_unavailable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        let e = sqlx::PgConnection::connect(&url).await.unwrap_err();
        assert!(StoreError::Db(e).is_unavailable());
    }
}
