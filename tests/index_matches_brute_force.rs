//! The index answers exactly what a brute-force scan with Karney's geodesics answers, for
//! random stations and queries anywhere on the globe (poles and antimeridian included), and
//! the live path (`StationIndex::apply`) agrees with a fresh bulk load of the same stations.
//!
//! `PROPTEST_CASES` raises or lowers the number of cases (default 64 per property).

use chrono::{DateTime, Duration, FixedOffset, TimeZone, Utc};
use geographiclib_rs::{Geodesic, InverseGeodesic};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::collections::{BTreeMap, HashSet};
use yizhan::domain::{AmenitySet, BBox, Hours, LonLat, Station, TemporaryClosure};
use yizhan::index::{Hit, NearestQuery, Snapshot, StationIndex};

/// Two distances closer than this are a tie; every distance is exact to this.
const TOLERANCE_M: f64 = 1e-3;

const TZ: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

/// A mix of schedules: always open (shortcut and evaluated), never, and part-time ones.
const HOURS: [&str; 6] = [
    "24/7",
    "Mo-Fr 08:00-18:00",
    "off",
    "Mo-Su 10:00-14:00",
    "Sa,Su 09:00-17:00",
    "Mo-Su 00:00-24:00",
];

/// Monday 2026-11-23 00:00 UTC: query instants and closures are minutes after it.
fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64)
}

fn wrap(lon: f64, lat: f64) -> (f64, f64) {
    let mut lon = lon;
    if lon > 180.0 {
        lon -= 360.0;
    } else if lon < -180.0 {
        lon += 360.0;
    }
    (lon.clamp(-180.0, 180.0), lat.clamp(-90.0, 90.0))
}

/// Anywhere, with extra weight on the awkward places.
fn anywhere() -> impl Strategy<Value = (f64, f64)> {
    prop_oneof![
        3 => (-180.0..=180.0f64, -90.0..=90.0f64),
        1 => (-180.0..=180.0f64, 85.0..=90.0f64),
        1 => (-180.0..=180.0f64, -90.0..=-85.0f64),
        1 => (prop_oneof![170.0..=180.0f64, -180.0..=-170.0f64], -89.0..=89.0f64),
        1 => (113.5..118.5f64, 24.4..30.1f64),
        1 => Just((180.0, 0.0)),
        1 => Just((-180.0, 0.0)),
        1 => Just((0.0, 90.0)),
    ]
}

/// Near `center`: offsets from centimetres to a couple of degrees, wrapping the antimeridian
/// and piling up at the poles.
fn near(center: (f64, f64)) -> impl Strategy<Value = (f64, f64)> {
    (
        -1.0..=1.0f64,
        -1.0..=1.0f64,
        prop_oneof![Just(1e-7), Just(1e-4), Just(0.01), Just(0.1), Just(2.0)],
    )
        .prop_map(move |(dx, dy, scale)| wrap(center.0 + dx * scale, center.1 + dy * scale))
}

#[derive(Debug, Clone)]
struct Spec {
    pos: (f64, f64),
    amenities: u32,
    hours: usize,
    /// Milliseconds after [`epoch`] a temporary closure ends.
    closure_until_ms: Option<i64>,
}

fn spec(center: (f64, f64)) -> impl Strategy<Value = Spec> {
    (
        prop_oneof![2 => anywhere(), 3 => near(center)],
        0u32..16,
        0..HOURS.len(),
        prop_oneof![3 => Just(None), 1 => instant_ms(-3_000, 12_000).prop_map(Some)],
    )
        .prop_map(|(pos, amenities, hours, closure_until_ms)| Spec {
            pos,
            amenities,
            hours,
            closure_until_ms,
        })
}

/// Milliseconds after [`epoch`] between two minute marks: often on a whole minute (so a
/// closure can end exactly at the query instant), otherwise anywhere within one.
fn instant_ms(from_min: i64, to_min: i64) -> impl Strategy<Value = i64> {
    prop_oneof![
        (from_min..to_min).prop_map(|m| m * 60_000),
        (from_min * 60_000..to_min * 60_000),
    ]
}

