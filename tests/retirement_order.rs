//! A retirement is ordered like any other version: a station state read before the station was
//! retired and applied after it (a resync racing an admin's retirement) never brings the
//! station back, while a newer active version does. Checked against a "latest version wins"
//! model for random interleavings, through overlay folds and full reloads, and end to end
//! through the store, the HTTP API and the resync.
//!
//! `PROPTEST_CASES` raises or lowers the number of cases (default 256).

mod common;

use chrono::{TimeDelta, Utc};
use common::{new_station, spawn_empty_app, station_record, TestApp};
use proptest::prelude::*;
use reqwest::StatusCode;
use std::collections::BTreeMap;
use yizhan::auth::{hash_password, new_session_token, token_hash};
use yizhan::domain::audit::{Actor, AuditAction};
use yizhan::domain::{Login, LonLat, Role, Station, StationState};
use yizhan::index::{Snapshot, StationIndex};

const TZ: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256)
}

/// Station `id` active at `version`, placed by the version so versions are told apart by
/// position as well as by number.
fn active(id: i64, version: i64) -> Station {
    let new = new_station(
        &format!("T-{id}"),
        (115.0 + id as f64 * 0.01, 28.0 + version as f64 * 0.001),
    );
    let mut s = station_record(id, &new, Utc::now());
    s.version = version;
    s
}

fn state(id: i64, version: i64, is_active: bool) -> StationState {
    if is_active {
        StationState::Active(active(id, version))
    } else {
        StationState::Retired { id, version }
    }
}

/// The index's stations as (id, version, longitude, latitude), by id.
fn indexed(index: &StationIndex) -> Vec<(i64, i64, f64, f64)> {
    index
        .load()
        .all()
        .iter()
        .map(|s| (s.id, s.version, s.location.lon, s.location.lat))
        .collect()
}

/// A station's history in the store: version 1 is its creation (active); each later version
/// retires it or makes it active again (with a new position). `true` = active.
fn history() -> impl Strategy<Value = Vec<bool>> {
    proptest::collection::vec(any::<bool>(), 0..6).prop_map(|later| {
        let mut h = vec![true];
        h.extend(later);
        h
    })
}

/// One state delivered to the index: (station, index into its history).
type Delivery = (usize, usize);

