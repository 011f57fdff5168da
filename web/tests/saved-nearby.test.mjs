// The offline answer from saved stations (js/saved-nearby.js) against a brute-force scan of
// every station: within the reach the snapshot guarantees, it lists exactly the nearest
// stations that pass the filters; beyond it (or with narrower saved filters) it refuses.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { answer, distanceM, snapshot } from '../js/saved-nearby.js';

const TRAVEL = { walk_kmh: 4.5, ebike_kmh: 15, detour: 1.3 };
const KEYS = ['water', 'microwave', 'toilet', 'hot_water'];

/** A deterministic pseudo-random generator (tests must repeat). */
function rng(seed) {
  let x = seed >>> 0;
  return () => {
    x = (x * 1664525 + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

function world(rand, n = 400) {
  return Array.from({ length: n }, (_, i) => ({
    id: i + 1,
    lat: 28.6 + rand() * 0.16,
    lon: 115.8 + rand() * 0.18,
    open_now: rand() < 0.8,
    amenities: KEYS.filter(() => rand() < 0.5),
  }));
}

/** What the server would answer: the `limit` nearest passing the filters. */
function brute(all, { origin, amenities = [], openNow = false, limit }) {
  return all
    .filter((s) => amenities.every((a) => s.amenities.includes(a)) && (!openNow || s.open_now))
    .map((s) => ({ ...s, distance_m: distanceM(origin, s) }))
    .sort((a, b) => a.distance_m - b.distance_m)
    .slice(0, limit);
}

test('near the saved place the offline list is the brute-force nearest within the guaranteed reach', () => {
  const rand = rng(7);
  for (let round = 0; round < 200; round += 1) {
    const all = world(rand);
    const origin = { lat: 28.68 + (rand() - 0.5) * 0.02, lon: 115.89 + (rand() - 0.5) * 0.02 };
    const saved = snapshot({ origin, limit: 50, items: brute(all, { origin, limit: 50 }) });
    const moved = { lat: origin.lat + (rand() - 0.5) * 0.01, lon: origin.lon + (rand() - 0.5) * 0.01 };
    const amenities = KEYS.filter(() => rand() < 0.3);
    const openNow = rand() < 0.5;
    const mode = rand() < 0.5 ? 'walk' : 'ebike';
    const res = answer(saved, { origin: moved, amenities, openNow, mode, limit: 10 }, TRAVEL);
    const reach = saved.completeM - distanceM(origin, moved);
    if (reach <= 0) {
      assert.equal(res.kind, 'far');
      continue;
    }
    assert.equal(res.kind, 'ok');
    const want = brute(all, { origin: moved, amenities, openNow, limit: 10 }).filter((s) => s.distance_m <= reach);
    assert.deepEqual(res.items.map((s) => s.id), want.map((s) => s.id), `round ${round}`);
    for (const s of res.items) {
      const kmh = mode === 'ebike' ? TRAVEL.ebike_kmh : TRAVEL.walk_kmh;
      assert.ok(Math.abs(s.minutes - (s.distance_m / 1000) * 1.3 / kmh * 60) < 1e-9);
    }
  }
});

test('a saved answer with fewer stations than asked is complete at any distance', () => {
  const all = world(rng(3), 5);
  const origin = { lat: 28.68, lon: 115.89 };
  const saved = snapshot({ origin, limit: 50, items: brute(all, { origin, limit: 50 }) });
  assert.equal(saved.completeM, null);
  const far = { lat: 25.85, lon: 114.93 };
  const res = answer(saved, { origin: far, amenities: [], openNow: false, mode: 'walk', limit: 10 }, TRAVEL);
  assert.equal(res.kind, 'ok');
  assert.equal(res.items.length, 5);
});

test('far away, or with narrower saved filters, it refuses instead of guessing', () => {
  const all = world(rng(11));
  const origin = { lat: 28.68, lon: 115.89 };
  const saved = snapshot({ origin, limit: 50, items: brute(all, { origin, limit: 50 }) });
  const res = answer(saved, { origin: { lat: 25.85, lon: 114.93 }, amenities: [], openNow: false, mode: 'walk', limit: 10 }, TRAVEL);
  assert.equal(res.kind, 'far');
  assert.ok(res.km > 300 && res.km < 360, `${res.km} km`);
  const filtered = snapshot({ origin, amenities: ['microwave'], openNow: true, limit: 10, items: brute(all, { origin, amenities: ['microwave'], openNow: true, limit: 10 }) });
  const q = { origin, amenities: [], openNow: true, mode: 'walk', limit: 10 };
  assert.equal(answer(filtered, q, TRAVEL).kind, 'filters', 'saved with a chip, asked without');
  assert.equal(answer(filtered, { ...q, amenities: ['microwave'], openNow: false }, TRAVEL).kind, 'filters', 'saved open-only, asked for any');
  assert.equal(answer(filtered, { ...q, amenities: ['microwave', 'toilet'] }, TRAVEL).kind, 'ok', 'a narrower query is fine');
});

test('distances are the server\'s WGS-84 geodesic: within a millimetre up to a few km, 0.02 % at 330 km', () => {
  // Karney's geodesic (what the server's geo::Geodesic computes), from GeographicLib 2.0:
  // python3 -c "from geographiclib.geodesic import Geodesic as G; print(G.WGS84.Inverse(lat1, lon1, lat2, lon2)['s12'])"
  const cases = [
    [[28.68, 115.89], [28.685039, 115.896039], 812.5621],
    // Two demo stations 0.2 m apart in the server's order from here; a sphere swapped them.
    [[28.680045, 115.89], [28.682656, 115.897733], 809.2991],
    [[45.75, 126.63], [45.7501, 126.6301], 13.5677],
    [[18.25, 109.5], [18.26, 109.52], 2387.1427],
  ];
  for (const [[lat1, lon1], [lat2, lon2], want] of cases) {
    const got = distanceM({ lat: lat1, lon: lon1 }, { lat: lat2, lon: lon2 });
    assert.ok(Math.abs(got - want) < 0.001, `${lat1},${lon1} → ${lat2},${lon2}: ${got} vs ${want}`);
  }
  const far = distanceM({ lat: 28.68, lon: 115.89 }, { lat: 25.85, lon: 114.93 });
  assert.ok(Math.abs(far - 327672.7196) / 327672.7196 < 2e-4, `Nanchang → Ganzhou ${far}`);
});
