// How many bytes a rider's phone transfers: a first visit (empty profile) and a repeat visit
// (same profile: HTTP cache and service worker kept, a new page), on a phone-sized headless
// Chromium with geolocation granted at a fixed point in Nanchang.
//
// Usage (against a running server; nothing else is contacted):
//   node web/scripts/transfer.mjs [http://127.0.0.1:8080]     (or YIZHAN_URL=…)
//   options by environment: CHROMIUM=/usr/bin/chromium, SETTLE_MS=3000 (quiet time that ends a
//   visit), MAX_MS=45000, JSON=1 (print the figures as one JSON line at the end too)
//
// Two counts, which should agree:
// - the wire: Chromium talks to the server through a TCP relay started here, which counts every
//   byte the server sends (status lines, headers and bodies, compressed as sent), whoever asked
//   for them: the page, the service worker (its install precache and background revalidation),
//   or the browser itself (manifest, icons);
// - per resource: Playwright's request sizes (the network stack's encoded header and body
//   bytes, as CDP's Network.loadingFinished reports them), for the page and the service worker
//   alike; a request the service worker answered from its cache costs no network bytes and is
//   listed as `sw-cache`.
import net from 'node:net';
import { chromium } from 'playwright-core';

const target = new URL(process.argv[2] || process.env.YIZHAN_URL || 'http://127.0.0.1:8080');
const SETTLE_MS = Number(process.env.SETTLE_MS || 3000);
const MAX_MS = Number(process.env.MAX_MS || 45000);
const NANCHANG = { latitude: 28.68, longitude: 115.89, accuracy: 20 };

/** A TCP relay to the server counting what the server sends back; `last` is the time of the last byte. */
function startRelay() {
  const stats = { down: 0, up: 0, connections: 0, last: Date.now() };
  const server = net.createServer((client) => {
    stats.connections += 1;
    const upstream = net.connect(Number(target.port || 80), target.hostname);
    upstream.on('data', (d) => { stats.down += d.length; stats.last = Date.now(); });
    client.on('data', (d) => { stats.up += d.length; stats.last = Date.now(); });
    client.pipe(upstream).pipe(client);
    const end = () => { client.destroy(); upstream.destroy(); };
    client.on('error', end);
    upstream.on('error', end);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, stats, port: server.address().port })));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Waits until nothing has crossed the relay for SETTLE_MS (or MAX_MS passed). */
async function settle(stats, started) {
  while (Date.now() - started < MAX_MS) {
    await sleep(250);
    if (Date.now() - stats.last >= SETTLE_MS) return;
  }
}

async function visit(context, url, relay, label) {
  const rows = [];
  const onFinished = async (req) => {
    const res = await req.response().catch(() => null);
    const sizes = await req.sizes().catch(() => null);
    const fromSw = res?.fromServiceWorker?.() ?? false;
    rows.push({
      by: req.serviceWorker() ? 'sw' : 'page',
      url: req.url().replace(url.replace(/\/$/, ''), ''),
      type: req.resourceType(),
      status: res?.status() ?? 0,
      encoding: (await res?.headerValue('content-encoding').catch(() => null)) || '',
      bytes: fromSw ? 0 : (sizes ? sizes.responseHeadersSize + sizes.responseBodySize : 0),
      note: fromSw ? 'sw-cache' : '',
    });
  };
  context.on('requestfinished', onFinished);
  relay.stats.down = 0;
  relay.stats.up = 0;
  relay.stats.last = Date.now();
  const started = Date.now();
  const page = await context.newPage();
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForSelector('#results li', { timeout: MAX_MS }).catch(() => console.warn(`${label}: no results listed`));
  await settle(relay.stats, started);
  await page.close();
  context.off('requestfinished', onFinished);
  const wire = relay.stats.down;
  const total = rows.reduce((s, r) => s + r.bytes, 0);
  console.log(`\n== ${label}: ${(wire / 1000).toFixed(1)} KB on the wire (server → browser, ${relay.stats.up} B up), ${(total / 1000).toFixed(1)} KB by resource, ${rows.length} requests`);
  console.log('by    status enc   bytes  type        url');
  for (const r of rows.sort((a, b) => b.bytes - a.bytes)) {
    console.log(`${r.by.padEnd(5)} ${String(r.status).padEnd(6)} ${r.encoding.padEnd(5)} ${String(r.bytes).padStart(6)}  ${r.type.padEnd(11)} ${r.url}${r.note ? `  (${r.note})` : ''}`);
  }
  return { wire, byResource: total, requests: rows.length };
}

const relay = await startRelay();
const base = `http://127.0.0.1:${relay.port}/`;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
});
try {
  // One context is one profile: its HTTP cache and service worker outlive its pages.
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2,
    locale: 'zh-CN', timezoneId: 'Asia/Shanghai', serviceWorkers: 'allow',
    geolocation: NANCHANG, permissions: ['geolocation'],
  });
  // No context.route() here: Playwright turns the HTTP cache off while routing is on, and the
  // cache (ETag revalidation) is half of what a repeat visit costs.
  const first = await visit(context, base, relay, 'first visit (empty profile)');
  const repeat = await visit(context, base, relay, 'repeat visit (same profile, new page)');
  console.log(`\nfirst visit ${(first.wire / 1000).toFixed(1)} KB (budget 150), repeat visit ${(repeat.wire / 1000).toFixed(1)} KB (budget 15), on the wire`);
  if (process.env.JSON) console.log(JSON.stringify({ first, repeat }));
  await context.close();
} finally {
  await browser.close();
  relay.server.close();
}
