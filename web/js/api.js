// Thin fetch wrappers for /api/v1. Every failure becomes an ApiError whose `code` is either the
// server's stable error code (from {"error":{"code","message"}}) or one of our own:
// 'network' (no connection), 'timeout', 'bad_response'.

const BASE = new URL('api/v1/', document.baseURI);
const TIMEOUT_MS = 15000;

export class ApiError extends Error {
  constructor(status, code, message, body = null, retryAfter = null) {
    super(message || code);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.body = body; // the server's `error` object, e.g. with current_version on a 412
    this.retryAfter = retryAfter; // seconds, from Retry-After on a 429 or 503
  }
}

/**
 * Sends `method` to `path` (relative to /api/v1/) with query `params` (null/undefined/'' values
 * are left out) and, if given, a JSON `body`. The session cookie goes along (same origin only).
 * `cache` is the fetch cache mode (pass 'no-store' for data about to be edited).
 * Resolves to `{ data, status, headers, url, fromCache }`; `data` is null for an empty reply (204);
 * `fromCache` is true when the service worker answered from its cache because the network failed.
 */
export async function request(method, path, { params = {}, body, headers = {}, signal, timeoutMs = TIMEOUT_MS, cache } = {}) {
  const url = new URL(path, BASE);
  for (const [k, v] of Object.entries(params)) {
    if (v !== null && v !== undefined && v !== '') url.searchParams.set(k, String(v));
  }
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(new DOMException('timeout', 'TimeoutError')), timeoutMs);
  const onAbort = () => ctrl.abort(signal.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const init = {
    method,
    signal: ctrl.signal,
    credentials: 'same-origin',
    cache: cache ?? (method === 'GET' ? 'default' : 'no-store'),
    headers: { Accept: 'application/json', ...headers },
  };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    if (signal?.aborted) throw e; // the caller cancelled: not an error to show
    if (ctrl.signal.aborted) throw new ApiError(0, 'timeout', 'timeout');
    throw new ApiError(0, 'network', e?.message || 'network error');
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
  let data = null;
  try {
    if (res.status !== 204) data = await res.json();
  } catch {
    /* not JSON: handled below */
  }
  if (!res.ok) {
    const err = data && typeof data === 'object' ? data.error : null;
    const retry = Number.parseInt(res.headers.get('Retry-After') ?? '', 10);
    throw new ApiError(res.status, err?.code || `http_${res.status}`,
      err?.message || res.statusText || `HTTP ${res.status}`, err || null, Number.isFinite(retry) ? retry : null);
  }
  if (data === null && res.status !== 204) throw new ApiError(res.status, 'bad_response', 'response is not JSON');
  return { data, status: res.status, headers: res.headers, url: res.url, fromCache: res.headers.get('X-Yizhan-From-Cache') === '1' };
}

/** GETs `path` with query `params`; resolves to `{ data, url, fromCache }` (see `request`). */
export async function getJson(path, params = {}, { signal, timeoutMs = TIMEOUT_MS } = {}) {
  const { data, url, fromCache } = await request('GET', path, { params, signal, timeoutMs });
  return { data, url, fromCache };
}

/** Nearest stations to `lat`,`lon`; `amenities` is an array of keys. */
export function nearestStations({ lat, lon, limit = 10, amenities = [], openNow = true, mode = 'walk', by = null }, opts) {
  return getJson('stations/nearest', {
    lat: lat.toFixed(6),
    lon: lon.toFixed(6),
    limit,
    amenities: amenities.join(','),
    open_now: openNow ? 'true' : null, // absent means "any"
    mode,
    by, // 'time': ordered by road-network minutes (only when client-config has a network)
  }, opts);
}

/** The page's start-up settings: `{geoip, basemap, travel}` (see GET /api/v1/client-config). */
export function clientConfig(opts) {
  return getJson('client-config', {}, { timeoutMs: 8000, ...opts });
}

/** The client's approximate position from its IP address (404 or 400 when unknown). */
export function locateByIp(opts) {
  return getJson('locate', {}, { timeoutMs: 8000, ...opts });
}

/**
 * Jiangxi's county outlines (GeoJSON, WGS-84) for the basemap, at a level of detail: `low` (the
 * default, for a province-wide view), `medium` or `full`.
 */
