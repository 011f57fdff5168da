// The rider page on a server with a road network (Helsinki's extract, three stations on its
// streets placed by tests/web_e2e.rs): the minutes shown are the ones measured on the roads,
// marked as such, for walking and for the e-bike; stations off the roads (the demo stations,
// thousands of kilometres away) keep the straight-line estimate, marked as an estimate.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SKIP, isNearest, launchBrowser, listSettled, openApp, screenshot } from './support.mjs';

const NETWORK_BASE = process.env.YIZHAN_NETWORK_APP_URL?.replace(/\/+$/, '');
const SKIP_NETWORK = SKIP || (NETWORK_BASE ? false : 'YIZHAN_NETWORK_APP_URL is not set');
/** Between the three Helsinki stations. */
const HELSINKI = { latitude: 60.1695, longitude: 24.944, accuracy: 20 };

let browser;

describe('rider page with a road network (phone)', () => {
  before(async () => {
    if (SKIP_NETWORK) return;
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  test('road minutes are shown and marked; off the roads the estimate is marked as one', { skip: SKIP_NETWORK, timeout: 90000 }, async () => {
    const { context, page, seen } = await openApp(browser, { geolocation: HELSINKI, base: NETWORK_BASE });
    try {
      const first = page.waitForResponse((r) => isNearest(r) && !r.url().includes('limit=50'));
      await page.goto(`${NETWORK_BASE}/`);
      const body = await (await first).json();
      await listSettled(page);
      // The page does not ask for codes (include=code): the test stations are named by theirs.
      const byCode = new Map(body.items.map((i) => [i.name.replace('测试驿站 ', ''), i]));
      for (const code of ['E2E-HEL-1', 'E2E-HEL-2', 'E2E-HEL-3']) {
        const item = byCode.get(code);
        assert.ok(item, `${code} among the nearest: ${[...byCode.keys()]}`);
        assert.equal(item.minutes_source, 'network', `${code} measured on the roads`);
        assert.equal(typeof item.network_minutes, 'number');
      }
      // Each card shows what its item says: road minutes as 路网, others as 直线估算.
      const cards = await page.locator('#results > li').evaluateAll((lis) => lis.map((li) => ({
        minutes: li.querySelector('.station-minutes')?.textContent ?? '',
      })));
      assert.equal(cards.length, body.items.length);
      for (const [i, item] of body.items.entries()) {
        if (item.minutes_source === 'network' && item.network_minutes != null) {
          const n = Math.max(1, Math.round(item.network_minutes));
          assert.equal(cards[i].minutes, `步行 ${n} 分钟（路网）`, `card ${i} (${item.name})`);
        } else {
          assert.match(cards[i].minutes, /^步行约 [\d,]+ 分钟（直线估算）$/, `card ${i} (${item.name})`);
        }
      }
      await screenshot(page, 'rider-network-walk');

      // The e-bike: asked again, road minutes of the e-bike graph.
      const again = page.waitForResponse((r) => isNearest(r) && new URL(r.url()).searchParams.get('mode') === 'ebike');
      await page.locator('label:has(input[name="mode"][value="ebike"])').click();
      const ebike = await (await again).json();
      await listSettled(page);
      const top = ebike.items[0];
      assert.equal(top.minutes_source, 'network');
      const shown = await page.locator('#results > li .station-minutes').first().textContent();
      assert.equal(shown, `电动车 ${Math.max(1, Math.round(top.network_minutes))} 分钟（路网）`);
      assert.deepEqual(seen.consoleErrors, [], 'no console errors');
    } finally {
      await context.close();
    }
  });
});
