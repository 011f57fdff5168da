// Service worker: lets the app start with no signal. On install it keeps only what the rider's
// first view needs (RIDER_SHELL); everything else of ours (the manager's and planner's modules,
// their styles and images) is kept the first time it is used, so a first visit does not download
// the whole app twice. Kept files are served from the cache and refreshed in the background.
// The county basemap and the client config likewise. Nearest-station answers are not kept here:
// the page saves the stations around the rider itself (js/saved-nearby.js) and answers from them
// when there is no signal, whatever the exact position. Other API calls pass through.
// Bump VERSION whenever a file below changes, so installed copies refresh.
const VERSION = 'v9';
const SHELL_CACHE = `yizhan-shell-${VERSION}`;

/** The rider's first view: the page, its styles, scripts and icons. One path a line; easy to edit. */
const RIDER_SHELL = [
  './',
  'manifest.webmanifest',
  'css/app.css',
  'vendor/leaflet/leaflet.css',
  'vendor/leaflet/leaflet.js',
  'js/app.js',
  'js/api.js',
  'js/coords.js',
  'js/i18n.js',
  'js/map.js',
  'js/minutes.js',
  'js/nav.js',
  'js/rider.js',
  'js/saved-nearby.js',
  'js/tiles.js',
  'icons/icon.svg',
];

/** Small API answers the first view needs; best effort (a failure must not block installing). */
const RIDER_DATA = ['api/v1/client-config'];

/**
 * API answers kept for starting without a signal: fresh when online, the kept copy when not. The
 * county basemap is kept as the page asks for it (the level and box its view needed), not
 * precached: a rider placed at street zoom never needs the province-wide level.
 */
const KEPT_API = new Set([...RIDER_DATA, 'api/v1/counties']);
const COUNTIES = 'api/v1/counties';
const STATIC_DESTINATIONS = new Set(['script', 'style', 'image', 'manifest', 'font']);

const scopeUrl = (p) => new URL(p, self.registration.scope).href;

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const shell = await caches.open(SHELL_CACHE);
    // The first install follows the page's first load, which has just fetched these very files:
    // take them from the HTTP cache as they are (they are `no-cache`, so by default each would be
    // revalidated again, ~450 bytes apiece on a phone's first visit). An update of the worker
    // revalidates, so it never keeps files older than itself.
    const first = !self.registration.active;
    const request = (p) => new Request(scopeUrl(p), first ? { cache: 'force-cache' } : {});
    // One by one and tolerant: a file another build has not shipped yet (js/tiles.js, say)
    // must not leave the rider with no offline shell at all. The page itself must be there.
    await shell.add(request('./'));
    await Promise.all([...RIDER_SHELL, ...RIDER_DATA].map((p) => shell.add(request(p)).catch(() => null)));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key.startsWith('yizhan-') && key !== SHELL_CACHE) await caches.delete(key);
    }
    await self.clients.claim();
  })());
});

// The page hands over answers it fetched before this worker was in control (a first visit's
// basemap): kept from the HTTP cache as they are, for a start without a signal.
self.addEventListener('message', (event) => {
  let url = null;
  try {
    url = typeof event.data?.keep === 'string' ? new URL(event.data.keep, self.location.href) : null;
  } catch { /* not a URL */ }
  if (!url || url.origin !== self.location.origin) return;
  const path = url.href.split('?')[0];
  if (![...KEPT_API].some((p) => path === scopeUrl(p))) return;
  event.waitUntil((async () => {
    const shell = await caches.open(SHELL_CACHE);
    if (!(await shell.match(url.href))) await shell.add(new Request(url.href, { cache: 'force-cache' }));
  })().catch(() => null));
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return; // a configured basemap's tiles: the browser's own cache
  const path = url.href.split('?')[0];
  if (path === scopeUrl(COUNTIES)) {
    // Offline, another kept level or box of the basemap beats none (the page checks the level).
    event.respondWith(networkFirst(event, null, COUNTIES));
  } else if ([...KEPT_API].some((p) => path === scopeUrl(p))) {
    event.respondWith(networkFirst(event));
  } else if (path.startsWith(scopeUrl('api/'))) {
    // Accounts, stations, reports, locate: straight through, never kept.
  } else if (req.mode === 'navigate') {
    // Any page of the app opens the shell; fresh when online, cached when not.
    event.respondWith(networkFirst(event, scopeUrl('./')));
  } else if (STATIC_DESTINATIONS.has(req.destination) || path.endsWith('.js')) {
    event.respondWith(staleWhileRevalidate(event));
  }
});

/** The kept copy at once (refreshed behind it); the network, kept for next time, when none. */
async function staleWhileRevalidate(event) {
  const req = event.request;
  const cache = await caches.open(SHELL_CACHE);
  const cached = await cache.match(req, { ignoreVary: true });
  const fresh = fetch(req)
    .then(async (res) => {
      if (res.ok) await cache.put(req, res.clone());
      return res;
    })
    .catch(() => null);
  event.waitUntil(fresh);
  if (cached) return cached;
  return (await fresh) || offlineError();
}

/**
 * The network's answer (kept); the kept copy when the network fails, else `fallbackUrl`'s, else
 * any kept answer of the `similarPath` endpoint (whatever its query).
 */
async function networkFirst(event, fallbackUrl = null, similarPath = null) {
  const req = event.request;
  const cache = await caches.open(SHELL_CACHE);
  try {
    const res = await fetch(req);
    if (res.ok) {
      const keep = res.clone();
      event.waitUntil(cache.put(req, keep));
    }
    return res;
  } catch {
    let cached = (await cache.match(req, { ignoreVary: true }))
      || (fallbackUrl ? await cache.match(fallbackUrl, { ignoreVary: true }) : undefined);
    if (!cached && similarPath) {
      const base = scopeUrl(similarPath);
      const key = (await cache.keys()).find((k) => k.url.split('?')[0] === base);
      if (key) cached = await cache.match(key, { ignoreVary: true });
    }
    return cached ? markCached(cached) : offlineError();
  }
}

/** Tells the page this answer is old, so it can say so. */
function markCached(res) {
  const headers = new Headers(res.headers);
  headers.set('X-Yizhan-From-Cache', '1');
  return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
}

function offlineError() {
  return new Response(JSON.stringify({ error: { code: 'offline', message: 'offline and not cached' } }), {
    status: 503,
    headers: { 'Content-Type': 'application/json', 'X-Yizhan-From-Cache': '1' },
  });
}