#[derive(Debug, Clone)]
struct Query {
    origin: (f64, f64),
    limit: usize,
    amenities: u32,
    max_distance_m: Option<f64>,
    open_at_ms: Option<i64>,
}

fn query(center: (f64, f64)) -> impl Strategy<Value = Query> {
    (
        prop_oneof![anywhere(), near(center), near(center)],
        1usize..20,
        prop_oneof![2 => Just(0u32), 1 => 0u32..16],
        prop_oneof![
            2 => Just(None),
            1 => (0.0..20_100_000.0f64).prop_map(Some),
            1 => (0.0..50_000.0f64).prop_map(Some),
        ],
        prop_oneof![2 => Just(None), 1 => instant_ms(0, 10_080).prop_map(Some)],
    )
        .prop_map(
            |(origin, limit, amenities, max_distance_m, open_at_ms)| Query {
                origin,
                limit,
                amenities,
                max_distance_m,
                open_at_ms,
            },
        )
}

fn station(id: i64, s: &Spec) -> Station {
    let at = epoch();
    let shanghai = FixedOffset::east_opt(8 * 3600).unwrap();
    Station {
        id,
        code: format!("P-{id}"),
        name: format!("prop {id}"),
        address: String::new(),
        county: "360102".to_string(),
        location: LonLat::new(s.pos.0, s.pos.1).expect("generated positions are valid"),
        amenities: AmenitySet::from_bits(s.amenities),
        opening_hours: HOURS[s.hours].parse::<Hours>().unwrap(),
        temporary_closure: s.closure_until_ms.map(|ms| TemporaryClosure {
            until: (at + Duration::milliseconds(ms)).with_timezone(&shanghai),
            reason: "test".to_string(),
        }),
        phone: None,
        photo_url: None,
        notes: None,
        demo: false,
        verified_at: None,
        version: 1,
        created_at: at,
        updated_at: at,
    }
}

fn to_query(q: &Query) -> NearestQuery {
    NearestQuery {
        origin: LonLat::new(q.origin.0, q.origin.1).unwrap(),
        limit: q.limit,
        amenities: AmenitySet::from_bits(q.amenities),
        open_at: q.open_at_ms.map(|ms| epoch() + Duration::milliseconds(ms)),
        max_distance_m: q.max_distance_m,
    }
}

fn geodesic(a: &LonLat, b: &LonLat) -> f64 {
    Geodesic::wgs84().inverse(a.lat, a.lon, b.lat, b.lon)
}

/// Stations passing the query's filters (not the distance cap), with Karney distances, sorted.
fn brute_force<'a>(
    stations: impl Iterator<Item = &'a Station>,
    q: &NearestQuery,
) -> Vec<(i64, f64)> {
    let mut v: Vec<(i64, f64)> = stations
        .filter(|s| s.amenities.contains_all(q.amenities))
        .filter(|s| match q.open_at {
            None => true,
            Some(now) => {
                let closed = s.temporary_closure.as_ref().is_some_and(|c| c.until > now);
                !closed
                    && s.opening_hours
                        .is_open_at(now.with_timezone(&TZ).naive_local())
            }
        })
        .map(|s| (s.id, geodesic(&q.origin, &s.location)))
        .collect();
    v.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    v
}