export function counties({ detail, bbox, ...opts } = {}) {
  return getJson('counties', { detail, bbox }, { timeoutMs: 30000, ...opts });
}

/** Files a rider's problem report about a station (no login needed). */
export function fileReport(stationId, report) {
  return request('POST', `stations/${encodeURIComponent(stationId)}/reports`, { body: report });
}

// ---- managers (the session cookie goes along; 401 means it ended) ----------------------------

const stationPath = (id) => `stations/${encodeURIComponent(id)}`;

/** One station, fresh from the server: `{ feature, etag }` (the ETag goes back as If-Match). */
export async function getStation(id, opts) {
  const { data, headers } = await request('GET', stationPath(id), { cache: 'no-store', ...opts });
  return { feature: data, etag: headers.get('ETag') };
}

/** Applies a JSON merge patch if the station is still at `etag`: `{ feature, etag }`; 412 when not. */
export async function patchStation(id, etag, patch) {
  const { data, headers } = await request('PATCH', stationPath(id), { body: patch, headers: { 'If-Match': etag } });
  return { feature: data, etag: headers.get('ETag') };
}

/** Confirms the station's data is correct (sets verified_at): `{ feature, etag }`. */
export async function verifyStation(id) {
  const { data, headers } = await request('POST', `${stationPath(id)}/verify`);
  return { feature: data, etag: headers.get('ETag') };
}

/** The station's audit trail, oldest first. */
export async function stationHistory(id) {
  const { data } = await request('GET', `${stationPath(id)}/history`, { cache: 'no-store' });
  return Array.isArray(data?.items) ? data.items : [];
}

/** Stations in a box `[west, south, east, north]` (GeoJSON features). */
export async function stationsInBox(bbox, limit = 10000) {
  const { data } = await request('GET', 'stations', { params: { bbox: bbox.join(','), limit }, timeoutMs: 30000 });
  return Array.isArray(data?.features) ? data.features : [];
}

/** Open problem reports of the stations this account manages (all, for admins). */
export async function openReports() {
  const { data } = await request('GET', 'reports', { params: { status: 'open' }, cache: 'no-store' });
  return Array.isArray(data?.items) ? data.items : [];
}

/** Marks a report resolved with a note of what was done. */
export async function resolveReport(stationId, reportId, resolution) {
  const { data } = await request('PATCH', `${stationPath(stationId)}/reports/${encodeURIComponent(reportId)}`, {
    body: { status: 'resolved', resolution },
  });
  return data;
}

// ---- planners: coverage (public; demand figures only with a planner's or admin's session) ------

/** Coverage can take seconds for a whole province on a cold cache. */
const COVERAGE_TIMEOUT_MS = 90000;

/** Provinces, cities and counties (no outlines): `[{adcode, name, level, parent}]`. */
export async function regions(opts) {
  const { data } = await request('GET', 'regions', { timeoutMs: 30000, ...opts });
  return Array.isArray(data?.regions) ? data.regions : [];
}

/** How much of `region` lies within `minutes` of a station: totals, per-county rows, uncovered areas. */
export async function coverage({ region, mode, minutes, open, travel }, { signal } = {}) {
  const { data } = await request('GET', 'coverage', {
    params: { region, mode, minutes, open: open ? '24h' : null, travel },
    signal,
    timeoutMs: COVERAGE_TIMEOUT_MS,
  });
  return data;
}

/** The `k` sites that would add most coverage, one after another (greedy). */
export async function coverageSuggestions({ region, mode, minutes, open, k, weight, travel }, { signal } = {}) {
  const { data } = await request('GET', 'coverage/suggestions', {
    params: { region, mode, minutes, open: open ? '24h' : null, k, weight, travel },
    signal,
    timeoutMs: COVERAGE_TIMEOUT_MS,
  });
  return data;
}

/**
 * Coverage as if `stations` ([{lat, lon}], at most 100) existed. Read-only on the server (nothing is
 * saved); a POST only because the stations do not fit in an address.
 */
export async function coverageWhatIf({ region, mode, minutes, res, open, stations, travel }, { signal } = {}) {
  const body = { region, mode, minutes, stations };
  if (res) body.res = res;
  if (travel) body.travel = travel;
  if (open) body.open = '24h';
  const { data } = await request('POST', 'coverage/what-if', { body, signal, timeoutMs: COVERAGE_TIMEOUT_MS });
  return data;
}
