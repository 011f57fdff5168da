// Navigation links built in the browser (js/nav.js) against the server's own (`include=nav`,
// src/http/nav.rs) for the same stations: the same text, and every coordinate within 1e-6°
// (the reply's station positions are rounded to 7 decimals, the server converts unrounded ones).
// The comparison needs a running server:
//   YIZHAN_URL=http://127.0.0.1:8080 node --test web/tests/nav.test.mjs
// (tests/web_e2e.rs runs it against the real binary); without YIZHAN_URL it is skipped.
import test from 'node:test';
import assert from 'node:assert/strict';
import { navLinks, percentEncode } from '../js/nav.js';

const BASE = process.env.YIZHAN_URL?.replace(/\/+$/, '');
const SKIP = BASE ? false : 'YIZHAN_URL is not set (e.g. http://127.0.0.1:8080)';
const COORD = /-?\d+\.\d{6}(?!\d)/g;

test('names are percent-encoded like the server (only ASCII letters and digits kept)', () => {
  assert.equal(percentEncode('驿站 A&B-1_(x).~*!\''), '%E9%A9%BF%E7%AB%99%20A%26B%2D1%5F%28x%29%2E%7E%2A%21%27');
  assert.equal(percentEncode('我的位置'), '%E6%88%91%E7%9A%84%E4%BD%8D%E7%BD%AE');
});

test('links carry both ends in each app\'s system', () => {
  const l = navLinks({ lat: 28.68, lon: 115.89 }, { lat: 28.69, lon: 115.9 }, 'X', 'ebike');
  assert.match(l.amap, /^https:\/\/uri\.amap\.com\/navigation\?from=115\.89\d+,28\.67\d+,/);
  assert.match(l.amap, /&mode=ride&/);
  assert.match(l.baidu, /&mode=riding&coord_type=bd09ll/);
  assert.match(l.tencent, /^https:\/\/apis\.map\.qq\.com\/uri\/v1\/routeplan\?type=bike&/);
});

/** Asserts `mine` and `theirs` are the same link but for coordinates, and those within 1e-6. */
function sameLink(mine, theirs, what) {
  assert.equal(mine.replace(COORD, '#'), theirs.replace(COORD, '#'), what);
  const a = mine.match(COORD).map(Number);
  const b = theirs.match(COORD).map(Number);
  assert.equal(a.length, b.length, what);
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) <= 1.0000001e-6, `${what}: ${v} vs ${b[i]}\n${mine}\n${theirs}`));
}

test('links built here match the server\'s include=nav links', { skip: SKIP, timeout: 60000 }, async () => {
  const origins = [
    { lat: 28.68, lon: 115.89 }, // Nanchang
    { lat: 25.831, lon: 114.935 }, // Ganzhou
    { lat: 29.705, lon: 116.001 }, // Jiujiang
    { lat: 27.635, lon: 113.855 }, // Pingxiang
  ];
  let compared = 0;
  let identical = 0;
  for (const origin of origins) {
    for (const mode of ['walk', 'ebike']) {
      const url = `${BASE}/api/v1/stations/nearest?lat=${origin.lat.toFixed(6)}&lon=${origin.lon.toFixed(6)}`
        + `&limit=20&mode=${mode}&include=nav`;
      const res = await fetch(url);
      assert.equal(res.status, 200, url);
      const data = await res.json();
      assert.ok(data.items.length > 0, `no stations near ${url}`);
      for (const item of data.items) {
        assert.ok(item.nav, `include=nav gives links: ${JSON.stringify(item)}`);
        const mine = navLinks(origin, item, item.name, data.mode);
        for (const app of ['amap', 'baidu', 'tencent']) {
          sameLink(mine[app], item.nav[app], `${app} for ${item.name} (${mode})`);
          compared += 1;
          if (mine[app] === item.nav[app]) identical += 1;
        }
      }
    }
  }
  // Almost all byte-identical: a last-digit difference needs a value within 1e-7 of a rounding edge.
  assert.ok(identical >= compared * 0.9, `${identical} of ${compared} identical`);
  const plain = await (await fetch(`${BASE}/api/v1/stations/nearest?lat=28.68&lon=115.89`)).json();
  assert.ok(plain.items.every((i) => i.nav === undefined), 'no links without include=nav');
});
