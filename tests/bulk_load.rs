//! The start-up bulk load (`load_stations`: ranges of ids read concurrently, on SQLite through
//! its C API on read-only connections of its own) returns exactly what single-row reads return, for every active
//! station: across range boundaries, without retired stations, with every optional field set
//! or empty, and (SQLite) with timestamps a hand-edited file might hold in another format.

mod common;

use chrono::{TimeZone, Utc};
use common::{amenities, hours, new_station, Backend, TestDb};
use sqlx::Connection;
use std::str::FromStr;
use yizhan::domain::audit::{Actor, AuditAction};
use yizhan::domain::TemporaryClosure;

/// Moves the id counter so the next station gets `next`: the ids then span several load ranges.
async fn skip_ids_to(db: &TestDb, next: i64) {
    match db.backend {
        Backend::Sqlite => {
            let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&db.url).unwrap();
            let mut conn = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
            sqlx::query("UPDATE sqlite_sequence SET seq = ? WHERE name = 'stations'")
                .bind(next - 1)
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query("SELECT setval(pg_get_serial_sequence('stations', 'id'), $1)")
                .bind(next - 1)
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_load_equals_single_row_reads() {
    let db = TestDb::new().await;
    let store = db.connect().await;
    assert!(!store.has_stations().await.unwrap());
    assert!(store.load_stations().await.unwrap().is_empty());

    // Ids 1..=3, then past the first few ranges of either store (16,384 / 65,536 ids each).
    let mut first = vec![
        new_station("BULK-1", (115.89, 28.68)),
        new_station("BULK-2", (115.90, 28.69)),
        new_station("BULK-3", (-179.99, -89.5)),
    ];
    first[1].amenities = amenities(&["water", "microwave", "toilet"]);
    first[1].opening_hours = hours("Mo-Fr 08:00-18:00; PH off");
    first[1].phone = Some("0791-1234567".into());
    first[1].photo_url = Some("https://example.org/p.jpg".into());
    first[1].notes = Some("说\"明\"\n第二行, with \\ and \u{7f}".into());
    first[1].demo = true;
    store.insert_stations(&first).await.unwrap();
    skip_ids_to(&db, 200_000).await;
    let later = vec![
        new_station("BULK-4", (116.0, 29.0)),
        new_station("BULK-5", (179.99, 89.5)),
    ];
    let later_ids = store.insert_stations(&later).await.unwrap();
    assert_eq!(later_ids[0], 200_000);
    assert!(store.has_stations().await.unwrap());

    // A closure and a verification (optional timestamps set), and a retired station.
    let actor = Actor::importer();
    let before = store.get_station(2).await.unwrap().unwrap();
    let mut after = before.clone();
    after.temporary_closure = Some(TemporaryClosure {
        until: chrono::FixedOffset::east_opt(8 * 3600)
            .unwrap()
            .with_ymd_and_hms(2030, 1, 2, 3, 4, 5)
            .unwrap(),
        reason: "维修".into(),
    });
    after.verified_at = Some(Utc.with_ymd_and_hms(2026, 11, 27, 1, 2, 3).unwrap());
    store
        .update_station(&before, &after, AuditAction::Update, &actor)
        .await
        .unwrap();
    store.retire_station(3, None, &actor).await.unwrap();

    if db.backend == Backend::Sqlite {
        // Another timestamp format SQLite files may hold: read through sqlx's fuller parser.
        let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&db.url).unwrap();
        let mut conn = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
        sqlx::query("UPDATE stations SET created_at = '2026-01-02 03:04:05' WHERE fid = 1")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }

    let loaded = store.load_stations().await.unwrap();
    let ids: Vec<i64> = loaded.iter().map(|s| s.id).collect();
    assert_eq!(
        ids,
        [1, 2, 200_000, 200_001],
        "by id, retired station 3 left out"
    );
    for s in &loaded {
        let one = store.get_station(s.id).await.unwrap().unwrap();
        assert_eq!(
            **s, one,
            "station {} differs between bulk and single reads",
            s.id
        );
    }
    let two = &loaded[1];
    assert!(two.temporary_closure.is_some() && two.verified_at.is_some());
    assert_eq!(two.notes, first[1].notes);
    if db.backend == Backend::Sqlite {
        assert_eq!(
            loaded[0].created_at,
            Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
        );
    }
    store.close().await;
}

/// The SQLite store is a GeoPackage file: an in-memory database (gone for every other tool, and
/// for the start-up read's own connections) is refused with a clear error.
#[tokio::test]
async fn in_memory_sqlite_is_refused() {
    for url in [
        "sqlite::memory:",
        "sqlite://:memory:",
        "sqlite://x.gpkg?mode=memory",
    ] {
        match yizhan::store::connect(url).await {
            Err(yizhan::store::StoreError::UnsupportedUrl(u)) => assert_eq!(u, url),
            Err(e) => panic!("{url}: unexpected error {e}"),
            Ok(_) => panic!("{url}: opened an in-memory store"),
        }
    }
}
