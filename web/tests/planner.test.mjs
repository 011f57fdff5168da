// Browser tests of the planners' view (规划) against a running server seeded with the demo
// stations and the Jiangxi regions:
//
//   YIZHAN_URL=http://127.0.0.1:8080 [YIZHAN_PLANNER_LOGIN=… YIZHAN_PLANNER_PASSWORD=…] \
//   node --test web/tests/planner.test.mjs
//
// With a planner account (tests/web_e2e.rs makes one) the last test imports demand points
// (replacing any imported demand) and signs in through the view; without it, that test is skipped.
//
// Every figure the page shows is checked against the API answer it came from, and the changes a
// planner makes (mode, suggestions, what-if stations) must move the figures the right way. The
// screenshots go to web/tests/artifacts/planner-*.png (git-ignored) for a person to look at.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { BASE, DESKTOP, PHONE, SKIP, launchBrowser, openApp } from './support.mjs';

const PLANNER = { login: process.env.YIZHAN_PLANNER_LOGIN, password: process.env.YIZHAN_PLANNER_PASSWORD };
const SKIP_PLANNER = SKIP || (PLANNER.login && PLANNER.password
  ? false : 'YIZHAN_PLANNER_LOGIN and YIZHAN_PLANNER_PASSWORD are not set');

/** A second server with a road network loaded (Helsinki's extract: no road near Jiangxi). */
const NETWORK_BASE = process.env.YIZHAN_NETWORK_APP_URL?.replace(/\/+$/, '');
const SKIP_NETWORK = SKIP || (NETWORK_BASE ? false : 'YIZHAN_NETWORK_APP_URL is not set');

const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
const NANCHANG_CITY = '360100';
/** Coverage is computed on request (a debug build is slow): long waits for its answers. */
const SLOW = { timeout: 90000 };

let browser;

const it = (name, fn, skip = SKIP) => test(name, { skip, timeout: 240000 }, fn);

const pathOf = (r) => new URL(r.url()).pathname;
const isCoverage = (r) => pathOf(r) === '/api/v1/coverage' && r.request().method() === 'GET';
const isSuggestions = (r) => pathOf(r) === '/api/v1/coverage/suggestions';
const isWhatIf = (r) => pathOf(r) === '/api/v1/coverage/what-if' && r.request().method() === 'POST';

async function shot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${ARTIFACTS}planner-${name}.png`, fullPage: false });
}

/** Resolves when no request of the view is in flight and figures are on show. */
async function settled(page) {
  await page.waitForFunction(() => document.querySelector('#planner-view')?.dataset.busy === 'false'
    && document.querySelector('#pl-share')?.dataset.share, null, SLOW);
}

const shareShown = async (page) => Number(await page.locator('#pl-share').getAttribute('data-share'));

/** Opens #planner and waits for the first coverage answer (南昌市 by default); returns its body. */
async function openPlanner(device = PHONE) {
  const app = await openApp(browser, { device });
  const first = app.page.waitForResponse(isCoverage, SLOW);
  await app.page.goto(`${BASE}/#planner`);
  const res = await first;
  const body = await res.json();
  assert.equal(res.status(), 200, `coverage answered ${res.status()}: ${JSON.stringify(body)}`);
  await settled(app.page);
  return { ...app, first: body, firstUrl: new URL(res.url()) };
}

/** Console errors other than the 401 of "who am I?" when nobody is signed in. */
const realErrors = (seen) => seen.consoleErrors.filter((m) => !/status of 401/.test(m));

/** The centre of an element, checked to be what a tap there would hit (not covered by anything). */
async function tapPoint(page, locator, what) {
  const box = await locator.boundingBox();
  assert.ok(box, `${what} is on the page`);
  const x = box.x + box.width / 2;
  const y = box.y + box.height / 2;
  const hit = await locator.evaluate((e, [px, py]) => e.contains(document.elementFromPoint(px, py)), [x, y]);
  assert.ok(hit, `${what} is not covered by anything at (${x}, ${y})`);
  return { x, y };
}

