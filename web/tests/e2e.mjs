// Browser tests of the rider view (找驿站) against a running yizhan server.
//
//   YIZHAN_URL=http://127.0.0.1:8080 node --test web/tests/e2e.mjs
//
// The server must be seeded with the demo Jiangxi stations (dense around Nanchang) and must not
// know the loopback address's position (so /api/v1/locate answers with an error). Chromium comes
// from the system (CHROMIUM, default /usr/bin/chromium); Playwright never downloads a browser.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  BASE, NANCHANG, SKIP, isNearest, launchBrowser, listSettled, openApp as openContext,
} from './support.mjs';

let browser;

/** Each test is reported as skipped (not silently absent) when there is no server to test. */
const it = (name, fn) => test(name, { skip: SKIP, timeout: 60000 }, fn);

const openApp = (opts) => openContext(browser, opts);

async function gotoWithGps(page) {
  const first = page.waitForResponse(isNearest);
  await page.goto(`${BASE}/`);
  const res = await first;
  assert.equal(res.status(), 200, `nearest answered ${res.status()}`);
  await listSettled(page);
  return res;
}

describe('rider view (找驿站)', () => {
  before(async () => {
    if (SKIP) return;
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  it('with GPS in Nanchang the list shows the nearest stations, the demo banner and nav links', async () => {
    const { context, page } = await openApp({ geolocation: NANCHANG });
    try {
      const res = await gotoWithGps(page);
      const q = new URL(res.url()).searchParams;
      assert.ok(Math.abs(Number(q.get('lat')) - NANCHANG.latitude) < 1e-4, `lat sent: ${q.get('lat')}`);
      assert.ok(Math.abs(Number(q.get('lon')) - NANCHANG.longitude) < 1e-4, `lon sent: ${q.get('lon')}`);
      assert.equal(q.get('open_now'), 'true', 'open now is on by default');

      const cards = page.locator('#results li.station');
      const n = await cards.count();
      assert.ok(n >= 1 && n <= 10, `expected 1..10 stations, got ${n}`);
      const dist = await cards.evaluateAll((els) => els.map((e) => Number(e.dataset.distance)));
      assert.deepEqual(dist, [...dist].sort((a, b) => a - b), 'sorted by distance');
      assert.equal(await page.locator('.station-pin').count(), n, 'one marker per listed station');

      assert.ok(await page.locator('#demo-banner').isVisible(), 'demo banner visible');
      assert.match(await page.locator('#demo-banner').innerText(), /示例数据/);
      assert.match(await page.locator('.leaflet-control-attribution').innerText(), /边界数据来源：高德/);

      const hosts = { amap: /(^|\.)amap\.com$/, baidu: /(^|\.)baidu\.com$/, tencent: /(^|\.)qq\.com$/ };
      for (let i = 0; i < n; i++) {
        for (const [app, host] of Object.entries(hosts)) {
          const href = await cards.nth(i).locator(`a[data-app="${app}"]`).getAttribute('href');
          assert.ok(href, `card ${i} has a ${app} link`);
          const u = new URL(href);
          assert.equal(u.protocol, 'https:', `${app} link is https: ${href}`);
          assert.match(u.hostname, host, `${app} link points to ${app}: ${href}`);
        }
      }
      const first = cards.first();
      assert.match(await first.locator('.station-distance').innerText(), /^\d+(\.\d)? (米|公里)$/);
      assert.match(await first.locator('.station-minutes').innerText(), /^步行约 \d+ 分钟$/);
    } finally {
      await context.close();
    }
  });

  it('the 微波炉 chip re-queries with amenities=microwave and every result has a microwave', async () => {
    const { context, page } = await openApp({ geolocation: NANCHANG });
    try {
      await gotoWithGps(page);
      const chip = page.locator('#chips').getByRole('button', { name: '微波炉', exact: true });
      assert.equal(await chip.getAttribute('aria-pressed'), 'false');
      const req = page.waitForRequest((r) => isNearest(r) && r.url().includes('amenities=microwave'));
      const res = page.waitForResponse((r) => isNearest(r) && r.url().includes('amenities=microwave'));
      await chip.click();
      await req;
      assert.equal((await res).status(), 200);
      await listSettled(page);
      assert.equal(await chip.getAttribute('aria-pressed'), 'true');

      const cards = page.locator('#results li.station');
      const n = await cards.count();
      assert.ok(n >= 1, 'some station near Nanchang has a microwave');
      for (let i = 0; i < n; i++) {
        const icon = cards.nth(i).locator('[data-amenity="microwave"]');
        assert.equal(await icon.count(), 1, `card ${i} shows the microwave icon`);
        assert.equal(await icon.locator('.amenity-icon').innerText(), '🍱');
        assert.equal(await icon.locator('.amenity-label').innerText(), '微波炉');
      }
    } finally {
      await context.close();
    }
  });

  it('without GPS it asks /api/v1/locate and, when that fails, asks the user to tap the map', async () => {
    const { context, page } = await openApp(); // no geolocation permission: the browser denies it
    try {
      const locate = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/locate');
      await page.goto(`${BASE}/`);
      const res = await locate;
      assert.ok(res.status() >= 400, `loopback has no known position, got ${res.status()}`);
      const body = await res.json();
      assert.equal(typeof body.error?.code, 'string', 'error body has a code');
      assert.equal(typeof body.error?.message, 'string', 'error body has a message');

      const hint = page.locator('#status[data-kind="hint"]');
      await hint.waitFor();
      assert.match(await hint.innerText(), /在地图上点一下/);
      assert.equal(await page.locator('#results li.station').count(), 0);

      // Tapping the map sets the origin there and searches from it.
      await page.waitForTimeout(300); // let the basemap fit Jiangxi, if it is still loading
      const nearest = page.waitForResponse(isNearest);
      const box = await page.locator('#map').boundingBox();
      await page.locator('#map').tap({ position: { x: box.width / 2, y: box.height / 2 } });
      assert.equal((await nearest).status(), 200);
      await listSettled(page);
      assert.ok(await page.locator('#results li.station').count() >= 1);
      assert.equal(await page.locator('#status').getAttribute('data-kind'), 'info');
    } finally {
      await context.close();
    }
  });

  it('an IP position is used and labelled as approximate', async () => {
    const { context, page } = await openApp();
    try {
      // The loopback client has no IP position on the test server, so stand in for GeoIP here.
      await page.route('**/api/v1/locate', (route) => route.fulfill({
        status: 200,
        contentType: 'application/json',
        body: JSON.stringify({ lat: 28.68, lon: 115.89, accuracy_km: 30, source: 'ip' }),
      }));
      const nearest = page.waitForResponse(isNearest);
      await page.goto(`${BASE}/`);
      const q = new URL((await nearest).url()).searchParams;
      assert.equal(Number(q.get('lat')), 28.68);
      await listSettled(page);
      const status = page.locator('#status');
      assert.match(await status.innerText(), /按网络位置估算，误差约 30 公里/);
      assert.equal(await status.getAttribute('data-kind'), 'warn');
    } finally {
      await context.close();
    }
  });

  it('the language toggle switches the page to English and is remembered', async () => {
    const { context, page } = await openApp({ geolocation: NANCHANG });
    try {
      await gotoWithGps(page);
      const toggle = page.locator('#lang-toggle');
      assert.equal(await toggle.innerText(), 'EN');
      await toggle.click();
      assert.equal(await page.locator('html').getAttribute('lang'), 'en');
      assert.equal(await page.locator('h1').innerText(), 'Find a station');
      assert.equal(await toggle.innerText(), '中');
      assert.equal(await page.locator('#chips').getByRole('button', { name: 'Microwave', exact: true }).count(), 1);
      assert.match(await page.locator('#demo-banner').innerText(), /Demo data: these are not real stations/);
      assert.match(await page.locator('label.switch').innerText(), /Open now/);
      const first = page.locator('#results li.station').first();
      assert.match(await first.locator('.station-minutes').innerText(), /^about \d+ min on foot$/);
      assert.equal(await first.locator('a[data-app="amap"]').innerText(), 'AMap');

      await page.reload();
      await listSettled(page);
      assert.equal(await page.locator('h1').innerText(), 'Find a station', 'choice survives a reload');
      await page.locator('#lang-toggle').click();
      assert.equal(await page.locator('h1').innerText(), '找驿站');
      assert.equal(await page.locator('html').getAttribute('lang'), 'zh-CN');
    } finally {
      await context.close();
    }
  });

  it('list and map are linked: tapping a card marks its marker and tapping a marker marks its card', async () => {
    const { context, page } = await openApp({ geolocation: NANCHANG });
    try {
      await gotoWithGps(page);
      const cards = page.locator('#results li.station');
      if ((await cards.count()) < 2) return; // nothing to tell apart
      await cards.nth(1).locator('.station-focus').click();
      assert.equal(await cards.nth(1).getAttribute('aria-current'), 'true');
      assert.equal(await page.locator('.station-pin.is-selected').innerText(), '2');

      await page.locator('.station-pin', { hasText: /^1$/ }).click({ force: true });
      assert.equal(await cards.nth(0).getAttribute('aria-current'), 'true');
      assert.equal(await cards.nth(1).getAttribute('aria-current'), null);
      assert.equal(await page.locator('.station-pin.is-selected').innerText(), '1');
    } finally {
      await context.close();
    }
  });

  it('a full session logs no console error and requests nothing from another host', async () => {
    const { context, page, seen } = await openApp({ geolocation: NANCHANG });
    try {
      await gotoWithGps(page);
      // Filters, mode and open-now each re-query.
      let next = page.waitForResponse((r) => isNearest(r) && r.url().includes('mode=ebike'));
      await page.getByText('电动车', { exact: true }).click();
      await next;
      await listSettled(page);
      assert.match(await page.locator('.station-minutes').first().innerText(), /^电动车约 \d+ 分钟$/);

      next = page.waitForResponse((r) => isNearest(r) && !r.url().includes('open_now=true'));
      await page.locator('label.switch').click();
      await next;
      await listSettled(page);

      next = page.waitForResponse((r) => isNearest(r) && r.url().includes('amenities=hot_water'));
      await page.locator('#chips').getByRole('button', { name: '热水', exact: true }).click();
      await next;
      await listSettled(page);

      // Zoom out, then move the origin with a long-press (a right-click is Leaflet's 'contextmenu' too).
      await page.locator('.leaflet-control-zoom-out').click();
      await page.waitForTimeout(400);
      next = page.waitForResponse(isNearest);
      const box = await page.locator('#map').boundingBox();
      await page.locator('#map').click({ button: 'right', position: { x: box.width / 3, y: box.height / 3 } });
      await next;
      await listSettled(page);
      await page.locator('#lang-toggle').click();
      await page.waitForTimeout(300);

      assert.deepEqual(seen.consoleErrors, [], 'no console errors');
      assert.deepEqual(seen.foreign, [], 'no request to another host');
    } finally {
      await context.close();
    }
  });

  it('once installed, the app shell starts offline and says so', async () => {
    const { context, page } = await openApp({ geolocation: NANCHANG, serviceWorkers: 'allow' });
    try {
      await gotoWithGps(page);
      await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
      await context.setOffline(true);
      await page.reload();
      assert.equal(await page.locator('h1').innerText(), '找驿站');
      assert.ok(await page.locator('#offline-banner').isVisible(), 'offline banner visible');
      // The counties basemap came from the cache: the county outlines are drawn.
      await page.waitForFunction(() => document.querySelector('.leaflet-pane canvas') !== null);
      // The last answer for the same query may come from the cache; otherwise an error with a retry.
      await page.waitForFunction(() => {
        const err = document.querySelector('#error');
        const count = document.querySelector('#list-count');
        return (err && !err.hidden) || (count && count.textContent.includes('之前保存'));
      });
    } finally {
      await context.close();
    }
  });
});
