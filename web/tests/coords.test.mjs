// The web app builds navigation links and (with a GCJ-02 basemap) places markers with its own
// port of the server's coordinate conversions (js/coords.js). These fixtures were printed by the
// Rust crate `coordtransform` 0.4 the server uses (src/domain/crs.rs), so a drift in the port
// shows here; 1e-9° is about 0.1 mm.
import test from 'node:test';
import assert from 'node:assert/strict';
import {
  fromDisplay, gcj02ToWgs84, setDisplayCrs, toDisplay, wgs84ToBd09, wgs84ToGcj02,
} from '../js/coords.js';

const FROM_RUST = [
  { wgs: [115.8582, 28.6829], gcj: [115.86310047311959, 28.67956987454362], bd: [115.86968494286576, 28.68522674710331] },
  { wgs: [114.9309, 25.8311], gcj: [114.93562056431257, 25.827912542817508], bd: [114.94211748608465, 25.83401691714607] },
  { wgs: [117.9659, 29.3036], gcj: [117.97099520392122, 29.300811146532485], bd: [117.97743867701851, 29.307112284959562] },
  { wgs: [113.9, 27.6], gcj: [113.90521881426032, 27.59654705089137], bd: [113.91169480915069, 27.602630859226235] },
  { wgs: [118.48, 28.4], gcj: [118.48499543562309, 28.396793195909762], bd: [118.49154067818174, 28.402538320778948] },
  { wgs: [116.404, 39.915], gcj: [116.41024449916938, 39.91640428150164], bd: [116.41662724378733, 39.922699552216216] },
  { wgs: [121.4737, 31.2304], gcj: [121.47822305927693, 31.22845773757727], bd: [121.484781468503, 31.234310593689997] },
  { wgs: [87.6, 43.8], gcj: [87.60283897227161, 43.80121203029208], bd: [87.60921015182171, 43.80747250765041] },
  { wgs: [91.1, 29.65], gcj: [91.10156828347536, 29.647300329055074], bd: [91.10803737407012, 29.653419415608894] },
  { wgs: [108.9, 34.27], gcj: [108.90458618387119, 34.268380014298934], bd: [108.9111779338437, 34.27406012464056] },
  { wgs: [126.6, 45.75], gcj: [126.60591024103101, 45.751913682164364], bd: [126.61229821979313, 45.75828222092715] },
  { wgs: [110.3, 20], gcj: [110.3043031442536, 19.99792284033773], bd: [110.3107696391227, 20.004017212072977] },
];

const close = (actual, expected, eps, what) => {
  assert.ok(Math.abs(actual[0] - expected[0]) < eps && Math.abs(actual[1] - expected[1]) < eps,
    `${what}: got ${actual}, want ${expected}`);
};

test('wgs84 to gcj02 and bd09 agree with the server crate', () => {
  for (const p of FROM_RUST) {
    close(wgs84ToGcj02(...p.wgs), p.gcj, 1e-9, `gcj of ${p.wgs}`);
    close(wgs84ToBd09(...p.wgs), p.bd, 1e-9, `bd of ${p.wgs}`);
  }
});

test('gcj02 back to wgs84 within a millimetre', () => {
  for (const p of FROM_RUST) close(gcj02ToWgs84(...p.gcj), p.wgs, 1e-8, `wgs of ${p.gcj}`);
});

test('outside China nothing shifts', () => {
  assert.deepEqual(wgs84ToGcj02(2.35, 48.85), [2.35, 48.85]);
  assert.deepEqual(wgs84ToBd09(-74, 40.7), [-74, 40.7]);
});

test('the display crs shifts markers onto a gcj02 basemap and taps back', () => {
  setDisplayCrs('gcj02');
  try {
    const [lat, lon] = toDisplay(28.6829, 115.8582);
    close([lon, lat], FROM_RUST[0].gcj, 1e-9, 'display');
    const back = fromDisplay({ lat, lng: lon });
    close([back.lon, back.lat], [115.8582, 28.6829], 1e-8, 'tap');
  } finally {
    setDisplayCrs('wgs84');
  }
  assert.deepEqual(toDisplay(28.6829, 115.8582), [28.6829, 115.8582]);
});
