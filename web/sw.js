// Service worker: lets the app start with no signal. On install it keeps only what the rider's
// first view needs (RIDER_SHELL); everything else of ours (the manager's and planner's modules,
// their styles and images) is kept the first time it is used, so a first visit does not download
// the whole app twice. Kept files are served from the cache and refreshed in the background.
// The county basemap and the client config likewise. Nearest-station answers are not kept here:
// the page saves the stations around the rider itself (js/saved-nearby.js) and answers from them
// when there is no signal, whatever the exact position. Other API calls pass through.
// Bump VERSION whenever a file below changes, so installed copies refresh.
const VERSION = 'v4';
const SHELL_CACHE = `yizhan-shell-${VERSION}`;

/** The rider's first view: the page, its styles, scripts and icons. One path a line; easy to edit. */
const RIDER_SHELL = [
  './',
  'index.html',
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
const RIDER_DATA = ['api/v1/client-config', 'api/v1/counties'];

/** API answers kept for starting without a signal: fresh when online, the kept copy when not. */
const KEPT_API = new Set(RIDER_DATA);
const STATIC_DESTINATIONS = new Set(['script', 'style', 'image', 'manifest', 'font']);

const scopeUrl = (p) => new URL(p, self.registration.scope).href;

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const shell = await caches.open(SHELL_CACHE);
    // One by one and tolerant: a file another build has not shipped yet (js/tiles.js, say)
    // must not leave the rider with no offline shell at all. The page itself must be there.
    await shell.add(scopeUrl('index.html'));
    await Promise.all([...RIDER_SHELL, ...RIDER_DATA].map((p) => shell.add(scopeUrl(p)).catch(() => null)));
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

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return; // a configured basemap's tiles: the browser's own cache
  const path = url.href.split('?')[0];
  if ([...KEPT_API].some((p) => path === scopeUrl(p))) {
    event.respondWith(networkFirst(event));
  } else if (path.startsWith(scopeUrl('api/'))) {
    // Accounts, stations, reports, locate: straight through, never kept.
  } else if (req.mode === 'navigate') {
    // Any page of the app opens the shell; fresh when online, cached when not.
    event.respondWith(networkFirst(event, scopeUrl('index.html')));
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

/** The network's answer (kept); the kept copy when the network fails. */
async function networkFirst(event, fallbackUrl = null) {
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
    const cached = (await cache.match(req, { ignoreVary: true }))
      || (fallbackUrl ? await cache.match(fallbackUrl, { ignoreVary: true }) : undefined);
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
