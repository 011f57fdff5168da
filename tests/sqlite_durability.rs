//! An acknowledged edit on the SQLite store is on disk: connections run `synchronous=FULL`
//! unless the database URL accepts the risk with `?synchronous=normal`.
//!
//! About the SQLite store itself, so it runs on its own GeoPackage whichever store
//! `YIZHAN_TEST_STORE` selects.

mod common;

use common::TestDb;
use yizhan::store::sqlite::SqliteStore;

/// `PRAGMA synchronous` on every pooled connection at once (it is set per connection).
async fn synchronous_of_each_connection(store: &SqliteStore) -> Vec<i64> {
    let mut held = Vec::new();
    let mut seen = Vec::new();
    for _ in 0..store.pool().options().get_max_connections() {
        let mut conn = store.pool().acquire().await.unwrap();
        let v: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        seen.push(v);
        held.push(conn);
    }
    seen
}

#[tokio::test]
async fn commits_are_synced_unless_the_url_says_normal() {
    // SQLite's values: NORMAL = 1, FULL = 2, EXTRA = 3.
    for (query, want) in [
        ("", 2),
        ("?synchronous=full", 2),
        ("?synchronous=normal", 1),
        ("?synchronous=NORMAL", 1),
        ("?synchronous=extra", 3),
    ] {
        let db = TestDb::sqlite();
        let store = SqliteStore::open(&format!("{}{query}", db.url))
            .await
            .unwrap_or_else(|e| panic!("opening with {query:?}: {e}"));
        let seen = synchronous_of_each_connection(&store).await;
        assert!(seen.iter().all(|&v| v == want), "{query:?}: {seen:?}");
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(mode, "wal", "{query:?}");
        store.pool().close().await;
    }
}

#[tokio::test]
async fn an_unknown_synchronous_value_is_refused_by_name() {
    let db = TestDb::sqlite();
    let err = SqliteStore::open(&format!("{}?synchronous=off", db.url))
        .await
        .err()
        .expect("synchronous=off is not offered");
    let message = err.to_string();
    assert!(message.contains("synchronous=\"off\""), "{message}");
    assert!(
        message.contains("full (the default), normal or extra"),
        "{message}"
    );
}