describe('planner view (规划)', () => {
  before(async () => {
    if (SKIP) return;
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  it('shows 南昌市 by default: figures from the API, counties worst first, uncovered areas on the map', async () => {
    const { context, page, seen, first, firstUrl } = await openPlanner(DESKTOP);
    try {
      assert.equal(await page.locator('#nav-planner').getAttribute('aria-current'), 'page');
      assert.equal(firstUrl.searchParams.get('region'), NANCHANG_CITY);
      assert.equal(firstUrl.searchParams.get('mode'), 'walk');
      assert.equal(firstUrl.searchParams.get('minutes'), '15');
      assert.equal(firstUrl.searchParams.get('open'), null, 'all stations count by default');
      assert.equal(firstUrl.searchParams.get('travel'), null, 'no road network: the server default');
      assert.equal(first.travel, 'straight_line');
      assert.ok(await page.locator('#pl-travel').isHidden(), 'no 直线/路网 toggle without a network');
      assert.equal(await page.locator('#pl-no-access').count(), 0, 'no road-access figure for straight lines');

      // The summary is the API's total, formatted.
      const summary = page.locator('#pl-summary');
      assert.equal(await summary.getAttribute('data-region'), NANCHANG_CITY);
      assert.match(await summary.locator('h3').innerText(), /^南昌市 · 步行 15 分钟/);
      assert.equal(await shareShown(page), first.total.covered_share);
      assert.equal(await page.locator('#pl-share').innerText(), `${(first.total.covered_share * 100).toFixed(1)}%`);
      assert.match(await page.locator('#pl-uncovered').innerText(), /^[\d,]+\.\d 平方公里$/);
      assert.equal(await page.locator('#pl-stations').innerText(), `${first.total.stations.toLocaleString('zh-CN')} 个`);
      const meta = await page.locator('#pl-meta').innerText();
      assert.ok(meta.includes(`数据版本 ${first.data_version}`), `data version in: ${meta}`);
      assert.match(meta, /计算用时 [\d,]+ 毫秒/);
      assert.ok(meta.includes(first.attribution), `attribution in: ${meta}`);
      assert.match(await page.locator('#pl-demo').innerText(), /示例数据.*演示驿站/, 'figures are said to be computed on demo stations');
      assert.match(await page.locator('.leaflet-control-attribution').innerText(), /边界数据来源：高德/);

      // The region picker shows where 南昌市 is.
      assert.equal(await page.locator('#pl-region-province').inputValue(), '360000');
      assert.equal(await page.locator('#pl-region-city').inputValue(), NANCHANG_CITY);
      assert.equal(await page.locator('#pl-region-county').inputValue(), '');
      assert.ok(await page.locator('#pl-region-county option').count() > 2, 'Nanchang’s counties to pick from');

      // The table: every county of the answer, worst covered first.
      const rows = page.locator('#pl-counties tbody tr[data-adcode]');
      const n = await rows.count();
      assert.ok(n >= 2, `at least two counties, got ${n}`);
      assert.equal(n, first.counties.length);
      const shares = await rows.evaluateAll((trs) => trs.map((tr) => Number(tr.dataset.share)));
      assert.deepEqual(shares, [...shares].sort((a, b) => a - b), 'sorted by covered share, ascending');
      assert.deepEqual(await rows.locator('th').allInnerTexts(), first.counties.map((c) => c.name));
      const firstCells = await rows.first().locator('td').allInnerTexts();
      assert.equal(firstCells[0], `${(first.counties[0].covered_share * 100).toFixed(1)}%`);
      assert.equal(await page.locator('#pl-counties thead th').count(), 5, 'no demand columns without demand data');

      // The map: a fill per county, and the uncovered areas as red paths.
      assert.equal(await page.locator('#planner-map path.county-fill').count(), n);
      assert.ok(first.gaps.features.length > 0, 'the demo stations leave gaps in Nanchang');
      assert.ok(await page.locator('#planner-map path.gap-area').count() > 0, 'the gap layer has paths');
      assert.equal(await page.locator('.coverage-legend .legend-scale .legend-box').count(), 5, 'five classes in the legend');
      await shot(page, 'desktop');

      // A row zooms the map to its county.
      const worst = first.counties[0].adcode;
      const fill = page.locator(`#planner-map path.county-fill[data-adcode="${worst}"]`);
      const before = await fill.boundingBox();
      await rows.first().click();
      await page.waitForFunction(([a, w]) => {
        const b = document.querySelector(`#planner-map path.county-fill[data-adcode="${a}"]`)?.getBoundingClientRect();
        return b && b.width > w * 1.5;
      }, [worst, before.width], { timeout: 10000 });

      assert.deepEqual(realErrors(seen), [], 'no console errors');
      assert.deepEqual(seen.foreign, [], 'no request to another host');
    } finally {
      await context.close();
    }
  });

  it('e-bike covers more than walking; the 24-hour switch asks for open=24h', async () => {
    const { context, page, first } = await openPlanner();
    try {
      const walk = await shareShown(page);
      assert.equal(walk, first.total.covered_share);
      const asked = page.waitForResponse((r) => isCoverage(r) && new URL(r.url()).searchParams.get('mode') === 'ebike', SLOW);
      await page.locator('label:has(#pl-mode-ebike)').click();
      const res = await asked;
      assert.equal(res.status(), 200);
      const ebike = await res.json();
      await page.locator('#pl-summary[data-mode="ebike"]').waitFor(SLOW);
      await settled(page);
      assert.equal(await shareShown(page), ebike.total.covered_share);
      assert.ok(ebike.total.covered_share > walk, `e-bike ${ebike.total.covered_share} > walk ${walk}`);
      assert.match(await page.locator('#pl-summary h3').innerText(), /电动车 15 分钟/);

      // Minutes: out of range is refused on the page; 10 minutes cover less than 15.
      const asks = [];
      page.on('request', (r) => { if (pathOf(r) === '/api/v1/coverage') asks.push(r.url()); });
      await page.locator('#pl-minutes').fill('0');
      await page.locator('#pl-minutes').press('Enter');
      await page.locator('#pl-minutes-error').filter({ hasText: '1 到 60' }).waitFor();
      assert.equal(await page.locator('#pl-minutes').getAttribute('aria-invalid'), 'true');
      assert.deepEqual(asks, [], 'nothing asked for 0 minutes');
      const ten = page.waitForResponse((r) => isCoverage(r) && new URL(r.url()).searchParams.get('minutes') === '10', SLOW);
      await page.locator('#pl-minutes').fill('10');
      await page.locator('#pl-minutes').press('Enter');
      const tenBody = await (await ten).json();
      await page.locator('#pl-summary[data-minutes="10"]').waitFor(SLOW);
      await settled(page);
      assert.ok(await page.locator('#pl-minutes-error').isHidden());
      assert.ok(tenBody.total.covered_share < ebike.total.covered_share, 'ten minutes cover less than fifteen');
      await page.locator('#pl-minutes').fill('15');
      await page.locator('#pl-minutes').press('Enter');
      await page.locator('#pl-summary[data-minutes="15"]').waitFor(SLOW);
      await settled(page);

      const only24 = page.waitForResponse((r) => isCoverage(r) && new URL(r.url()).searchParams.get('open') === '24h', SLOW);
      await page.locator('label:has(#pl-open24)').click();
      const r24 = await only24;
      assert.equal(r24.status(), 200);
      const body24 = await r24.json();
      await settled(page);
      assert.match(await page.locator('#pl-summary h3').innerText(), /只算 24 小时驿站/);
      assert.ok(body24.total.stations <= ebike.total.stations, 'fewer (or as many) stations count');
      assert.ok(body24.total.covered_share <= ebike.total.covered_share, 'so no more is covered');
      await shot(page, 'phone-ebike');
    } finally {
      await context.close();
    }
  });

  it('suggests 3 numbered sites, and a what-if station there raises the covered share', async () => {
    const { context, page, seen, first } = await openPlanner(DESKTOP);
    try {
      const base = await shareShown(page);
      await page.locator('#pl-suggest-k').fill('3');
      const asked = page.waitForResponse(isSuggestions, SLOW);
      await page.locator('#pl-suggest').click();
      const res = await asked;
      const sugg = await res.json();
      assert.equal(res.status(), 200, `suggestions answered ${res.status()}: ${JSON.stringify(sugg)}`);
      const q = new URL(res.url()).searchParams;
      assert.equal(q.get('k'), '3');
      assert.equal(q.get('region'), NANCHANG_CITY);
      assert.equal(q.get('mode'), 'walk');
      assert.equal(q.get('minutes'), '15');
      assert.equal(sugg.suggestions.length, 3);
      await settled(page);

      // Three numbered markers and three list entries saying what each adds.
      const pins = page.locator('#planner-map .suggest-pin');
      assert.equal(await pins.count(), 3);
      assert.deepEqual(await pins.locator('.suggest-dot').allInnerTexts(), ['1', '2', '3']);
      const items = page.locator('#pl-suggestions li');
      assert.equal(await items.count(), 3);
      for (let i = 0; i < 3; i++) {
        const s = sugg.suggestions[i];
        const text = await items.nth(i).innerText();
        assert.ok(text.includes(s.county.name), `suggestion ${i + 1} names its county: ${text}`);
        assert.match(text, /新增覆盖 [\d,.]+ 平方公里/);
        assert.ok(text.includes(`累计覆盖率 ${(s.total_covered_share * 100).toFixed(2)}%`), `total share in: ${text}`);
      }
      const s1 = sugg.suggestions[0];
      assert.ok(s1.adds_km2 > 0, 'the best site adds something');
      const pin1 = page.locator('#planner-map .suggest-pin[data-rank="1"]');
      let p = await tapPoint(page, pin1, 'suggestion 1');
      await page.mouse.click(p.x, p.y);
      const popup = page.locator('.leaflet-popup .suggest-popup[data-rank="1"]');
      await popup.waitFor();
      const adds = await popup.locator('.suggest-adds').innerText();
      const digits = s1.adds_km2 < 1 ? 2 : 1;
      const km = new Intl.NumberFormat('zh-CN', { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(s1.adds_km2);
      assert.equal(adds, `新增覆盖 ${km} 平方公里`);
      assert.match(await popup.innerText(), new RegExp(`位于${s1.county.name}`));
      await page.waitForTimeout(500); // the popup fades in and the map pans to it
      await shot(page, 'desktop-suggestions');

      // What-if on: a tap at suggestion 1's position places a hypothetical station there.
      await page.locator('label:has(#pl-whatif)').click();
      await popup.waitFor({ state: 'detached' });
      const posted = page.waitForResponse(isWhatIf, SLOW);
      p = await tapPoint(page, pin1, 'suggestion 1');
      await page.mouse.click(p.x, p.y);
      const wr = await posted;
      const what = await wr.json();
      assert.equal(wr.status(), 200, `what-if answered ${wr.status()}: ${JSON.stringify(what)}`);
      const sent = wr.request().postDataJSON();
      assert.equal(sent.region, NANCHANG_CITY);
      assert.equal(sent.mode, 'walk');
      assert.equal(sent.minutes, 15);
      assert.equal(sent.stations.length, 1);
      assert.ok(Math.abs(sent.stations[0].lat - s1.lat) < 1e-5 && Math.abs(sent.stations[0].lon - s1.lon) < 1e-5,
        `the station is where suggestion 1 is: ${JSON.stringify(sent.stations[0])} vs ${s1.lat},${s1.lon}`);
      await page.locator('#pl-summary[data-hypothetical="1"]').waitFor(SLOW);
      await settled(page);
      const withOne = await shareShown(page);
      assert.equal(withOne, what.total.covered_share, 'the page shows the what-if answer');
      assert.ok(withOne > base, `covered share rises: ${base} → ${withOne}`);
      assert.ok(Math.abs(withOne - s1.total_covered_share) < 0.02,
        `what-if at suggestion 1 (${withOne}) agrees with its promise (${s1.total_covered_share})`);
      assert.equal(what.before.covered_share, first.total.covered_share, '"before" is the coverage without it');
      const compare = await page.locator('#pl-compare').innerText();
      const pp = ((what.total.covered_share - what.before.covered_share) * 100).toFixed(2);
      assert.ok(compare.startsWith(`假设新增 1 个站点：覆盖率 ${(what.before.covered_share * 100).toFixed(2)}% → ${(withOne * 100).toFixed(2)}%（+${pp} 个百分点），覆盖面积 +`),
        `the change is spelled out: ${compare}`);
      assert.notEqual(pp, '0.00', 'a change big enough to show');
      assert.equal(await page.locator('#planner-map .hypo-pin').count(), 1);
      assert.match(await page.locator('#pl-whatif-count').innerText(), /已放置 1 个假设站点/);
      await shot(page, 'desktop-whatif');

      // Tapping the hypothetical station removes it: back to the real figures, without a request.
      p = await tapPoint(page, page.locator('#planner-map .hypo-pin'), 'the hypothetical station');
      await page.mouse.click(p.x, p.y);
      await page.locator('#pl-summary[data-hypothetical="0"]').waitFor();
      assert.equal(await page.locator('#planner-map .hypo-pin').count(), 0);
      assert.equal(await shareShown(page), base);
      assert.ok(await page.locator('#pl-compare').isHidden());

      // A tap elsewhere on the map places one too; "clear" takes them all away.
      const mapBox = await page.locator('#planner-map').boundingBox();
      const spot = await page.evaluate(([bx, by, bw, bh]) => {
        for (const [fx, fy] of [[0.5, 0.5], [0.45, 0.4], [0.55, 0.6], [0.6, 0.45], [0.4, 0.6]]) {
          const x = bx + bw * fx;
          const y = by + bh * fy;
          const e = document.elementFromPoint(x, y);
          if (e && e.closest('#planner-map') && !e.closest('.leaflet-marker-icon, .leaflet-control, .leaflet-popup')) return { x, y };
        }
        return null;
      }, [mapBox.x, mapBox.y, mapBox.width, mapBox.height]);
      assert.ok(spot, 'a bare spot on the map');
      const posted2 = page.waitForResponse(isWhatIf, SLOW);
      await page.mouse.click(spot.x, spot.y);
      assert.equal((await posted2).status(), 200);
      await page.locator('#pl-summary[data-hypothetical="1"]').waitFor(SLOW);
      assert.equal(await page.locator('#planner-map .hypo-pin').count(), 1);
      await page.locator('#pl-whatif-clear').click();
      await page.locator('#pl-summary[data-hypothetical="0"]').waitFor();
      assert.equal(await page.locator('#planner-map .hypo-pin').count(), 0);
      assert.equal(await shareShown(page), base);
      assert.deepEqual(realErrors(seen), [], 'no console errors');
    } finally {
      await context.close();
    }
  });

  it('switches to English: labels, numbers and the legend follow', async () => {
    const { context, page, first } = await openPlanner(DESKTOP);
    try {
      await page.locator('#lang-toggle').click();
      await page.locator('#nav-planner').filter({ hasText: 'Planning' }).waitFor();
      assert.equal(await page.locator('html').getAttribute('lang'), 'en');
      assert.match(await page.locator('#pl-summary h3').innerText(), /^南昌市 · 15 min on foot/);
      assert.deepEqual(await page.locator('#pl-summary dt').allInnerTexts(),
        ['Covered', 'Not covered', 'Stations', 'Stations per 10 km²']);
      assert.equal(await page.locator('#pl-share').innerText(), `${(first.total.covered_share * 100).toFixed(1)}%`);
      assert.match(await page.locator('#pl-uncovered').innerText(), /^[\d,]+\.\d km²$/);
      assert.match(await page.locator('#pl-counties caption').innerText(), /Counties, least covered first/);
      assert.equal(await page.locator('#pl-counties thead th').first().innerText(), 'County');
      assert.match(await page.locator('label:has(#pl-whatif)').innerText(), /What-if/);
      assert.equal(await page.locator('#pl-suggest').innerText(), 'Suggest');
      assert.match(await page.locator('#pl-demo').innerText(), /Demo data/);
      assert.match(await page.locator('.coverage-legend .legend-title').innerText(), /Covered share/);
      assert.match(await page.locator('#pl-meta').innerText(), /[Cc]omputed in [\d,]+ ms\)? · data version/);
      await shot(page, 'desktop-en');
    } finally {
      await context.close();
    }
  });

  it('on a phone the map and the panel stack, and everything reachable is at least 44 px', async () => {
    const { context, page } = await openPlanner(PHONE);
    try {
      const map = await page.locator('#planner-map').boundingBox();
      const panel = await page.locator('.planner-panel').boundingBox();
      assert.ok(map.height >= 250, `map height ${map.height}`);
      assert.ok(panel.y >= map.y + map.height - 1, 'the panel is below the map');
      assert.ok(map.width >= 380, `map width ${map.width}`);
      const small = await page.evaluate(() => [...document.querySelectorAll(
        '.planner-panel button, .planner-panel select, .planner-panel input[type=number], .planner-panel .switch, .planner-panel .segmented span',
      )].filter((e) => e.offsetParent !== null)
        .map((e) => ({ e: e.id || e.className || e.tagName, h: e.getBoundingClientRect().height }))
        .filter((x) => x.h < 40));
      assert.deepEqual(small, [], 'tap targets of at least 40 px (44 for the main ones)');
      await shot(page, 'phone');
    } finally {
      await context.close();
    }
  });

  it('shows the demand columns when the answer has demand figures', async () => {
    const app = await openApp(browser, { device: DESKTOP });
    const { context, page } = app;
    try {
      // Demand data needs a planner's session and imported demand: here the answer is extended
      // on its way to the page, to check what the page makes of such rows.
      await page.route((u) => u.pathname === '/api/v1/coverage', async (route) => {
        const res = await route.fetch();
        const body = await res.json();
        body.counties.forEach((c, i) => Object.assign(c, { demand: 1000 * (i + 1), covered_demand: 500 * (i + 1), covered_demand_share: 0.5 }));
        await route.fulfill({ response: res, json: body });
      });
      await page.goto(`${BASE}/#planner`);
      await settled(page);
      assert.deepEqual((await page.locator('#pl-counties thead th').allInnerTexts()).slice(5), ['需求', '已覆盖需求', '需求覆盖率']);
      const cells = await page.locator('#pl-counties tbody tr').nth(1).locator('td').allInnerTexts();
      assert.deepEqual(cells.slice(4), ['2,000', '1,000', '50.0%']);
    } finally {
      await context.close();
    }
  });

  it('an error from the API is shown with its message and a retry', async () => {
    const { context, page } = await openApp(browser);
    try {
      // An unknown region (as a stale link or a withdrawn code would give) is a 404 from the server.
      let broken = true;
      await page.route((u) => u.pathname === '/api/v1/coverage', (route) => {
        const u = new URL(route.request().url());
        if (broken) u.searchParams.set('region', '999999');
        return route.continue({ url: u.href });
      });
      const res = page.waitForResponse(isCoverage, SLOW);
      await page.goto(`${BASE}/#planner`);
      const r = await res;
      assert.equal(r.status(), 404);
      const { error } = await r.json();
      const box = page.locator('#planner-view .error');
      await box.waitFor();
      assert.equal(await box.getAttribute('role'), 'alert');
      assert.ok((await box.innerText()).includes(error.message), `the server's message is shown: ${await box.innerText()}`);
      broken = false;
      await box.getByRole('button', { name: '重试' }).click();
      await settled(page);
      assert.ok(await box.isHidden());
      assert.equal(await page.locator('#pl-summary').getAttribute('data-region'), NANCHANG_CITY);
    } finally {
      await context.close();
    }
  });
  it('a planner signs in here: demand columns, suggestions by demand; signing out hides them', async () => {
    // Demand points (pick-ups per day, say): some where no station reaches (where the area
    // suggestion goes), some in the well-covered middle of Nanchang.
    const gap = await fetch(`${BASE}/api/v1/coverage/suggestions?region=${NANCHANG_CITY}&k=1`).then((r) => r.json());
    const spot = gap.suggestions[0];
    assert.ok(spot, `an uncovered spot: ${JSON.stringify(gap)}`);
    const login = await fetch(`${BASE}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(PLANNER),
    });
    assert.equal(login.status, 200, 'the planner logs in through the API');
    const { token } = await login.json();
    const rows = ['lat,lon,weight,label'];
    for (let i = 0; i < 10; i++) rows.push(`${(spot.lat + (i - 5) * 0.0005).toFixed(6)},${(spot.lon + (i % 3 - 1) * 0.0005).toFixed(6)},${10 + i},pickups`);
    for (let i = 0; i < 10; i++) rows.push(`${28.68 + i * 0.001},${115.89 + i * 0.001},5,pickups`);
    const put = await fetch(`${BASE}/api/v1/demand`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'text/csv' },
      body: `${rows.join('\n')}\n`,
    });
    assert.equal(put.status, 200, `demand import: ${await put.text()}`);

    const { context, page, first, seen } = await openPlanner(DESKTOP);
    try {
      assert.ok(first.counties.every((c) => !('demand' in c)), 'no demand for anonymous callers');
      assert.equal(await page.locator('#pl-counties thead th').count(), 5);
      assert.ok(await page.locator('#pl-suggest-weight').isHidden(), 'no demand ranking offered');

      await page.locator('.planner-login summary').click();
      await page.locator('#pl-login-name').fill(PLANNER.login);
      await page.locator('#pl-login-password').fill(PLANNER.password);
      const again = page.waitForResponse(isCoverage, SLOW);
      await page.locator('.planner-login button[type=submit]').click();
      const res = await again;
      const withDemand = await res.json();
      assert.equal(res.status(), 200);
      await page.locator('#pl-account-who').filter({ hasText: PLANNER.login.toLowerCase() }).waitFor();
      assert.match(await page.locator('#pl-account-who').innerText(), /规划人员/);
      await settled(page);
      const row = withDemand.counties.find((c) => c.adcode === spot.county.adcode);
      assert.ok(row && row.demand > 0 && row.covered_demand < row.demand, `uncovered demand in ${spot.county.name}: ${JSON.stringify(row)}`);
      assert.deepEqual((await page.locator('#pl-counties thead th').allInnerTexts()).slice(5), ['需求', '已覆盖需求', '需求覆盖率']);
      const cells = await page.locator(`#pl-counties tbody tr[data-adcode="${row.adcode}"] td`).allInnerTexts();
      assert.equal(cells[4], Math.round(row.demand).toLocaleString('zh-CN'), `demand shown: ${cells}`);

      // Suggestions by demand go where the demand is.
      await page.locator('#pl-suggest-weight').selectOption('demand');
      await page.locator('#pl-suggest-k').fill('2');
      const asked = page.waitForResponse(isSuggestions, SLOW);
      await page.locator('#pl-suggest').click();
      const sr = await asked;
      const sugg = await sr.json();
      assert.equal(sr.status(), 200, `suggestions by demand: ${JSON.stringify(sugg)}`);
      assert.equal(new URL(sr.url()).searchParams.get('weight'), 'demand');
      assert.equal(sugg.weight, 'demand');
      const best = sugg.suggestions[0];
      assert.ok(best && best.adds_demand > 0, `the first site covers demand: ${JSON.stringify(sugg)}`);
      const km = Math.hypot((best.lat - spot.lat) * 111, (best.lon - spot.lon) * 111 * Math.cos(spot.lat * Math.PI / 180));
      assert.ok(km < 2, `the first site is by the uncovered demand (${km.toFixed(2)} km away)`);
      await page.locator('#pl-suggestions li').first().filter({ hasText: '新增覆盖需求' }).waitFor();
      await shot(page, 'desktop-demand');

      // Signing out takes the demand figures away again.
      const anon = page.waitForResponse(isCoverage, SLOW);
      await page.locator('.planner-account .account-bar button').click();
      await anon;
      await settled(page);
      await page.locator('.planner-login').waitFor();
      assert.equal(await page.locator('#pl-counties thead th').count(), 5);
      assert.ok(await page.locator('#pl-suggest-weight').isHidden());
      assert.deepEqual(realErrors(seen), [], 'no console errors');
    } finally {
      await context.close();
    }
  }, SKIP_PLANNER);
  it('offers 直线/路网 with a road network: the network by default, cells without roads apart, the straight line on request', async () => {
    const { context, page, seen } = await openApp(browser, { device: DESKTOP, base: NETWORK_BASE });
    try {
      const first = page.waitForResponse(isCoverage, SLOW);
      await page.goto(`${NETWORK_BASE}/#planner`);
      const res = await first;
      const body = await res.json();
      assert.equal(res.status(), 200, JSON.stringify(body));
      assert.equal(new URL(res.url()).searchParams.get('travel'), 'network');
      assert.equal(body.travel, 'network');
      await page.locator('#pl-summary[data-travel="network"]').waitFor(SLOW);
      await settled(page);
      assert.ok(await page.locator('#pl-travel').isVisible(), 'the toggle is offered');
      assert.ok(await page.locator('#pl-travel-network').isChecked());
      assert.deepEqual(await page.locator('#pl-travel label').allInnerTexts(), ['直线', '路网']);
      // Helsinki's roads are nowhere near Nanchang: every cell is without road access, none a gap.
      assert.equal(body.total.no_access_cells, body.total.cells);
      assert.equal(body.gaps.features.length, 0);
      assert.ok(await page.locator('#pl-no-access').isVisible());
      assert.equal(Number(await page.locator('#pl-no-access').getAttribute('data-km2')), body.total.no_access_km2);
      assert.match(await page.locator('#pl-summary').innerText(), /无道路可达/);

      const asked = page.waitForResponse((r) => isCoverage(r) && new URL(r.url()).searchParams.get('travel') === 'straight_line', SLOW);
      await page.locator('label:has(#pl-travel-straight_line)').click();
      const res2 = await asked;
      const line = await res2.json();
      assert.equal(res2.status(), 200, JSON.stringify(line));
      assert.equal(line.travel, 'straight_line');
      await page.locator('#pl-summary[data-travel="straight_line"]').waitFor(SLOW);
      await settled(page);
      assert.equal(await shareShown(page), line.total.covered_share);
      assert.ok(line.total.covered_share > 0, 'the demo stations cover some of Nanchang in a straight line');
      assert.equal(await page.locator('#pl-no-access').count(), 0, 'no road-access figure for straight lines');
      await shot(page, 'network-toggle');
      assert.deepEqual(realErrors(seen), []);
    } finally {
      await context.close();
    }
  }, SKIP_NETWORK);
});