/// The index's answer equals the scan's, ties (within 1 mm) aside.
fn check_against(hits: &[Hit], scan: &[(i64, f64)], q: &NearestQuery) -> Result<(), TestCaseError> {
    let cap = q.max_distance_m.unwrap_or(f64::INFINITY);
    let surely_in = scan.iter().filter(|(_, d)| *d <= cap - TOLERANCE_M).count();
    let maybe_in = scan.iter().filter(|(_, d)| *d <= cap + TOLERANCE_M).count();
    let (lo, hi) = (surely_in.min(q.limit), maybe_in.min(q.limit));
    prop_assert!(
        (lo..=hi).contains(&hits.len()),
        "{} hits, want {lo}..={hi}",
        hits.len()
    );
    let by_id: BTreeMap<i64, f64> = scan.iter().copied().collect();
    let mut seen = HashSet::new();
    for (i, h) in hits.iter().enumerate() {
        prop_assert!(seen.insert(h.station.id), "station {} twice", h.station.id);
        let Some(&true_d) = by_id.get(&h.station.id) else {
            return Err(TestCaseError::fail(format!(
                "hit #{i} (station {}) does not pass the filters",
                h.station.id
            )));
        };
        prop_assert!(
            (h.distance_m - true_d).abs() <= TOLERANCE_M,
            "hit #{i} station {}: index says {} m, Karney {} m",
            h.station.id,
            h.distance_m,
            true_d
        );
        prop_assert!(
            (true_d - scan[i].1).abs() <= TOLERANCE_M,
            "hit #{i}: index has station {} at {} m, the scan has station {} at {} m",
            h.station.id,
            true_d,
            scan[i].0,
            scan[i].1
        );
        if i > 0 {
            prop_assert!(hits[i - 1].distance_m <= h.distance_m, "not sorted at #{i}");
        }
    }
    Ok(())
}

/// Builds stations 1..=n from specs, with some positions duplicated exactly.
fn stations_from(specs: &[Spec], dups: &[(usize, usize)]) -> Vec<Station> {
    let mut specs = specs.to_vec();
    let n = specs.len();
    for &(a, b) in dups {
        specs[a % n].pos = specs[b % n].pos;
    }
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| station(i as i64 + 1, s))
        .collect()
}

