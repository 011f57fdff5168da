// Browser tests of the station tile layer (js/tiles.js) on the rider map, against a running
// yizhan server seeded with the demo Jiangxi stations:
//
//   YIZHAN_URL=http://127.0.0.1:8080 node --test web/tests/tiles.test.mjs
//
// The map object is module-private; an init script hooks Leaflet's map constructor so the test
// can set views directly (the app's code is unchanged by it).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BASE, NANCHANG, SKIP, api, launchBrowser, listSettled, openApp as openContext } from './support.mjs';

let browser;
const it = (name, fn) => test(name, { skip: SKIP, timeout: 60000 }, fn);

/** West, south, east, north of an XYZ tile (same formula as the server, written again here). */
function tileBounds(z, x, y) {
  const n = 2 ** z;
  const lon = (v) => (v / n) * 360 - 180;
  const lat = (v) => (Math.atan(Math.sinh(Math.PI * (1 - (2 * v) / n))) * 180) / Math.PI;
  return [lon(x), lat(y + 1), lon(x + 1), lat(y)];
}

async function openRider() {
  const ctx = await openContext(browser, { geolocation: NANCHANG });
  await ctx.context.addInitScript(() => {
    let real;
    Object.defineProperty(window, 'L', {
      configurable: true,
      get: () => real,
      set: (v) => {
        real = v;
        v.Map.addInitHook(function hook() {
          window.__maps = [...(window.__maps || []), this];
        });
      },
    });
  });
  await ctx.page.goto(`${BASE}/`);
  await listSettled(ctx.page);
  return ctx;
}

/** Sets the rider map's view and waits until the station tiles of that view have loaded. */
async function viewAndWait(page, lat, lon, zoom) {
  // The tile layer's module loads on demand: wait for the layer first.
  await page.waitForFunction(() => {
    let found = false;
    window.__maps?.[0]?.eachLayer((l) => { if (l.options?.pane === 'stationTiles' && l.createTile) found = true; });
    return found;
  });
  await page.evaluate(([la, lo, z]) => new Promise((resolve) => {
    const map = window.__maps[0];
    let tiles;
    map.eachLayer((l) => { if (l.options?.pane === 'stationTiles' && l.createTile) tiles = l; });
    tiles.once('load', () => resolve());
    map.setView([la, lo], z, { animate: false });
  }), [lat, lon, zoom]);
  await page.waitForTimeout(200);
}

