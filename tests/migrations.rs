//! Migrations keep what earlier ones stored: a store written before a migration opens after it
//! with its rows intact, on the store `YIZHAN_TEST_STORE` names.

mod common;

use common::*;
use sqlx::migrate::Migrator;
use std::path::{Path, PathBuf};
use yizhan::auth::{hash_password, token_hash};
use yizhan::domain::{Login, Role};

/// The migrations before `version` in a directory of their own, as an older build shipped them.
fn migrations_before(version: i64, backend: Backend) -> tempfile::TempDir {
    let src: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        });
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let v: i64 = name.split('_').next().unwrap().parse().unwrap();
        if v < version {
            std::fs::copy(&path, dir.path().join(&name)).unwrap();
        }
    }
    dir
}

/// Runs `sql` (several statements) on a database migrated only up to before `version`.
async fn write_before(db: &TestDb, version: i64, sql: &str) {
    let dir = migrations_before(version, db.backend);
    let old = Migrator::new(dir.path()).await.unwrap();
    match db.backend {
        Backend::Sqlite => {
            use std::str::FromStr;
            let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&db.url)
                .unwrap()
                .create_if_missing(true)
                .foreign_keys(true);
            let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
            old.run(&pool).await.unwrap();
            sqlx::raw_sql(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            old.run(&pool).await.unwrap();
            sqlx::raw_sql(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

/// The planner migration rebuilds `accounts` on SQLite, whose foreign keys cascade into
/// sessions and assigned stations: none of them may be lost, and no id handed out again.
#[tokio::test]
async fn planner_migration_keeps_accounts_sessions_and_assigned_stations() {
    let db = TestDb::unmigrated().await;
    let hash = hash_password("an old password").unwrap();
    let geom = match db.backend {
        Backend::Sqlite => "X'00'",
        Backend::Postgres => "ST_SetSRID(ST_MakePoint(115.9, 28.7), 4326)",
    };
    let t = "'2025-01-01T00:00:00Z'";
    let sql = format!(
        "INSERT INTO stations (id_col, geom, code, name, county, opening_hours, created_at, updated_at) \
           VALUES (1, {geom}, 'JX-A', 'A', '360102', '24/7', {t}, {t}), \
                  (2, {geom}, 'JX-B', 'B', '360102', '24/7', {t}, {t}), \
                  (3, {geom}, 'JX-C', 'C', '360102', '24/7', {t}, {t}); \
         INSERT INTO accounts (id, login, password_hash, role, created_at, updated_at) \
           VALUES (1, 'mgr.old', '{hash}', 'manager', {t}, {t}), \
                  (2, 'admin.old', '{hash}', 'admin', {t}, {t}), \
                  (7, 'gone', '{hash}', 'admin', {t}, {t}); \
         DELETE FROM accounts WHERE id = 7; \
         INSERT INTO account_stations (account_id, station_id) VALUES (1, 3), (1, 1); \
         INSERT INTO sessions (token_hash, account_id, created_at, expires_at) \
           VALUES ('{}', 1, {t}, '2099-01-01T00:00:00Z');",
        token_hash("old session token")
    )
    .replace(
        "id_col",
        match db.backend {
            Backend::Sqlite => "fid",
            Backend::Postgres => "id",
        },
    );
    let sql = match db.backend {
        // Explicit ids leave a PostgreSQL sequence behind; the application never writes them.
        Backend::Postgres => format!(
            "{sql} SELECT setval(pg_get_serial_sequence('accounts', 'id'), 7); \
             SELECT setval(pg_get_serial_sequence('stations', 'id'), 3);"
        ),
        Backend::Sqlite => sql,
    };
    write_before(&db, 5, &sql).await;

    for _reopen in 0..2 {
        let store = db.connect().await;
        let record = store
            .account_by_login(&Login::new("mgr.old").unwrap())
            .await
            .unwrap()
            .expect("the manager survives");
        let (mgr, stored_hash) = (record.account, record.password_hash);
        assert_eq!((mgr.id, mgr.role), (1, Role::Manager));
        assert_eq!(mgr.stations, [1, 3], "assigned stations survive");
        assert_eq!(stored_hash, hash);
        let admin = store
            .account_by_login(&Login::new("admin.old").unwrap())
            .await
            .unwrap()
            .expect("the admin survives")
            .account;
        assert_eq!((admin.id, admin.role), (2, Role::Admin));
        let session = store
            .session_account(&token_hash("old session token"), chrono::Utc::now())
            .await
            .unwrap();
        assert_eq!(
            session.map(|a| a.login),
            Some("mgr.old".to_string()),
            "the session survives"
        );
        store.close().await;
    }

    // The new role is accepted, and the new account takes a fresh id (7 was used once).
    let store = db.connect().await;
    let planner = store
        .create_account(&Login::new("plan.new").unwrap(), &hash, Role::Planner, &[])
        .await
        .unwrap();
    assert!(planner > 7, "id {planner} was handed out before");
    store.close().await;
}

/// Accounts written before the disabled flag existed open enabled: they log in, their sessions
/// live on, and they can be disabled and enabled like new ones.
#[tokio::test]
async fn disabled_flag_migration_keeps_existing_accounts_enabled() {
    let db = TestDb::unmigrated().await;
    let hash = hash_password("an old password").unwrap();
    let t = "'2025-01-01T00:00:00Z'";
    let sql = format!(
        "INSERT INTO accounts (id, login, password_hash, role, created_at, updated_at) \
           VALUES (1, 'mgr.before', '{hash}', 'manager', {t}, {t}), \
                  (2, 'plan.before', '{hash}', 'planner', {t}, {t}); \
         INSERT INTO sessions (token_hash, account_id, created_at, expires_at) \
           VALUES ('{}', 1, {t}, '2099-01-01T00:00:00Z');",
        token_hash("a session from before")
    );
    write_before(&db, 8, &sql).await;

    let store = db.connect().await;
    for login in ["mgr.before", "plan.before"] {
        let record = store
            .account_by_login(&Login::new(login).unwrap())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{login} survives"));
        assert_eq!(record.disabled_at, None, "{login} stays enabled");
        assert_eq!(record.password_hash, hash);
    }
    let session = store
        .session_account(&token_hash("a session from before"), chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(session.map(|a| a.id), Some(1), "the session survives");
    // The new column works on the old rows.
    let mgr = Login::new("mgr.before").unwrap();
    assert!(store.set_account_disabled(&mgr, true).await.unwrap());
    assert!(store
        .account_by_login(&mgr)
        .await
        .unwrap()
        .unwrap()
        .disabled_at
        .is_some());
    assert!(store.set_account_disabled(&mgr, false).await.unwrap());
    store.close().await;
}