fn scenario() -> impl Strategy<Value = (Vec<Spec>, Vec<(usize, usize)>, Vec<Query>)> {
    anywhere().prop_flat_map(|center| {
        (
            prop::collection::vec(spec(center), 1..300),
            prop::collection::vec((any::<usize>(), any::<usize>()), 0..6),
            prop::collection::vec(query(center), 1..6),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn nearest_equals_a_brute_force_geodesic_scan((specs, dups, queries) in scenario()) {
        let stations = stations_from(&specs, &dups);
        let snapshot = Snapshot::build(stations.clone(), TZ);
        prop_assert_eq!(snapshot.len(), stations.len());
        for q in &queries {
            let q = to_query(q);
            // The origin exactly on a station, too.
            let on_station = NearestQuery { origin: stations[q.limit % stations.len()].location, ..q.clone() };
            for q in [q, on_station] {
                let hits = snapshot.nearest(&q);
                let scan = brute_force(stations.iter(), &q);
                check_against(&hits, &scan, &q)?;
            }
        }
    }

    #[test]
    fn live_updates_answer_like_a_fresh_bulk_load(
        (specs, _dups, queries) in scenario(),
        batches in prop::collection::vec(
            prop::collection::vec((0u8..5, any::<usize>(), spec((0.0, 0.0))), 1..25),
            1..5,
        ),
    ) {
        let initial: Vec<Station> = stations_from(&specs, &[]);
        let index = StationIndex::new(Snapshot::build(initial.clone(), TZ));
        let mut model: BTreeMap<i64, Station> = initial.into_iter().map(|s| (s.id, s)).collect();
        let mut removed: Vec<i64> = Vec::new();
        let mut next_id = specs.len() as i64 + 1;
        let mut version = 1;

        for batch in batches {
            let mut changes = Vec::new();
            for (kind, pick, spec) in batch {
                let live: Vec<i64> = model.keys().copied().collect();
                match kind {
                    // Move / change an existing station.
                    0 if !live.is_empty() => {
                        let id = live[pick % live.len()];
                        version += 1;
                        let mut s = station(id, &spec);
                        s.version = version;
                        model.insert(id, s.clone());
                        changes.push((id, Some(s)));
                    }
                    // Retire an existing station.
                    1 if !live.is_empty() => {
                        let id = live[pick % live.len()];
                        model.remove(&id);
                        removed.push(id);
                        changes.push((id, None));
                    }
                    // Bring a retired one back.
                    2 if !removed.is_empty() => {
                        let id = removed.swap_remove(pick % removed.len());
                        let s = station(id, &spec);
                        model.insert(id, s.clone());
                        changes.push((id, Some(s)));
                    }
                    // Remove an id that never existed (a stale notification).
                    3 => changes.push((1_000_000 + pick as i64 % 1000, None)),
                    // A new station.
                    _ => {
                        let s = station(next_id, &spec);
                        model.insert(next_id, s.clone());
                        changes.push((next_id, Some(s)));
                        next_id += 1;
                    }
                }
            }
            index.apply(changes);
            let live = index.load();
            let fresh = Snapshot::build(model.values().cloned().collect(), TZ);

            prop_assert_eq!(live.len(), model.len());
            prop_assert_eq!(fresh.len(), model.len());
            for id in 1..next_id {
                let got = live.get(id);
                prop_assert_eq!(got.as_deref(), model.get(&id), "station {}", id);
            }
            let live_ids: Vec<i64> = live.all().iter().map(|s| s.id).collect();
            let model_ids: Vec<i64> = model.keys().copied().collect();
            prop_assert_eq!(live_ids, model_ids);

            for q in &queries {
                let q = to_query(q);
                let scan = brute_force(model.values(), &q);
                check_against(&live.nearest(&q), &scan, &q)?;
                check_against(&fresh.nearest(&q), &scan, &q)?;
            }
            for b in [
                BBox::new(-180.0, -90.0, -170.0, -80.0).unwrap(),
                BBox::new(113.5, 24.4, 118.5, 30.1).unwrap(),
                BBox::new(-5.0, -5.0, 5.0, 5.0).unwrap(),
                BBox::new(170.0, 80.0, 180.0, 90.0).unwrap(),
            ] {
                let want: Vec<i64> = model
                    .values()
                    .filter(|s| b.contains(&s.location))
                    .map(|s| s.id)
                    .collect();
                let (got, truncated) = live.in_bbox(&b, AmenitySet::EMPTY, usize::MAX);
                prop_assert!(!truncated);
                prop_assert_eq!(got.iter().map(|s| s.id).collect::<Vec<_>>(), want);
            }
        }
    }
}

/// Far more changes than the overlay holds fold into a rebuilt base, losing nothing.
#[test]
fn a_large_overlay_folds_into_the_base_without_losing_stations() {
    let spec_at = |lon: f64, lat: f64| Spec {
        pos: (lon, lat),
        amenities: 0b0101,
        hours: 0,
        closure_until_ms: None,
    };
    let initial: Vec<Station> = (1..=50)
        .map(|i| station(i, &spec_at(115.0 + i as f64 * 0.01, 28.0)))
        .collect();
    let index = StationIndex::new(Snapshot::build(initial.clone(), TZ));
    let mut model: BTreeMap<i64, Station> = initial.into_iter().map(|s| (s.id, s)).collect();

    // 3000 new stations in batches of 100, with every tenth earlier one retired on the way.
    for batch in 0..30 {
        let mut changes = Vec::new();
        for j in 0..100 {
            let id = 1_000 + batch * 100 + j;
            let s = station(
                id,
                &spec_at(116.0 + j as f64 * 0.001, 27.0 + batch as f64 * 0.01),
            );
            model.insert(id, s.clone());
            changes.push((id, Some(s)));
        }
        let retire = 1_000 + batch * 10;
        model.remove(&retire);
        changes.push((retire, None));
        index.apply(changes);
    }
    // And move one of the original stations.
    let moved = station(7, &spec_at(-70.0, -33.0));
    model.insert(7, moved.clone());
    index.apply(vec![(7, Some(moved))]);

    let live = index.load();
    assert_eq!(live.len(), model.len());
    assert_eq!(
        live.all().iter().map(|s| s.id).collect::<Vec<_>>(),
        model.keys().copied().collect::<Vec<_>>()
    );
    for (origin, limit) in [((116.02, 27.1), 15), ((-70.0, -33.0), 3), ((0.0, 0.0), 10)] {
        let q = NearestQuery {
            origin: LonLat::new(origin.0, origin.1).unwrap(),
            limit,
            amenities: AmenitySet::from_bits(0b0100),
            open_at: None,
            max_distance_m: None,
        };
        let scan = brute_force(model.values(), &q);
        check_against(&live.nearest(&q), &scan, &q).unwrap();
    }
    assert_eq!(
        live.nearest(&NearestQuery {
            origin: LonLat::new(-70.0, -33.0).unwrap(),
            limit: 1,
            amenities: AmenitySet::EMPTY,
            open_at: None,
            max_distance_m: Some(1.0),
        })[0]
            .station
            .id,
        7
    );

    // Everything retired: an empty index answers with nothing.
    index.apply(model.keys().map(|&id| (id, None)).collect());
    let empty = index.load();
    assert_eq!(empty.len(), 0);
    assert!(empty
        .nearest(&NearestQuery {
            origin: LonLat::new(116.0, 27.0).unwrap(),
            limit: 5,
            amenities: AmenitySet::EMPTY,
            open_at: None,
            max_distance_m: None,
        })
        .is_empty());
}

/// A planar R-tree over degrees gets this wrong; the index must not.
#[test]
fn nearest_across_the_antimeridian_and_over_the_pole() {
    let mk = |id: i64, lon: f64, lat: f64| {
        station(
            id,
            &Spec {
                pos: (lon, lat),
                amenities: 0,
                hours: 0,
                closure_until_ms: None,
            },
        )
    };
    let stations = vec![
        mk(1, 179.9, 0.0),  // ~22 km west across the antimeridian
        mk(2, -179.0, 0.0), // ~89 km east
        mk(3, 170.0, 0.0),  // far west
        mk(4, 0.0, 89.9),   // over the pole from (180, 89.9): ~22 km
        mk(5, 180.0, 89.0), // ~100 km south
    ];
    let snap = Snapshot::build(stations.clone(), TZ);
    let ids = |origin: (f64, f64), limit: usize| -> Vec<i64> {
        snap.nearest(&NearestQuery {
            origin: LonLat::new(origin.0, origin.1).unwrap(),
            limit,
            amenities: AmenitySet::EMPTY,
            open_at: None,
            max_distance_m: None,
        })
        .iter()
        .map(|h| h.station.id)
        .collect()
    };
    assert_eq!(ids((-179.9, 0.0), 2), [1, 2]);
    assert_eq!(ids((180.0, 89.9), 2), [4, 5]);
}

/// A closure ending within the current second still closes the station: the index's filter
/// agrees with `Snapshot::is_open` (what the reply's `open_now` says) to the millisecond.
#[test]
fn a_closure_ending_later_this_second_still_closes_the_station() {
    let now = epoch() + Duration::milliseconds(200);
    let mut closing = station(
        1,
        &Spec {
            pos: (115.89, 28.68),
            amenities: 0,
            hours: 0,
            closure_until_ms: None,
        },
    );
    closing.temporary_closure = Some(TemporaryClosure {
        until: (epoch() + Duration::milliseconds(500))
            .with_timezone(&FixedOffset::east_opt(8 * 3600).unwrap()),
        reason: "cleaning".to_string(),
    });
    let snap = Snapshot::build(vec![closing.clone()], TZ);
    assert!(!snap.is_open(&closing, now));
    let q = NearestQuery {
        origin: LonLat::new(115.89, 28.68).unwrap(),
        limit: 5,
        amenities: AmenitySet::EMPTY,
        open_at: Some(now),
        max_distance_m: None,
    };
    let hits = snap.nearest(&q);
    assert!(
        hits.is_empty(),
        "the closure has 300 ms to go, yet the index offered station {:?}",
        hits.iter().map(|h| h.station.id).collect::<Vec<_>>()
    );
    // A moment after it ends, the station is back.
    let later = NearestQuery {
        open_at: Some(epoch() + Duration::milliseconds(600)),
        ..q
    };
    assert_eq!(snap.nearest(&later).len(), 1);
}
