//! The PostGIS baseline is honest: `EXPLAIN` of the store's own nearest statement
//! (`yizhan::store::postgres::NEAREST_SQL`, the very text `--nearest-engine store` runs) walks
//! the partial GiST index of active stations in KNN order — no sort of the table — on a freshly
//! loaded database that was never analysed, after `ANALYZE`, for a custom and a generic plan
//! (sqlx prepares statements, and PostgreSQL may switch a prepared one to its generic plan).
//! PostgreSQL only: on SQLite these tests say so and pass.

mod common;

use common::*;
use sqlx::{Connection, Executor, PgConnection, Row};
use yizhan::store::postgres::NEAREST_SQL;

/// The partial GiST index of migration 0009.
const GIST: &str = "stations_active_geom_gist";

fn postgres_only(test: &str) -> bool {
    if backend() == Backend::Postgres {
        return true;
    }
    eprintln!("{test}: PostgreSQL only (YIZHAN_TEST_STORE=postgres); nothing to check on SQLite");
    false
}

/// Inserts `n` stations spread over Jiangxi with plain SQL (no ANALYZE, unlike the store's bulk
/// paths), `retired` of them retired.
async fn load_without_analyze(conn: &mut PgConnection, n: i64, retired: i64) {
    sqlx::query(
        "INSERT INTO stations (geom, code, name, county, opening_hours, created_at, updated_at, retired_at) \
         SELECT ST_SetSRID(ST_MakePoint(113.6 + 4.8 * ((g * 7919) % 10007) / 10007.0, \
                                        24.5 + 5.5 * ((g * 104729) % 10009) / 10009.0), 4326), \
                'PLAN-' || g, 'plan test ' || g, '360102', '24/7', now(), now(), \
                CASE WHEN g <= $2 THEN now() END \
         FROM generate_series(1, $1) g",
    )
    .bind(n)
    .bind(retired)
    .execute(&mut *conn)
    .await
    .expect("loading stations");
}

async fn last_analyzed(conn: &mut PgConnection) -> Option<chrono::DateTime<chrono::Utc>> {
    sqlx::query(
        "SELECT greatest(last_analyze, last_autoanalyze) FROM pg_stat_user_tables \
         WHERE relname = 'stations'",
    )
    .fetch_one(&mut *conn)
    .await
    .expect("reading pg_stat_user_tables")
    .get(0)
}

