//! Demand in the store: `yizhan demand import` replaces or appends cells aggregated from a CSV,
//! rejects a bad file whole, and query-origin counts add up; on the store `YIZHAN_TEST_STORE`
//! names.

mod common;

use common::*;
use std::process::Output;
use yizhan::domain::demand::{cell_of, DemandCell, DEMAND_RES, QUERY_DEMAND_RES};
use yizhan::domain::LonLat;
use yizhan::store::{Store, StoreError};

/// Runs the binary with `args` plus `--database-url`, off the async runtime.
async fn yizhan(args: &[&str], database_url: &str) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_yizhan"));
    cmd.args(args)
        .arg("--database-url")
        .arg(database_url)
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL");
    cmd.output().await.expect("running the yizhan binary")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn at(lon: f64, lat: f64) -> LonLat {
    LonLat::new(lon, lat).unwrap()
}

/// (cell, label, weight, points) of every stored cell, in the store's order.
async fn demand(store: &dyn Store) -> Vec<(u64, String, f64, i64)> {
    store
        .load_demand()
        .await
        .unwrap()
        .into_iter()
        .map(|c| (u64::from(c.cell), c.label, c.weight, c.points))
        .collect()
}

/// Two points share a cell in the middle of Nanchang; a third lies 10 km away.
const FIRST: &str = "lat,lon,weight,label\n\
                     28.68,115.89,2,外卖\n\
                     28.680001,115.890001,3,外卖\n\
                     28.77,115.95,4,快递\n";

#[tokio::test]
async fn demand_import_replaces_by_default_and_adds_with_append() {
    let db = TestDb::new().await;
    let store = db.connect().await;
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.csv");
    std::fs::write(&first, FIRST).unwrap();
    let first = first.to_str().unwrap();

    let out = yizhan(&["demand", "import", first], &db.url).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("read 3 demand points") && stderr(&out).contains("stored 2 cells"),
        "{}",
        stderr(&out)
    );
    let centre = u64::from(cell_of(at(115.89, 28.68), DEMAND_RES));
    let north = u64::from(cell_of(at(115.95, 28.77), DEMAND_RES));
    let mut want = vec![
        (centre, "外卖".to_string(), 5.0, 2),
        (north, "快递".to_string(), 4.0, 1),
    ];
    want.sort_by_key(|w| w.0);
    assert_eq!(demand(store.as_ref()).await, want);

    // --append adds weights and points to the same (cell, label), and new labels beside them.
    let second = dir.path().join("second.csv");
    std::fs::write(
        &second,
        "weight,lat,lon\n1.5,28.68,115.89\n6,28.68,115.89\n",
    )
    .unwrap();
    let out = yizhan(
        &["demand", "import", "--append", second.to_str().unwrap()],
        &db.url,
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let got = demand(store.as_ref()).await;
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.contains(&(centre, String::new(), 7.5, 2)), "{got:?}");
    assert!(
        got.contains(&(centre, "外卖".to_string(), 5.0, 2)),
        "{got:?}"
    );

    let out = yizhan(&["demand", "import", "--append", first], &db.url).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let got = demand(store.as_ref()).await;
    assert!(
        got.contains(&(centre, "外卖".to_string(), 10.0, 4)),
        "{got:?}"
    );
    assert!(
        got.contains(&(north, "快递".to_string(), 8.0, 2)),
        "{got:?}"
    );

    // Without --append the file replaces everything stored before.
    let out = yizhan(&["demand", "import", second.to_str().unwrap()], &db.url).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        demand(store.as_ref()).await,
        [(centre, String::new(), 7.5, 2)]
    );
}

#[tokio::test]
async fn demand_import_with_a_bad_row_changes_nothing() {
    let db = TestDb::new().await;
    let store = db.connect().await;
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.csv");
    std::fs::write(&good, FIRST).unwrap();
    let out = yizhan(&["demand", "import", good.to_str().unwrap()], &db.url).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let before = demand(store.as_ref()).await;

    for (content, says) in [
        (format!("{FIRST}28.7,115.9,0,外卖\n"), "row 5"),
        (format!("{FIRST}28.7,east,1,外卖\n"), "lon must be a number"),
        (format!("{FIRST}91,115.9,1,外卖\n"), "row 5"),
        (
            "lat,lon,weight,phone\n28.7,115.9,1,13800000000\n".to_string(),
            "unknown column \"phone\"",
        ),
        ("lat,lon,weight\n".to_string(), "no data rows"),
        (String::new(), "empty"),
    ] {
        let file = dir.path().join("bad.csv");
        std::fs::write(&file, &content).unwrap();
        for append in [false, true] {
            let mut args = vec!["demand", "import", file.to_str().unwrap()];
            if append {
                args.push("--append");
            }
            let out = yizhan(&args, &db.url).await;
            let err = stderr(&out);
            assert!(!out.status.success(), "{content:?} must fail");
            assert!(err.contains(says), "{says:?} in {err}");
            assert!(err.contains("nothing was imported"), "{err}");
            assert_eq!(demand(store.as_ref()).await, before, "{content:?}");
        }
    }
}

#[tokio::test]
async fn query_counts_add_up_per_coarse_cell() {
    let db = TestDb::new().await;
    let store = db.connect().await;
    assert!(store.load_query_counts().await.unwrap().is_empty());
    let a = cell_of(at(115.89, 28.68), QUERY_DEMAND_RES);
    let b = cell_of(at(116.5, 27.9), QUERY_DEMAND_RES);
    store.add_query_counts(&[(a, 2), (b, 1)]).await.unwrap();
    // A finer cell counts on its parent at the query resolution; duplicates add.
    let fine = cell_of(at(115.89, 28.68), DEMAND_RES);
    store
        .add_query_counts(&[(a, 3), (fine, 4), (a, 1)])
        .await
        .unwrap();
    store.add_query_counts(&[]).await.unwrap();
    let mut want = vec![(a, 10), (b, 1)];
    want.sort_by_key(|(c, _)| u64::from(*c));
    assert_eq!(store.load_query_counts().await.unwrap(), want);
}

#[tokio::test]
async fn stored_demand_sums_duplicates_and_a_non_h3_cell_is_corrupt() {
    let db = TestDb::new().await;
    let store = db.connect().await;
    let c = cell_of(at(115.89, 28.68), DEMAND_RES);
    let cell = |label: &str, weight: f64, points: i64| DemandCell {
        cell: c,
        label: label.to_string(),
        weight,
        points,
    };
    let n = store
        .store_demand(
            &[cell("", 1.0, 1), cell("", 2.0, 3), cell("x", 1.0, 1)],
            true,
        )
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(
        store.load_demand().await.unwrap(),
        [cell("", 3.0, 4), cell("x", 1.0, 1)]
    );

    // A row written behind the service's back that is no H3 index.
    let sql = "INSERT INTO demand_cells (cell, label, weight, points) VALUES (42, 'bad', 1, 1)";
    match db.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
    match store.load_demand().await {
        Err(StoreError::Corrupt { id: 42, reason }) => {
            assert!(reason.contains("H3"), "{reason}")
        }
        other => panic!("expected Corrupt for cell 42, got {other:?}"),
    }
}