describe('station tiles on the rider map', () => {
  before(async () => {
    if (SKIP) return;
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  it('at zoom 8 cluster bubbles count exactly the stations of their tiles', async () => {
    const { context, page, seen } = await openRider();
    try {
      await viewAndWait(page, NANCHANG.latitude, NANCHANG.longitude, 8);
      const bubbles = await page.locator('.tile-cluster').evaluateAll((els) => els.map((e) => {
        const r = e.getBoundingClientRect();
        return {
          tile: e.dataset.tile,
          count: Number(e.dataset.count),
          hidden: e.style.display === 'none',
          x: r.x, y: r.y, w: r.width, h: r.height,
        };
      }));
      const z8 = bubbles.filter((b) => b.tile.startsWith('8/'));
      const shown = z8.filter((b) => !b.hidden);
      assert.ok(shown.length > 0, 'cluster bubbles at zoom 8');
      assert.equal(await page.locator('.tile-pin').count(), 0, 'no single pins at zoom 8');
      for (const b of shown) assert.ok(b.w >= 44 && b.h >= 44, `tap target ${b.w}×${b.h}`);
      // Bubbles that would cover each other are folded into one: no two shown ones overlap.
      for (const [i, a] of shown.entries()) {
        for (const b of shown.slice(i + 1)) {
          const overlap = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x) > 1
            && Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y) > 1;
          assert.ok(!overlap, `bubbles ${JSON.stringify(a)} and ${JSON.stringify(b)} overlap`);
        }
      }
      // What is shown adds up to exactly the stations of the tiles drawn, folded or not.
      let total = 0;
      for (const tile of new Set(z8.map((b) => b.tile))) {
        const [z, x, y] = tile.split('/').map(Number);
        const bbox = tileBounds(z, x, y).join(',');
        const { status, data: body } = await api('GET', `stations?bbox=${bbox}&limit=10000`);
        assert.equal(status, 200);
        total += body.features.length;
      }
      assert.equal(shown.reduce((n, b) => n + b.count, 0), total, 'shown bubbles count every station of their tiles once');
      // The view lies within the loaded tiles: every station in view is counted once.
      const view = await page.evaluate(() => window.__maps[0].getBounds().toBBoxString());
      const { data: inView } = await api('GET', `stations?bbox=${view}&limit=10000`);
      assert.ok(inView.features.length > 0 && inView.features.length <= total, `${inView.features.length} in view, ${total} counted`);
      // Nanchang's dense seed is in one of them.
      const near = await api('GET', `stations/nearest?lat=${NANCHANG.latitude}&lon=${NANCHANG.longitude}&limit=1`);
      assert.ok(near.data.items.length === 1 && total >= 1);

      // A tap on a bubble zooms in.
      const before = await page.evaluate(() => window.__maps[0].getZoom());
      // A bubble in the map's view that nothing covers, tapped where a finger would.
      const target = await page.evaluate(() => {
        const m = document.getElementById('map').getBoundingClientRect();
        for (const e of document.querySelectorAll('.tile-cluster')) {
          const r = e.getBoundingClientRect();
          const x = r.x + r.width / 2;
          const y = r.y + r.height / 2;
          const inside = x > m.left && x < m.right && y > m.top && y < m.bottom;
          if (inside && document.elementFromPoint(x, y)?.closest('.tile-cluster') === e) return { x, y };
        }
        return null;
      });
      assert.ok(target, 'an uncovered bubble in view');
      await page.mouse.click(target.x, target.y);
      await page.waitForTimeout(300);
      const afterZoom = await page.evaluate(() => window.__maps[0].getZoom());
      assert.ok(afterZoom > before, `zoom ${before} → ${afterZoom}`);
      assert.deepEqual(seen.consoleErrors, [], 'no console errors');
    } finally {
      await context.close();
    }
  });

  it('at zoom 16 near Nanchang the stations are pins, the rider\'s dot stays on top', async () => {
    const { context, page, seen } = await openRider();
    try {
      await viewAndWait(page, NANCHANG.latitude, NANCHANG.longitude, 16);
      const pins = await page.locator('.tile-pin').evaluateAll((els) => els.map((e) => ({
        id: Number(e.dataset.stationId),
        tile: e.dataset.tile,
        hidden: e.style.display === 'none',
        w: e.getBoundingClientRect().width,
      })));
      const shown = pins.filter((p) => !p.hidden);
      assert.ok(shown.length > 0, 'station pins at zoom 16');
      assert.equal(await page.locator('.tile-cluster').count(), 0, 'no clusters at zoom 16');
      for (const p of shown) assert.ok(p.w >= 44, `tap target ${p.w}`);
      // The pins of each tile are exactly the API's stations in that tile's bounds (tiles above the
      // points zoom are the points zoom's, overzoomed).
      const byTile = new Map();
      for (const p of pins) byTile.set(p.tile, [...(byTile.get(p.tile) || []), p.id]);
      for (const [tile, ids] of byTile) {
        const [z, x, y] = tile.split('/').map(Number);
        assert.equal(z, 14, `native zoom of ${tile}`);
        const { data: body } = await api('GET', `stations?bbox=${tileBounds(z, x, y).join(',')}&limit=10000`);
        const want = body.features.map((f) => f.properties?.id ?? f.id).sort((a, b) => a - b);
        assert.deepEqual([...ids].sort((a, b) => a - b), want, `pins of ${tile}`);
      }
      // The numbered results are not drawn twice.
      const numbered = await page.locator('#results li.station').evaluateAll((els) => els.map((e) => Number(e.dataset.id)));
      for (const p of shown) assert.ok(!numbered.includes(p.id), `result ${p.id} drawn once`);
      // Panes: the rider's dot above the numbered pins, those above the tile pins.
      const z = await page.evaluate(() => ['rider', 'markerPane', 'stationTiles'].map((p) => Number(window.__maps[0].getPane(p).style.zIndex || 600)));
      assert.ok(z[0] > z[1] && z[1] > z[2], `pane order ${z}`);
      assert.ok(await page.locator('.leaflet-rider-pane .origin-marker').count() === 1, 'dot in its own pane');
      assert.deepEqual(seen.consoleErrors, [], 'no console errors');
    } finally {
      await context.close();
    }
  });
});
