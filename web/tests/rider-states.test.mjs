// Browser tests of the rider page's harder states on a phone: a first load that asks nothing it
// cannot have (no geolocation prompt, no /locate without GeoIP, no /auth/me, no console error),
// location permission denied, no signal (stations saved on the first visit answer near it,
// filtered and re-sorted, marked as saved; far from it the page says so), and tap targets.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  BASE, NANCHANG, SKIP, api, isNearest, launchBrowser, listSettled, openApp, screenshot,
} from './support.mjs';

let browser;
const it = (name, fn) => test(name, { skip: SKIP, timeout: 90000 }, fn);
const env = process.env;
const MANAGER = { login: env.YIZHAN_MANAGER_LOGIN, password: env.YIZHAN_MANAGER_PASSWORD };

/** Counts geolocation requests, and makes the permission `state` ('denied', 'prompt' …). */
async function stubGeolocation(context, state) {
  await context.addInitScript((st) => {
    window.__geoAsks = 0;
    const denied = { code: 1, message: 'User denied Geolocation', PERMISSION_DENIED: 1 };
    const real = navigator.geolocation.getCurrentPosition.bind(navigator.geolocation);
    navigator.geolocation.getCurrentPosition = (ok, fail, opts) => {
      window.__geoAsks += 1;
      if (st === 'denied') setTimeout(() => fail(denied), 10);
      else real(ok, fail, opts);
    };
    const query = navigator.permissions.query.bind(navigator.permissions);
    navigator.permissions.query = (d) => (d?.name === 'geolocation' && st ? Promise.resolve({ state: st }) : query(d));
  }, state);
}

/** Every response of 400 or more and every request that failed, as text. */
function failures(page) {
  const out = [];
  page.on('response', (r) => { if (r.status() >= 400) out.push(`${r.status()} ${r.url()}`); });
  page.on('requestfailed', (r) => out.push(`failed ${r.url()} ${r.failure()?.errorText}`));
  return out;
}

