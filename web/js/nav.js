// Navigation hand-off links to Amap, Baidu and Tencent maps, built in the browser from the
// station's and the rider's WGS-84 positions, each in the app's own coordinate system (Amap and
// Tencent GCJ-02, Baidu BD-09), byte for byte as the server's `include=nav` builds them
// (src/http/nav.rs): the nearest reply no longer carries ~1.2 KB of links per station.
// web/tests/nav.test.mjs compares the two against a running server.
import { wgs84ToBd09, wgs84ToGcj02 } from './coords.js';

/**
 * Percent-encodes everything but ASCII letters and digits (the server's `NON_ALPHANUMERIC` set;
 * encodeURIComponent alone would leave `-_.!~*'()` as they are).
 */
export function percentEncode(text) {
  return encodeURIComponent(text).replace(/[-_.!~*'()]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** "我的位置" (my position): the origin's label in every link. */
const HERE = percentEncode('我的位置');

const MODES = {
  walk: { amap: 'walk', baidu: 'walking', tencent: 'walk' },
  ebike: { amap: 'ride', baidu: 'riding', tencent: 'bike' },
};

/** Six decimals (about 0.1 m), as the server writes them. */
const f6 = (v) => v.toFixed(6);

/**
 * The three hand-off links from `origin` to `dest` (both `{lat, lon}` in WGS-84) for a station
 * called `name`, travelling by `mode` (`walk` or `ebike`): `{ amap, baidu, tencent }`.
 */
export function navLinks(origin, dest, name, mode = 'walk') {
  const m = MODES[mode] || MODES.walk;
  const [oglon, oglat] = wgs84ToGcj02(origin.lon, origin.lat);
  const [oblon, oblat] = wgs84ToBd09(origin.lon, origin.lat);
  const [glon, glat] = wgs84ToGcj02(dest.lon, dest.lat);
  const [blon, blat] = wgs84ToBd09(dest.lon, dest.lat);
  const n = percentEncode(name ?? '');
  return {
    amap: `https://uri.amap.com/navigation?from=${f6(oglon)},${f6(oglat)},${HERE}`
      + `&to=${f6(glon)},${f6(glat)},${n}&mode=${m.amap}&coordinate=gaode&callnative=1&src=yizhan`,
    baidu: `https://api.map.baidu.com/direction?origin=latlng:${f6(oblat)},${f6(oblon)}|name:${HERE}`
      + `&destination=latlng:${f6(blat)},${f6(blon)}|name:${n}&mode=${m.baidu}`
      + '&coord_type=bd09ll&region=&output=html&src=yizhan',
    tencent: `https://apis.map.qq.com/uri/v1/routeplan?type=${m.tencent}&from=${HERE}`
      + `&fromcoord=${f6(oglat)},${f6(oglon)}&to=${n}&tocoord=${f6(glat)},${f6(glon)}&referer=yizhan`,
  };
}