/// `EXPLAIN EXECUTE` of NEAREST_SQL prepared as is, in `plan_cache_mode` `mode`. Simple-protocol
/// statements throughout (`raw_sql`), so sqlx's own prepared statements are left alone.
async fn explain(conn: &mut PgConnection, mode: &str) -> String {
    let setup = format!(
        "SET plan_cache_mode = {mode}; PREPARE nearest(geometry, bigint) AS {NEAREST_SQL};"
    );
    sqlx::raw_sql(&setup)
        .execute(&mut *conn)
        .await
        .expect("preparing the store's nearest statement");
    let rows =
        sqlx::raw_sql("EXPLAIN EXECUTE nearest(ST_SetSRID(ST_MakePoint(115.89, 28.68), 4326), 5)")
            .fetch_all(&mut *conn)
            .await
            .expect("EXPLAIN");
    sqlx::raw_sql("DEALLOCATE nearest")
        .execute(&mut *conn)
        .await
        .expect("deallocate");
    rows.iter()
        .map(|r| r.get::<String, _>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The plan walks the partial GiST in distance order and sorts only the k rows it found.
fn assert_knn_walk(plan: &str, when: &str) {
    assert!(
        plan.contains(&format!("Index Scan using {GIST} on stations")),
        "{when}: no KNN index scan on {GIST}:\n{plan}"
    );
    assert!(
        plan.contains("Order By: (geom <-> "),
        "{when}: the index scan is not in distance order:\n{plan}"
    );
    assert!(
        !plan.contains("Seq Scan") && !plan.contains("Bitmap"),
        "{when}: the table is scanned instead of walked:\n{plan}"
    );
    // The one Sort allowed is the outer one over the k found (by exact distance), above the
    // Limit; a Sort between the Limit and the table would order every station.
    let limit = plan
        .find("Limit")
        .unwrap_or_else(|| panic!("{when}: no Limit:\n{plan}"));
    assert!(
        !plan[limit..].contains("Sort"),
        "{when}: a sort under the Limit (every station ordered per request):\n{plan}"
    );
}

async fn plans_before_and_after_analyze(n: i64, retired: i64) {
    let db = TestDb::postgres().await;
    let store = db.connect().await; // migrates
    let mut conn = PgConnection::connect(&db.url).await.expect("connecting");
    load_without_analyze(&mut conn, n, retired).await;
    assert_eq!(store.count_stations().await.unwrap(), n - retired);
    assert_eq!(
        last_analyzed(&mut conn).await,
        None,
        "the table must be unanalysed here"
    );
    for mode in ["force_custom_plan", "force_generic_plan"] {
        let plan = explain(&mut conn, mode).await;
        assert_knn_walk(&plan, &format!("{n} stations, never analysed, {mode}"));
    }
    conn.execute("ANALYZE stations").await.expect("ANALYZE");
    assert!(last_analyzed(&mut conn).await.is_some());
    for mode in ["force_custom_plan", "force_generic_plan"] {
        let plan = explain(&mut conn, mode).await;
        assert_knn_walk(&plan, &format!("{n} stations, analysed, {mode}"));
    }
    let _ = conn.close().await;
    store.close().await;
}

#[tokio::test]
async fn nearest_walks_the_active_gist_on_a_fresh_demo_sized_table() {
    if postgres_only("nearest_walks_the_active_gist_on_a_fresh_demo_sized_table") {
        plans_before_and_after_analyze(4_618, 0).await;
    }
}

#[tokio::test]
async fn nearest_walks_the_active_gist_at_national_size_with_retired_rows() {
    if postgres_only("nearest_walks_the_active_gist_at_national_size_with_retired_rows") {
        plans_before_and_after_analyze(200_000, 10_000).await;
    }
}

#[tokio::test]
async fn the_store_answers_are_true_distances_never_nearer_than_the_exact_ones() {
    if !postgres_only("the_store_answers_are_true_distances_never_nearer_than_the_exact_ones") {
        return;
    }
    // The baseline takes the k nearest by planar degrees (the GiST's `<->` on geometry) and
    // then orders those by geodesic distance: cheaper than an exact answer, so it can only be
    // as near as the index's exact one or farther at a rank, never nearer; its distances are
    // the true ones. Where it differs is printed (BENCHMARKS.md says so beside the figures).
    let app = spawn_app().await;
    let snapshot = app.index.load();
    let mut differing = 0;
    for (lon, lat) in [NANCHANG, (114.93, 25.85), (117.97, 28.45), (116.0, 29.7)] {
        for k in [5, 10] {
            let origin = yizhan::domain::LonLat::new(lon, lat).unwrap();
            let from_store = app.store.nearest_in_store(origin, k).await.unwrap();
            let from_index = snapshot.nearest(&yizhan::index::NearestQuery {
                origin,
                limit: k,
                amenities: Default::default(),
                open_at: None,
                max_distance_m: None,
            });
            assert_eq!(from_store.len(), k);
            assert_eq!(
                from_store[0].0, from_index[0].station.id,
                "nearest at {lon},{lat}"
            );
            for (rank, ((id, d), exact)) in from_store.iter().zip(&from_index).enumerate() {
                let s = snapshot.get(*id).unwrap();
                let truth = distance_m((lon, lat), (s.location.lon, s.location.lat));
                assert!((d - truth).abs() < 0.01, "station {id}: {d} vs {truth}");
                assert!(
                    *d >= exact.distance_m - 0.01,
                    "rank {rank} at {lon},{lat}: the store found {d} m, nearer than exact {}",
                    exact.distance_m
                );
            }
            let store_ids: Vec<i64> = from_store.iter().map(|(id, _)| *id).collect();
            let index_ids: Vec<i64> = from_index.iter().map(|h| h.station.id).collect();
            if store_ids != index_ids {
                differing += 1;
                eprintln!("k={k} at {lon},{lat}: store {store_ids:?}, exact {index_ids:?}");
            }
        }
    }
    eprintln!("the planar-KNN baseline differed from the exact answer in {differing} of 8 queries");
}

#[tokio::test]
async fn seeding_analyzes_the_stations_table() {
    if !postgres_only("seeding_analyzes_the_stations_table") {
        return;
    }
    let app = spawn_app().await; // seeds the demo stations through the store's bulk path
    let mut conn = PgConnection::connect(&app.database_url)
        .await
        .expect("connecting");
    assert!(
        last_analyzed(&mut conn).await.is_some(),
        "the demo seed left the stations table without statistics"
    );
    let plan = explain(&mut conn, "auto").await;
    assert_knn_walk(&plan, "seeded by the app");
    let _ = conn.close().await;
}