describe('rider page states (phone)', () => {
  before(async () => {
    if (SKIP) return;
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  it('a logged-out first load with no GeoIP and no permission yet: no prompt, no error, no failed request', async () => {
    const { context, page, seen } = await openApp(browser);
    try {
      await stubGeolocation(context, 'prompt');
      const failed = failures(page);
      const paths = [];
      page.on('request', (r) => paths.push(new URL(r.url()).pathname));
      await page.goto(`${BASE}/`);
      await page.locator('#status[data-kind="hint"]').waitFor();
      await page.waitForFunction(() => document.querySelector('.leaflet-pane canvas') !== null);
      await page.waitForTimeout(500);
      assert.equal(await page.evaluate(() => window.__geoAsks), 0, 'no geolocation prompt on load');
      assert.ok(!paths.includes('/api/v1/locate'), 'no /locate without a GeoIP database');
      assert.ok(!paths.includes('/api/v1/auth/me'), 'no /auth/me on the rider page');
      assert.ok(paths.includes('/api/v1/client-config'), 'the page asked what it may ask');
      const use = page.locator('#use-location');
      assert.equal(await use.innerText(), '用我的位置');
      // The button asks (here: the browser answers; no permission in this context).
      await use.click();
      await page.waitForFunction(() => window.__geoAsks === 1);
      await page.locator('#status[data-kind="hint"]').waitFor();
      assert.deepEqual(seen.consoleErrors, [], 'no console errors');
      assert.deepEqual(failed, [], 'no failed request');
      assert.deepEqual(seen.foreign, [], 'nothing requested from another host');
    } finally {
      await context.close();
    }
  });

  it('location denied: says so and how to turn it on; the ◎ button says why; a tap counts once zoomed in', async () => {
    const { context, page, seen } = await openApp(browser);
    try {
      await stubGeolocation(context, 'denied');
      await page.goto(`${BASE}/`);
      const status = page.locator('#status[data-kind="hint"]');
      await status.waitFor();
      assert.match(await status.innerText(), /位置权限已关闭/);
      assert.match(await status.innerText(), /再点「设为我的位置」/);
      const help = page.locator('#location-help');
      assert.ok(await help.isVisible(), 'how to turn location back on');
      assert.match(await help.innerText(), /网站设置/);
      assert.match(await help.innerText(), /位置信息/);
      const locateBtn = page.locator('.map-locate');
      assert.match(await locateBtn.getAttribute('aria-label'), /位置权限已关闭/);
      assert.equal(await page.evaluate(() => window.__geoAsks), 0, 'a denied permission is not asked on load');
      await page.waitForFunction(() => document.querySelector('.leaflet-pane canvas') !== null);
      await screenshot(page, 'rider-denied');

      // The ◎ button asks again and says why it failed.
      await locateBtn.click();
      await page.waitForFunction(() => window.__geoAsks === 1);
      await page.locator('#status[data-kind="hint"]').filter({ hasText: '位置权限已关闭' }).waitFor();

      // A tap on the province map first zooms in; then a confirmed tap sets the origin.
      const box = await page.locator('#map').boundingBox();
      const spot = { x: box.width / 2, y: box.height / 2 };
      await page.locator('#map').tap({ position: spot });
      await page.locator('.pick-popup .pick-zoom').tap();
      await page.waitForTimeout(300);
      assert.ok(await page.evaluate(() => document.querySelector('#map') !== null));
      await page.locator('#map').tap({ position: spot });
      const nearest = page.waitForResponse(isNearest);
      await page.locator('.pick-popup .pick-confirm').tap();
      assert.equal((await nearest).status(), 200);
      await listSettled(page);
      assert.match(await page.locator('#status').innerText(), /已按您在地图上选的位置查找/);
      assert.deepEqual(seen.consoleErrors, []);
    } finally {
      await context.close();
    }
  });

  it('offline after one visit: saved stations answer near it (re-sorted, chip-filtered, marked), and far from it the page says so', async () => {
    // Service workers allowed, as for a rider; the first answer is saved by the page itself.
    const { context, page } = await openApp(browser, { geolocation: NANCHANG, serviceWorkers: 'allow' });
    try {
      const first = page.waitForResponse(isNearest);
      await page.goto(`${BASE}/`);
      await first;
      await listSettled(page);
      // The unfiltered stations around the rider, fetched in the background and saved.
      await page.waitForFunction(() => JSON.parse(localStorage.getItem('yizhan.nearby.v1') || '{}').wide === true);
      const saved = await page.evaluate(() => JSON.parse(localStorage.getItem('yizhan.nearby.v1')));
      assert.ok(saved.items.length >= 10, `saved ${saved.items.length} stations`);
      const onlineIds = await page.locator('#results li.station').evaluateAll((els) => els.map((e) => Number(e.dataset.id)));
      await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));

      await context.setOffline(true);
      // Five metres further: no exact-URL cache could answer this.
      await context.setGeolocation({ latitude: NANCHANG.latitude + 0.000045, longitude: NANCHANG.longitude });
      await page.reload();
      await page.waitForFunction(() => document.querySelector('#list-count')?.textContent.includes('离线'));
      const count = page.locator('#list-count');
      assert.match(await count.innerText(), /保存的驿站/);
      assert.match(await count.innerText(), /可能已过时/);
      const cards = page.locator('#results li.station');
      const ids = await cards.evaluateAll((els) => els.map((e) => Number(e.dataset.id)));
      // What the page should list here: the server's order at this position, asked without
      // open_now so that it does not depend on the clock, kept to the stations the saved answer
      // calls open (offline, the page knows only those flags, as of when they were saved: a
      // station that opened at 07:00 since is still shown closed, and the list says it may be
      // outdated). Comparing with an open_now answer of another second fails whenever the
      // demo hours turn over in between, as they did at 07:00 in Beijing in one CI run.
      const kept = await page.evaluate(() => JSON.parse(localStorage.getItem('yizhan.nearby.v1')));
      const why = `saved: wide ${kept.wide}, ${kept.items.length} items, complete to ${kept.completeM} m`;
      const here = `lat=${(NANCHANG.latitude + 0.000045).toFixed(6)}&lon=${NANCHANG.longitude}`;
      const expectedHere = async (filter) => {
        const savedOpen = new Map(kept.items.map((s) => [s.id, Boolean(s.open_now && !s.temporary_closure)]));
        const live = await api('GET', `stations/nearest?${here}${filter}&limit=${kept.items.length}`);
        const out = [];
        for (const s of live.data.items) {
          if (!savedOpen.has(s.id)) break; // beyond the saved area: the page cannot know it
          if (savedOpen.get(s.id)) out.push(s.id);
        }
        return out;
      };
      const expected = await expectedHere('');
      // The same nearest in the same order; the saved answer may have been fetched a little
      // way off (a second fix races the background fetch), and the page lists only what it can
      // prove nearest, so the last one or two may be left out — never a wrong or reordered one.
      assert.ok(ids.length >= Math.min(expected.length, 5), `${ids.length} of ${expected.length} listed (${why})`);
      assert.deepEqual(ids, expected.slice(0, ids.length), `five metres away, the same nearest stations in the same order (${why}; online, a moment earlier: ${onlineIds})`);
      const dist = await cards.evaluateAll((els) => els.map((e) => Number(e.dataset.distance)));
      assert.deepEqual(dist, [...dist].sort((a, b) => a - b), 'sorted by the recomputed distance');
      assert.ok(await page.locator('#offline-banner').isVisible());
      await screenshot(page, 'rider-offline');

      // A chip filters what is saved, offline.
      await page.locator('#chips').getByRole('button', { name: '微波炉', exact: true }).click();
      await page.waitForFunction(() => [...document.querySelectorAll('#results li.station')]
        .every((li) => li.querySelector('[data-amenity="microwave"]')));
      const n = await cards.count();
      assert.ok(n >= 1, 'some saved station has a microwave');
      // The same stations the server gives for this query here (the saved area may cut the list short).
      const offlineIds = await cards.evaluateAll((els) => els.map((e) => Number(e.dataset.id)));
      const expectedMicrowave = await expectedHere('&amenities=microwave');
      assert.deepEqual(offlineIds, expectedMicrowave.slice(0, n), 'offline = online, filtered');
      assert.match(await count.innerText(), /离线/);

      // Far away (Ganzhou, ~330 km): no list that pretends to be the nearest.
      await context.setGeolocation({ latitude: 25.85, longitude: 114.93 });
      await page.locator('.map-locate').click();
      await page.locator('#results li.empty').filter({ hasText: '离线时无法列出这里附近的驿站' }).waitFor();
      assert.equal(await cards.count(), 0);
      await screenshot(page, 'rider-offline-far');
    } finally {
      await context.close();
    }
  });

  test('tap targets are at least 44 × 44 px on a 390 × 844 phone', { skip: SKIP || (MANAGER.login ? false : 'no manager login given'), timeout: 90000 }, async () => {
    const { context, page } = await openApp(browser, { geolocation: NANCHANG });
    try {
      await page.goto(`${BASE}/`);
      await listSettled(page);
      const controls = {
        'zoom in': '.leaflet-control-zoom-in',
        'zoom out': '.leaflet-control-zoom-out',
        '◎': '.map-locate',
        'view tabs': '.view-nav a',
        'language': '#lang-toggle',
        'walk/e-bike': '.segmented label',
        chips: '#chips .chip',
        'nav buttons': '#results .btn-nav',
      };
      const small = [];
      const measure = async (what, selector) => {
        const boxes = await page.locator(selector).evaluateAll((els) => els
          .filter((e) => e.offsetParent !== null)
          .map((e) => { const r = e.getBoundingClientRect(); return [r.width, r.height]; }));
        assert.ok(boxes.length >= 1, `${what}: nothing measured`);
        for (const [w, h] of boxes) if (w < 44 || h < 44) small.push(`${what}: ${w.toFixed(1)}×${h.toFixed(1)}`);
      };
      for (const [what, sel] of Object.entries(controls)) await measure(what, sel);

      // 退出登录, in the manager view.
      await page.goto(`${BASE}/#manager`);
      await page.locator('#login-name').fill(MANAGER.login);
      await page.locator('#login-password').fill(MANAGER.password);
      await page.locator('#login-submit').click();
      const logout = page.getByRole('button', { name: '退出登录' });
      await logout.waitFor();
      await measure('退出登录', '.account-bar .btn');
      assert.deepEqual(small, [], 'controls under 44 px');
    } finally {
      await context.close();
    }
  });
});