/// Every station's history, whether the start-up load saw it, and the deliveries in the
/// order they are applied, cut into batches (a batch is one `apply_newer`). Some states
/// arrive twice, some never.
fn scenario() -> impl Strategy<Value = (Vec<Vec<bool>>, Vec<bool>, Vec<Vec<Delivery>>)> {
    proptest::collection::vec(history(), 1..6).prop_flat_map(|histories| {
        let n = histories.len();
        let lens: Vec<usize> = histories.iter().map(Vec::len).collect();
        let delivery = (0..n).prop_flat_map(move |station| (Just(station), 0..lens[station]));
        (
            Just(histories),
            proptest::collection::vec(any::<bool>(), n),
            proptest::collection::vec(proptest::collection::vec(delivery, 1..4), 0..12),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Whatever order versioned states arrive in, the index holds for every station the
    /// newest state it was given: active at that version, or absent when that state is a
    /// retirement (or nothing was ever given).
    #[test]
    fn the_latest_version_wins_in_any_interleaving((histories, in_base, batches) in scenario()) {
        let id_of = |station: usize| station as i64 + 1;
        // What the start-up load read: version 1 of some stations.
        let base: Vec<Station> = (0..histories.len())
            .filter(|&i| in_base[i])
            .map(|i| active(id_of(i), 1))
            .collect();
        let index = StationIndex::new(Snapshot::build(base, TZ));
        // The model: the newest version each station was given, and whether it is active.
        let mut newest: BTreeMap<i64, (i64, bool)> = (0..histories.len())
            .filter(|&i| in_base[i])
            .map(|i| (id_of(i), (1, true)))
            .collect();
        for batch in &batches {
            let mut changes = Vec::new();
            for &(station, at) in batch {
                let (id, version, is_active) = (id_of(station), at as i64 + 1, histories[station][at]);
                changes.push(state(id, version, is_active));
                if newest.get(&id).is_none_or(|&(v, _)| version > v) {
                    newest.insert(id, (version, is_active));
                }
            }
            index.apply_newer(changes);
            let want: Vec<(i64, i64, f64, f64)> = newest
                .iter()
                .filter(|(_, &(_, is_active))| is_active)
                .map(|(&id, &(v, _))| {
                    let s = active(id, v);
                    (id, v, s.location.lon, s.location.lat)
                })
                .collect();
            prop_assert_eq!(indexed(&index), want);
            prop_assert_eq!(index.load().len(), newest.values().filter(|(_, a)| *a).count());
            for (&id, &(v, is_active)) in &newest {
                prop_assert_eq!(index.tombstone(id), (!is_active).then_some(v), "station {}", id);
                prop_assert!(!index.is_newer(id, v));
                prop_assert!(index.is_newer(id, v + 1));
            }
        }
    }
}

#[test]
fn a_state_read_before_a_retirement_and_applied_after_it_is_ignored() {
    let index = StationIndex::new(Snapshot::build(vec![active(1, 1), active(2, 1)], TZ));
    // A resync reads station 1 at version 2 (an edit elsewhere)…
    let read_by_resync = vec![state(1, 2, true)];
    // …meanwhile an admin retires it (version 3), published first…
    index.apply_newer(vec![state(1, 3, false)]);
    let after_retirement = index.load().generation();
    // …then the resync's batch lands.
    index.apply_newer(read_by_resync);
    assert!(
        index.load().get(1).is_none(),
        "the retired station came back"
    );
    assert_eq!(index.tombstone(1), Some(3));
    // Ignoring it published nothing.
    assert_eq!(index.load().generation(), after_retirement);
    // A later version (the model allows a station to become active again) does apply.
    index.apply_newer(vec![state(1, 4, true)]);
    assert_eq!(index.load().get(1).map(|s| s.version), Some(4));
    assert_eq!(index.tombstone(1), None);
}

#[test]
fn tombstones_survive_overlay_folds_and_full_reloads() {
    let index = StationIndex::new(Snapshot::build(vec![active(1, 1)], TZ));
    index.apply_newer(vec![state(1, 2, false)]);
    // Far more changes than the overlay holds: the overlay folds into new bases on the way.
    for batch in 0..30i64 {
        index.apply_newer(
            (0..100)
                .map(|j| state(1_000 + batch * 100 + j, 1, true))
                .collect(),
        );
    }
    assert!(index.load().overlay_len() < 2048, "the overlay folded");
    index.apply_newer(vec![state(1, 1, true)]);
    assert!(index.load().get(1).is_none());
    assert_eq!(index.load().len(), 3000);

    // A full reload that read the store before the retirement keeps the station out…
    let mut reload: Vec<Station> = index.load().all().iter().map(|s| (**s).clone()).collect();
    reload.push(active(1, 1));
    index.replace(reload.clone());
    assert!(index.load().get(1).is_none());
    assert_eq!(index.tombstone(1), Some(2));
    // …one that read it active again at a newer version brings it back.
    reload.pop();
    reload.push(active(1, 3));
    index.replace(reload);
    assert_eq!(index.load().get(1).map(|s| s.version), Some(3));
    assert_eq!(index.tombstone(1), None);
}

/// An admin's session token.
async fn admin_token(app: &TestApp) -> String {
    let id = app
        .store
        .create_account(
            &Login::new("admin").unwrap(),
            &hash_password("a long test password").unwrap(),
            Role::Admin,
            &[],
        )
        .await
        .expect("creating the admin");
    let token = new_session_token();
    app.store
        .create_session(&token_hash(&token), id, Utc::now() + TimeDelta::hours(1))
        .await
        .expect("creating a session");
    token
}

async fn nearest_codes(app: &TestApp) -> Vec<String> {
    let (status, body) = app
        .get_json("/api/v1/stations/nearest?lat=28.68&lon=115.89&limit=10&include=code")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    common::codes(&body)
}

/// The race end to end on the real store: another replica edits station A, this replica's
/// resync reads the edit, an admin retires A through this replica's API, and only then is the
/// resync's batch applied. A stays retired, and later resyncs agree.
#[tokio::test]
async fn a_resync_read_before_a_retirement_does_not_bring_the_station_back() {
    let app = spawn_empty_app().await;
    let ids = app
        .add_stations(&[
            new_station("JX-A", (115.89, 28.68)),
            new_station("JX-B", (115.891, 28.68)),
        ])
        .await;
    let a = ids[0];
    let token = admin_token(&app).await;
    let since = Utc::now() - TimeDelta::seconds(60);
    // What the index held when the resync compared the changed rows with it. (On PostGIS this
    // replica also follows the change feed, which may reload the edit below before the resync
    // reads it; the resync's comparison happened before that.)
    let seen_by_resync = StationIndex::new(Snapshot::build(app.index.load().all(), TZ));

    // An edit made elsewhere: in the store, not (yet) in this index.
    let before = app.store.get_station(a).await.unwrap().unwrap();
    let mut after = before.clone();
    after.phone = Some("0791-1".into());
    let actor = Actor {
        account_id: None,
        login: "other-replica".into(),
    };
    let edited = app
        .store
        .update_station(&before, &after, AuditAction::Update, &actor)
        .await
        .unwrap();

    let read = yizhan::sync::changes_since(app.store.as_ref(), &seen_by_resync, since)
        .await
        .unwrap();
    assert_eq!(read, vec![StationState::Active(edited.clone())]);

    let res = app
        .client
        .delete(app.url(&format!("/api/v1/stations/{a}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(nearest_codes(&app).await, ["JX-B"]);

    app.index.apply_newer(read);
    assert_eq!(nearest_codes(&app).await, ["JX-B"], "A came back");
    let (status, _) = app.get_json(&format!("/api/v1/stations/{a}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.index.tombstone(a), Some(edited.version + 1));

    // A resync now finds nothing newer than the index knows, and changes nothing.
    let generation = app.index.load().generation();
    assert_eq!(
        yizhan::sync::resync_since(app.store.as_ref(), &app.index, since)
            .await
            .unwrap(),
        0
    );
    assert_eq!(app.index.load().generation(), generation);
    assert_eq!(nearest_codes(&app).await, ["JX-B"]);
    let b = app.index.load().get(ids[1]).unwrap();
    assert_eq!(b.location, LonLat::new(115.891, 28.68).unwrap());
}
