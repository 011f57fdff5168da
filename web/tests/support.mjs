// What the browser test files share: the server under test, the browser, phone-sized contexts
// that may not reach any other host, and a few waits.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const BASE = process.env.YIZHAN_URL?.replace(/\/+$/, '');
/** A reason to skip (tests are reported as skipped, not silently absent), or false. */
export const SKIP = BASE ? false : 'YIZHAN_URL is not set (e.g. http://127.0.0.1:8080)';
export const NANCHANG = { latitude: 28.68, longitude: 115.89, accuracy: 25 };
export const NEAREST = '/api/v1/stations/nearest';
export const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 1 };
export const DESKTOP = { viewport: { width: 1280, height: 800 }, isMobile: false, hasTouch: false, deviceScaleFactor: 1 };

/** The system Chromium (CHROMIUM, default /usr/bin/chromium); Playwright never downloads one. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

/** Opens a fresh context (phone-sized unless `device` says otherwise); records console errors and every request that leaves `base` (BASE). */
export async function openApp(browser, { geolocation = null, serviceWorkers = 'block', device = PHONE, base = BASE } = {}) {
  const context = await browser.newContext({
    ...device,
    locale: 'zh-CN',
    timezoneId: 'Asia/Shanghai',
    serviceWorkers,
    ...(geolocation ? { geolocation, permissions: ['geolocation'] } : {}),
  });
  const origin = new URL(base).origin;
  const seen = { consoleErrors: [], foreign: [] };
  context.on('request', (r) => {
    const u = new URL(r.url());
    if (u.protocol !== 'data:' && u.protocol !== 'blob:' && u.origin !== origin) seen.foreign.push(r.url());
  });
  // Nothing may leave the machine during a test, whatever the page tries.
  await context.route((url) => url.origin !== origin && url.protocol.startsWith('http'), (route) => route.abort());
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('console', (m) => {
    if (m.type() === 'error') seen.consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => seen.consoleErrors.push(`pageerror: ${e.message}`));
  return { context, page, ...seen, seen };
}

export const isNearest = (r) => new URL(r.url()).pathname === NEAREST;

/** Waits until the list shows the answer to the latest query (not loading, at least one card or the empty note). */
export async function listSettled(page) {
  await page.waitForFunction(() => {
    const ol = document.querySelector('#results');
    return ol && ol.getAttribute('aria-busy') === 'false' && ol.children.length > 0;
  });
}

/** Saves a screenshot when YIZHAN_SCREENSHOTS names a folder (for looking at the layout). */
export async function screenshot(page, name) {
  const dir = process.env.YIZHAN_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: false });
}

/** Calls the API directly, as a script would (for setting up and checking what the UI did). */
export async function api(method, path, { token, body, headers = {} } = {}) {
  const res = await fetch(`${BASE}/api/v1/${path}`, {
    method,
    headers: {
      Accept: 'application/json',
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      ...headers,
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  return { status: res.status, data, headers: res.headers };
}
