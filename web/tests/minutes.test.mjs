// Which minutes a rider sees (js/minutes.js): road minutes when the server measured them, the
// straight-line estimate marked as one when the server has roads but this item is off them,
// and the plain estimate when the server has no road network.
import test from 'node:test';
import assert from 'node:assert/strict';
import { minutesLabel } from '../js/minutes.js';
import { snapshot } from '../js/saved-nearby.js';
import { readFileSync } from 'node:fs';

test('road minutes win and are marked as such', () => {
  const item = { minutes: 9.7, network_minutes: 12.4, minutes_source: 'network' };
  assert.deepEqual(minutesLabel(item, 'walk'), { key: 'minutes.walk_network', n: 12 });
  assert.deepEqual(minutesLabel(item, 'ebike'), { key: 'minutes.ebike_network', n: 12 });
});

test('off the roads the straight-line estimate is marked; without roads it is plain', () => {
  assert.deepEqual(
    minutesLabel({ minutes: 3.2, minutes_source: 'straight_line' }, 'walk'),
    { key: 'minutes.walk_line', n: 3 },
  );
  // On the roads but no road path: the estimate, marked.
  assert.deepEqual(minutesLabel({ minutes: 0.2, minutes_source: 'network' }, 'ebike'), { key: 'minutes.ebike_line', n: 1 });
  assert.deepEqual(minutesLabel({ minutes: 7.6 }, 'walk'), { key: 'minutes.walk', n: 8 });
  assert.equal(minutesLabel({}, 'walk'), null);
});

test('every key it names exists in both languages', () => {
  // Chinese in i18n.js, English in i18n-en.js (loaded when chosen).
  const tables = ['../js/i18n.js', '../js/i18n-en.js'].map((f) => readFileSync(new URL(f, import.meta.url), 'utf8'));
  for (const key of ['walk', 'ebike', 'walk_network', 'ebike_network', 'walk_line', 'ebike_line']) {
    for (const [i, table] of tables.entries()) {
      const entries = table.match(new RegExp(`'minutes\\.${key}': '[^']*\\{n\\}[^']*'`, 'g')) ?? [];
      assert.equal(entries.length, 1, `minutes.${key} in ${i ? 'en' : 'zh'}: ${entries}`);
    }
  }
});

test('saved answers drop road minutes: they belong to the position they were measured from', () => {
  const saved = snapshot({
    origin: { lat: 60.17, lon: 24.94 },
    limit: 1,
    items: [{ id: 1, lat: 60.171, lon: 24.941, distance_m: 120, minutes: 2.1, network_minutes: 3.4, minutes_source: 'network' }],
  });
  assert.deepEqual(Object.keys(saved.items[0]).sort(), ['id', 'lat', 'lon']);
});
