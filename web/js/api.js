// Thin fetch wrappers for /api/v1. Every failure becomes an ApiError whose `code` is either the
// server's stable error code (from {"error":{"code","message"}}) or one of our own:
// 'network' (no connection), 'timeout', 'bad_response'.

const BASE = new URL('api/v1/', document.baseURI);
const TIMEOUT_MS = 15000;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/**
 * GETs `path` (relative to /api/v1/) with query `params` (null/undefined/'' values are left out).
 * Resolves to `{ data, fromCache }`; `fromCache` is true when the service worker answered from its
 * cache because the network failed.
 */
export async function getJson(path, params = {}, { signal, timeoutMs = TIMEOUT_MS } = {}) {
  const url = new URL(path, BASE);
  for (const [k, v] of Object.entries(params)) {
    if (v !== null && v !== undefined && v !== '') url.searchParams.set(k, String(v));
  }
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(new DOMException('timeout', 'TimeoutError')), timeoutMs);
  const onAbort = () => ctrl.abort(signal.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  let res;
  try {
    res = await fetch(url, { signal: ctrl.signal, headers: { Accept: 'application/json' } });
  } catch (e) {
    if (signal?.aborted) throw e; // the caller cancelled: not an error to show
    if (ctrl.signal.aborted) throw new ApiError(0, 'timeout', 'timeout');
    throw new ApiError(0, 'network', e?.message || 'network error');
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
  let body = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON: handled below */
  }
  if (!res.ok) {
    const err = body && typeof body === 'object' ? body.error : null;
    throw new ApiError(res.status, err?.code || `http_${res.status}`, err?.message || res.statusText || `HTTP ${res.status}`);
  }
  if (body === null) throw new ApiError(res.status, 'bad_response', 'response is not JSON');
  return { data: body, fromCache: res.headers.get('X-Yizhan-From-Cache') === '1' };
}

/** Nearest stations to `lat`,`lon`; `amenities` is an array of keys. */
export function nearestStations({ lat, lon, limit = 10, amenities = [], openNow = true, mode = 'walk' }, opts) {
  return getJson('stations/nearest', {
    lat: lat.toFixed(6),
    lon: lon.toFixed(6),
    limit,
    amenities: amenities.join(','),
    open_now: openNow ? 'true' : null, // absent means "any"
    mode,
  }, opts);
}

/** The client's approximate position from its IP address (404 or 400 when unknown). */
export function locateByIp(opts) {
  return getJson('locate', {}, { timeoutMs: 8000, ...opts });
}

/** Jiangxi's county outlines (GeoJSON, WGS-84) for the basemap. */
export function counties(opts) {
  return getJson('counties', {}, { timeoutMs: 30000, ...opts });
}
