// The stations around the rider's last position, kept in localStorage so the list still works
// with no signal: the page saves each answer itself (the service worker may not be in control
// yet on a first visit), and answers a query near the saved place from it, with distances and
// minutes computed again for the new position. Pure functions besides load/save, so node's test
// runner checks them against a brute-force scan.

const KEY = 'yizhan.nearby.v1';
// WGS-84, as the server's geodesic.
const WGS84_A = 6378137;
const WGS84_E2 = (1 / 298.257223563) * (2 - 1 / 298.257223563);

/**
 * Distance in metres on the WGS-84 ellipsoid, by Gauss's mid-latitude formula: the meridian and
 * prime-vertical radii of curvature at the mean latitude. Against Karney's geodesic (what the
 * server uses) it is within 1e-8 of the distance up to 3 km and 2e-4 at 300 km, so the page
 * orders stations offline as the server does, near ties included (a sphere is 0.5 % off, which
 * swaps two stations 0.2 m apart at 800 m).
 */
export function distanceM(a, b) {
  const rad = Math.PI / 180;
  const mid = ((a.lat + b.lat) / 2) * rad;
  const sin = Math.sin(mid);
  const w = Math.sqrt(1 - WGS84_E2 * sin * sin);
  const meridian = (WGS84_A * (1 - WGS84_E2)) / (w * w * w);
  const primeVertical = WGS84_A / w;
  const north = meridian * (b.lat - a.lat) * rad;
  let dLon = b.lon - a.lon;
  if (dLon > 180) dLon -= 360;
  else if (dLon < -180) dLon += 360;
  const east = primeVertical * Math.cos(mid) * dLon * rad;
  return Math.hypot(north, east);
}

/**
 * What to keep of one nearest answer: the query's origin and filters, when it was fetched, and
 * how far from the origin it is complete — every station within `completeM` that passes the
 * filters is in `items` (all of them when the answer had fewer than it asked for).
 */
export function snapshot({ origin, amenities = [], openNow = false, limit, items, fetchedAt = Date.now() }) {
  const far = items.reduce((m, s) => Math.max(m, Number(s.distance_m) || 0), 0);
  return {
    origin: { lat: origin.lat, lon: origin.lon },
    amenities: [...amenities].sort(),
    openNow: Boolean(openNow),
    completeM: items.length < limit ? null : far, // null: complete at any distance
    fetchedAt,
    // Distances and minutes belong to the saved origin: recomputed for the position asked.
    // Road minutes cannot be, so a saved answer shows straight-line estimates.
    items: items.map(({ distance_m: _d, minutes: _m, network_minutes: _n, minutes_source: _s, ...rest }) => rest),
  };
}

/**
 * Answers `query` ({origin, amenities, openNow, mode, limit}) from a saved snapshot, or says why
 * it cannot: `{kind: 'ok', items, fetchedAt}` (items sorted by distance, with `distance_m` and
 * `minutes` for the new position), `{kind: 'far', km}` when the saved area does not reach the
 * new position, `{kind: 'filters'}` when the snapshot was filtered more narrowly than the query.
 * `travel` is {walk_kmh, ebike_kmh, detour}.
 */
export function answer(saved, query, travel) {
  if (!saved || !Array.isArray(saved.items)) return { kind: 'none' };
  const wanted = new Set(query.amenities ?? []);
  // A snapshot filtered by amenities or "open now" lacks stations a wider query would list.
  if (!saved.amenities.every((a) => wanted.has(a)) || (saved.openNow && !query.openNow)) return { kind: 'filters' };
  const moved = distanceM(saved.origin, query.origin);
  // By the triangle inequality, any station within completeM − moved of the new position was
  // within completeM of the saved one, so it is in the snapshot; beyond that one could be missing.
  const reach = saved.completeM === null ? Infinity : saved.completeM - moved;
  if (reach <= 0) return { kind: 'far', km: moved / 1000 };
  const kmh = query.mode === 'ebike' ? travel.ebike_kmh : travel.walk_kmh;
  const items = saved.items
    .filter((s) => [...wanted].every((a) => Array.isArray(s.amenities) && s.amenities.includes(a)))
    .filter((s) => !query.openNow || (s.open_now && !s.temporary_closure))
    .map((s) => {
      const d = distanceM(query.origin, s);
      return { ...s, distance_m: d, minutes: ((d / 1000) * travel.detour / kmh) * 60 };
    })
    .filter((s) => s.distance_m <= reach)
    .sort((a, b) => a.distance_m - b.distance_m)
    .slice(0, query.limit);
  return { kind: 'ok', items, fetchedAt: saved.fetchedAt, reachM: reach };
}

/** The saved snapshot, or null (nothing saved, storage disabled or unreadable). */
export function loadSaved(storage = globalThis.localStorage) {
  try {
    const raw = storage?.getItem(KEY);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

/** Keeps `saved` for the next time there is no signal; false when storage refused it. */
export function storeSaved(saved, storage = globalThis.localStorage) {
  try {
    storage.setItem(KEY, JSON.stringify(saved));
    return true;
  } catch {
    return false;
  }
}
