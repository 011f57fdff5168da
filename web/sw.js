// Service worker: lets the app start with no signal. The app shell and the county basemap are
// served from cache and refreshed in the background. Nearest-station answers go to the network
// first and fall back to the last answer saved for the same URL; other API calls pass through.
// Bump VERSION when the shell's file list changes.
const VERSION = 'v3';
const SHELL_CACHE = `yizhan-shell-${VERSION}`;
const API_CACHE = `yizhan-api-${VERSION}`;
const API_CACHE_MAX = 30;
const SLOW_MS = 6000;
const SHELL = [
  './',
  'index.html',
  'manifest.webmanifest',
  'css/app.css',
  'js/app.js',
  'js/api.js',
  'js/i18n.js',
  'js/map.js',
  'js/rider.js',
  'js/auth.js',
  'js/manager.js',
  'js/planner.js',
  'js/planner-map.js',
  'vendor/leaflet/leaflet.js',
  'vendor/leaflet/leaflet.css',
  'vendor/leaflet/images/layers.png',
  'vendor/leaflet/images/layers-2x.png',
  'vendor/leaflet/images/marker-icon.png',
  'vendor/leaflet/images/marker-icon-2x.png',
  'vendor/leaflet/images/marker-shadow.png',
  'icons/icon.svg',
  'icons/icon-192.png',
];
const COUNTIES = 'api/v1/counties';
const CACHED_API = ['api/v1/stations/nearest'];
const STATIC_DESTINATIONS = new Set(['script', 'style', 'image', 'manifest', 'font']);

const scopeUrl = (p) => new URL(p, self.registration.scope).href;

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const shell = await caches.open(SHELL_CACHE);
    await shell.addAll(SHELL.map(scopeUrl));
    // The basemap is large and optional: a failure here must not block installing the shell.
    try {
      await shell.add(scopeUrl(COUNTIES));
    } catch { /* fetched again on first use */ }
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    const keep = new Set([SHELL_CACHE, API_CACHE]);
    for (const key of await caches.keys()) {
      if (key.startsWith('yizhan-') && !keep.has(key)) await caches.delete(key);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  const path = url.href.split('?')[0];
  if (path === scopeUrl(COUNTIES)) {
    event.respondWith(staleWhileRevalidate(event, SHELL_CACHE));
  } else if (path.startsWith(scopeUrl('api/'))) {
    // Only public answers are kept; anything else (accounts, reports, locate) goes straight through.
    if (CACHED_API.some((p) => path === scopeUrl(p))) event.respondWith(networkFirst(event));
  } else if (req.mode === 'navigate') {
    // Any page of the app opens the shell; fresh when online, cached when not.
    event.respondWith(networkFirst(event, SHELL_CACHE, scopeUrl('index.html')));
  } else if (STATIC_DESTINATIONS.has(req.destination)) {
    event.respondWith(staleWhileRevalidate(event, SHELL_CACHE));
  }
});

async function staleWhileRevalidate(event, cacheName) {
  const req = event.request;
  const cache = await caches.open(cacheName);
  const cached = await cache.match(req);
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
 * Network first; falls back to the cached answer when the network fails, or when it is slower than
 * SLOW_MS and a cached answer exists (a weak signal should not leave the rider staring at a spinner).
 * The network answer still refreshes the cache in the background.
 */
async function networkFirst(event, cacheName = API_CACHE, fallbackUrl = null) {
  const req = event.request;
  const cache = await caches.open(cacheName);
  const network = fetch(req).then(async (res) => {
    if (res.ok) {
      await cache.put(req, res.clone());
      if (cacheName === API_CACHE) await trim(cache);
    }
    return res;
  });
  event.waitUntil(network.catch(() => null));
  const cachedAnswer = async () =>
    (await cache.match(req)) || (fallbackUrl ? await cache.match(fallbackUrl) : undefined);
  let slowTimer;
  const slow = new Promise((resolve) => { slowTimer = setTimeout(() => resolve('slow'), SLOW_MS); });
  try {
    const first = await Promise.race([network, slow]);
    if (first !== 'slow') return first;
    const cached = await cachedAnswer();
    if (cached) return markCached(cached);
    return await network;
  } catch {
    const cached = await cachedAnswer();
    return cached ? markCached(cached) : offlineError();
  } finally {
    clearTimeout(slowTimer);
  }
}

/** Tells the page this answer is old, so it can say so. */
function markCached(res) {
  const headers = new Headers(res.headers);
  headers.set('X-Yizhan-From-Cache', '1');
  return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
}

async function trim(cache) {
  const keys = await cache.keys();
  for (const key of keys.slice(0, Math.max(0, keys.length - API_CACHE_MAX))) await cache.delete(key);
}

function offlineError() {
  return new Response(JSON.stringify({ error: { code: 'offline', message: 'offline and not cached' } }), {
    status: 503,
    headers: { 'Content-Type': 'application/json', 'X-Yizhan-From-Cache': '1' },
  });
}
