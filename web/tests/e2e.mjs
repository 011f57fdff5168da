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

  it('without GPS and without a GeoIP database it never asks /locate and a confirmed tap, zoomed in, sets the origin', async () => {
    const { context, page, seen } = await openApp(); // no geolocation permission granted
    try {
      const asked = [];
      page.on('request', (r) => {
        const path = new URL(r.url()).pathname;
        if (path === '/api/v1/locate' || path === '/api/v1/auth/me') asked.push(path);
      });
      await page.goto(`${BASE}/`);
      const hint = page.locator('#status[data-kind="hint"]');
      await hint.waitFor();
      // One wording for one gesture: the status and the tip both say tap, then confirm.
      assert.match(await hint.innerText(), /点按您所在的地方，再点「设为我的位置」/);
      assert.match(await page.locator('.tip').innerText(), /点按.*再点「设为我的位置」/);
      assert.doesNotMatch(await page.locator('.tip').innerText(), /长按/);
      assert.equal(await page.locator('#results li.station').count(), 0);
      assert.ok(await page.locator('#use-location').isVisible(), 'a button offers to use the location');

      // Zoomed out over the province a tap cannot be exact: it offers to zoom in first.
      await page.waitForFunction(() => document.querySelector('.leaflet-pane canvas') !== null);
      const box = await page.locator('#map').boundingBox();
      const centre = { x: box.width / 2, y: box.height / 2 };
      await page.locator('#map').tap({ position: centre });
      const zoom = page.locator('.pick-popup .pick-zoom');
      await zoom.waitFor();
      assert.equal(await page.locator('.pick-popup .pick-confirm').isVisible(), false, 'no confirm while zoomed out');
      assert.match(await page.locator('.pick-popup .pick-text').innerText(), /请先放大/);
      await zoom.tap();
      await page.waitForTimeout(300);
      await page.locator('#map').tap({ position: centre });
      const confirm = page.locator('.pick-popup .pick-confirm');
      await confirm.waitFor();
      const nearest = page.waitForResponse(isNearest);
      await confirm.tap();
      assert.equal((await nearest).status(), 200);
      await listSettled(page);
      assert.ok(await page.locator('#results li.station').count() >= 1);
      assert.equal(await page.locator('#status').getAttribute('data-kind'), 'info');
      assert.deepEqual(asked, [], 'neither /locate (no GeoIP database) nor /auth/me was asked');
      assert.deepEqual(seen.consoleErrors, [], 'no console errors');
    } finally {
      await context.close();
    }
  });

  it('an IP position is used and labelled as approximate', async () => {
    const { context, page } = await openApp();
    try {
      // The test server has no GeoIP database, so stand in for one here: the config says there
      // is one, and /locate answers.
      await page.route('**/api/v1/client-config', async (route) => {
        const res = await route.fetch();
        route.fulfill({ response: res, json: { ...(await res.json()), geoip: true } });
      });
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
      assert.ok(await page.locator('#use-location').isVisible(), 'the rider can still ask for GPS');
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
      // English strings are a module of their own, fetched on the first switch.
      await page.waitForFunction(() => document.documentElement.lang === 'en');
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

      // (limit=50 is the page's background fetch of stations to keep for offline use.)
      next = page.waitForResponse((r) => isNearest(r) && !r.url().includes('open_now=true') && !r.url().includes('limit=50'));
      await page.locator('label.switch').click();
      await next;
      await listSettled(page);

      next = page.waitForResponse((r) => isNearest(r) && r.url().includes('amenities=hot_water'));
      await page.locator('#chips').getByRole('button', { name: '热水', exact: true }).click();
      await next;
      await listSettled(page);

      // Zoom out, then move the origin with a long-press (a right-click is Leaflet's 'contextmenu'
      // too), confirmed in the popup: the same gesture as a tap.
      await page.locator('.leaflet-control-zoom-out').click();
      await page.waitForTimeout(400);
      const box = await page.locator('#map').boundingBox();
      await page.locator('#map').click({ button: 'right', position: { x: box.width / 3, y: box.height / 3 } });
      await page.locator('.pick-popup .pick-confirm').waitFor();
      next = page.waitForResponse((r) => isNearest(r) && !r.url().includes('limit=50'));
      await page.locator('.pick-popup .pick-confirm').click();
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
      // The first visit's basemap reached the page before the worker was in control; the page
      // hands it over to be kept (a message): wait until it is, as a rider's next start would.
      await page.waitForFunction(async () => {
        for (const name of await caches.keys()) {
          const keys = await (await caches.open(name)).keys();
          if (keys.some((r) => new URL(r.url).pathname === '/api/v1/counties')) return true;
        }
        return false;
      }, null, { polling: 200 });
      await context.setOffline(true);
      await page.reload();
      assert.equal(await page.locator('h1').innerText(), '找驿站');
      // The page shows the banner once its script has run: wait for it rather than race it.
      await page.locator('#offline-banner').waitFor({ state: 'visible', timeout: 10000 });
      // The counties basemap came from the cache: the county outlines are drawn.
      await page.waitForFunction(() => document.querySelector('.leaflet-pane canvas') !== null);
      // The stations saved on the first visit answer, marked as saved earlier.
      await page.waitForFunction(() => document.querySelector('#list-count')?.textContent.includes('离线'));
      assert.ok(await page.locator('#results li.station').count() >= 1, 'saved stations are listed');
    } finally {
      await context.close();
    }
  });
});
