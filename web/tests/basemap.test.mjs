// A server configured with a raster basemap (tests/web_e2e.rs starts one: a fake GCJ-02 layer
// at https://t{0,1}.tiles.example.cn): the page draws its tiles from exactly those hosts, with no
// policy violation, credits the provider as text, and shifts positions into GCJ-02 and taps back.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NANCHANG, isNearest, launchBrowser, listSettled, openApp } from './support.mjs';

const APP = process.env.YIZHAN_BASEMAP_APP_URL?.replace(/\/+$/, '');
const SKIP = APP ? false : 'YIZHAN_BASEMAP_APP_URL is not set (a server started with --basemap-url)';
/** A 1×1 transparent PNG. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=', 'base64');

let browser;

describe('a configured raster basemap', () => {
  before(async () => {
    if (SKIP) return;
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  test('tiles come from the configured hosts only, the credit is text, and positions are shifted to GCJ-02 and back', { skip: SKIP, timeout: 90000 }, async () => {
    const { context, page, seen } = await openApp(browser, { geolocation: NANCHANG, base: APP });
    try {
      const tiles = [];
      await page.route('https://*.tiles.example.cn/**', (route) => {
        tiles.push(route.request().url());
        return route.fulfill({ status: 200, contentType: 'image/png', body: PNG });
      });
      const first = page.waitForResponse(isNearest);
      await page.goto(`${APP}/`);
      await first;
      await listSettled(page);
      await page.waitForFunction(() => document.querySelectorAll('.leaflet-tile-loaded').length > 0);
      assert.ok(tiles.length > 0, 'tiles were requested');
      for (const u of tiles) assert.match(u, /^https:\/\/t[01]\.tiles\.example\.cn\/gcj\/\d+\/\d+\/\d+\.png$/);
      assert.ok(seen.foreign.every((u) => /^https:\/\/t[01]\.tiles\.example\.cn\//.test(u)), `other hosts: ${seen.foreign}`);
      assert.deepEqual(seen.consoleErrors, [], 'no policy violation or other console error');
      const credit = await page.locator('.leaflet-control-attribution').innerText();
      assert.match(credit, /测试底图 <b>GS\(2026\)<\/b>/, 'the credit shows as text, not markup');
      assert.match(credit, /边界数据来源：高德/);
      assert.equal(await page.evaluate(async () => (await import('./js/coords.js')).getDisplayCrs()), 'gcj02');

      // The origin marker sits at Nanchang shifted into GCJ-02; a tap on it, confirmed, searches
      // from the rider's own WGS-84 position again (so the shift went both ways).
      // Station pins (tiles and results) may lie over the dot: this test is about the shift, so
      // taps go through them to the map. A style rule, not the pins' own styles: a tile that
      // loads later brings new pins, and one of them under the dot would take the tap.
      // (Through the CSSOM: the page's CSP refuses an inline <style>.)
      await page.evaluate(() => document.styleSheets[0].insertRule(
        '.leaflet-stationTiles-pane, .leaflet-stationTiles-pane *, .leaflet-marker-pane, .leaflet-marker-pane * { pointer-events: none !important; }',
      ));
      // The map fits the open stations found, so how far it is zoomed out depends on the hour
      // (at 02:00 in Beijing only the 24-hour ones are open, kilometres apart): zoomed out,
      // the popup offers to zoom in there first, and the dot is tapped again.
      const tapDot = async () => {
        const dot = await page.locator('.origin-marker').boundingBox();
        await page.mouse.click(dot.x + dot.width / 2, dot.y + dot.height / 2);
        await page.locator('.pick-popup button:not([hidden])').waitFor();
      };
      await tapDot();
      if (await page.locator('.pick-popup .pick-zoom').isVisible()) {
        await page.locator('.pick-popup .pick-zoom').click();
        await tapDot();
      }
      const nearest = page.waitForResponse((r) => isNearest(r) && !r.url().includes('limit=50'));
      await page.locator('.pick-popup .pick-confirm').click();
      const q = new URL((await nearest).url()).searchParams;
      // One pixel at the fitted zoom is a few metres: within 1e-4° (≈ 10 m), not the ≈ 500 m shift.
      assert.ok(Math.abs(Number(q.get('lat')) - NANCHANG.latitude) < 1e-4, `lat ${q.get('lat')}`);
      assert.ok(Math.abs(Number(q.get('lon')) - NANCHANG.longitude) < 1e-4, `lon ${q.get('lon')}`);
    } finally {
      await context.close();
    }
  });
});
