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
const it = (name, fn, skip = SKIP) => test(name, { skip, timeout: 60000 }, fn);

/** A second server with a road network loaded (Helsinki's extract), for the streets layer. */
const NETWORK_BASE = process.env.YIZHAN_NETWORK_APP_URL?.replace(/\/+$/, '');
const SKIP_NETWORK = SKIP || (NETWORK_BASE ? false : 'YIZHAN_NETWORK_APP_URL is not set');
const HELSINKI = { latitude: 60.1699, longitude: 24.9384, accuracy: 25 };

/** West, south, east, north of an XYZ tile (same formula as the server, written again here). */
function tileBounds(z, x, y) {
  const n = 2 ** z;
  const lon = (v) => (v / n) * 360 - 180;
  const lat = (v) => (Math.atan(Math.sinh(Math.PI * (1 - (2 * v) / n))) * 180) / Math.PI;
  return [lon(x), lat(y + 1), lon(x + 1), lat(y)];
}

async function openRider({ base = BASE, geolocation = NANCHANG } = {}) {
  const ctx = await openContext(browser, { geolocation, base });
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
  await ctx.page.goto(`${base}/`);
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
  it('with a road network the streets are painted under the stations, line for line what the tiles hold', async () => {
    const { context, page, seen } = await openRider({ base: NETWORK_BASE, geolocation: HELSINKI });
    try {
      await page.waitForFunction(() => {
        let found = false;
        window.__maps?.[0]?.eachLayer((l) => { if (l.options?.pane === 'roads' && l.createTile) found = true; });
        return found;
      });
      await page.evaluate(([la, lo]) => new Promise((resolve) => {
        const map = window.__maps[0];
        let roads;
        map.eachLayer((l) => { if (l.options?.pane === 'roads' && l.createTile) roads = l; });
        roads.once('load', () => resolve());
        map.setView([la, lo], 14, { animate: false });
        // The rider's own position may have put the map there already, every tile loaded: then
        // no 'load' follows a view that does not move.
        setTimeout(() => { if (!roads.isLoading()) resolve(); }, 500);
      }), [HELSINKI.latitude, HELSINKI.longitude]);
      const painted = await page.locator('.leaflet-roads-pane canvas[data-lines]').evaluateAll((els) => els.map((e) => [e.dataset.tile, Number(e.dataset.lines)]));
      assert.ok(painted.length > 0, 'road tiles on the map');
      assert.ok(painted.some(([, n]) => n > 50), `streets drawn: ${JSON.stringify(painted)}`);
      // Each canvas drew exactly the lines of its tile, decoded here from the same URL.
      for (const [tile, n] of painted) {
        const want = await page.evaluate(async (t) => {
          const { decodeTile } = await import('/js/tiles.js');
          const res = await fetch(`/api/v1/tiles/roads/${t}.mvt`);
          if (res.status === 204) return 0;
          const layer = decodeTile(await res.arrayBuffer()).roads;
          return layer.features.reduce((k, f) => k + f.lines.filter((l) => l.length >= 2).length, 0);
        }, tile);
        assert.equal(n, want, `lines of ${tile}`);
      }
      // Under the stations, above the county outlines; credited.
      const z = await page.evaluate(() => ['basemap', 'roads', 'stationTiles'].map((p) => Number(window.__maps[0].getPane(p).style.zIndex)));
      assert.ok(z[0] < z[1] && z[1] < z[2], `pane order ${z}`);
      assert.match(await page.locator('.leaflet-control-attribution').innerText(), /OpenStreetMap/);
      assert.deepEqual(seen.consoleErrors, [], 'no console errors');
    } finally {
      await context.close();
    }
  }, SKIP_NETWORK);

  it('a view set at once again keeps the tiles already on their way: each is asked for once', async () => {
    const { context, page, seen } = await openRider();
    try {
      await viewAndWait(page, NANCHANG.latitude, NANCHANG.longitude, 8);
      const asked = new Map();
      const aborted = [];
      page.on('request', (r) => {
        const path = new URL(r.url()).pathname;
        if (path.startsWith('/api/v1/tiles/14/')) asked.set(path, (asked.get(path) || 0) + 1);
      });
      page.on('requestfailed', (r) => { if (r.url().includes('/api/v1/tiles/14/')) aborted.push(r.url()); });
      // What the page does when a rider is placed and the results come: a recentre at zoom 14,
      // then a fit at a higher zoom, both without animation. Leaflet drops every tile on each
      // (viewprereset) and asks again for the ones in view, while the first ones are on their way.
      // Jiujiang: tiles no earlier test of this page has fetched.
      const drawn = await page.evaluate(() => new Promise((resolve) => {
        const map = window.__maps[0];
        let tiles;
        map.eachLayer((l) => { if (l.options?.pane === 'stationTiles' && l.createTile) tiles = l; });
        tiles.once('load', () => resolve(Object.keys(tiles._tiles)));
        map.setView([29.705, 116.0], 14, { animate: false });
        map.setView([29.705, 116.0], 16, { animate: false });
      }));
      await page.waitForTimeout(1500);
      assert.ok(drawn.length > 0 && asked.size > 0, `tiles in view ${drawn}, asked ${[...asked.keys()]}`);
      for (const [path, n] of asked) assert.equal(n, 1, `${path} asked for ${n} times`);
      // The tiles of the final view were each fetched once and drawn: none was aborted.
      for (const key of drawn) {
        const [x, y, z] = key.split(':');
        assert.ok(!aborted.some((u) => u.endsWith(`/${z}/${x}/${y}.mvt`)), `tile ${key} in view was aborted`);
      }
      assert.deepEqual(seen.consoleErrors, [], 'no console errors');
    } finally {
      await context.close();
    }
  });

  it('without a road network no street tiles are asked for', async () => {
    const { context, page } = await openRider();
    const asked = [];
    page.on('request', (r) => { if (new URL(r.url()).pathname.startsWith('/api/v1/tiles/roads/')) asked.push(r.url()); });
    try {
      await viewAndWait(page, NANCHANG.latitude, NANCHANG.longitude, 12.5);
      assert.equal(await page.evaluate(() => Boolean(window.__maps[0].getPane('roads'))), false);
      assert.deepEqual(asked, []);
    } finally {
      await context.close();
    }
  });
});
