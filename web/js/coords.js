// Coordinate systems at the edge of the app. Stations and the rider's GPS are WGS-84; Amap and
// Tencent want GCJ-02, Baidu BD-09, and a licensed Chinese raster basemap is drawn in GCJ-02.
// The formulas are those of the Rust crate `coordtransform` the server uses (src/domain/crs.rs);
// web/tests/coords.test.mjs checks this port against the server's own conversions.
//
// One difference: the crate applies the GCJ-02 offset only inside a polygon of mainland China
// (Hong Kong and Macau carved out); here a rectangle around the mainland stands in for it, which
// agrees everywhere a station of ours can be (the test checks points across China).

const A = 6378245.0;
const EE = 0.006693421622965943;
const X_PI = (Math.PI * 3000.0) / 180.0;

/** True when the GCJ-02 offset applies (mainland China, roughly). */
export function inChina(lon, lat) {
  return lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271;
}

function delta(lon, lat) {
  const x = lon - 105.0;
  const y = lat - 35.0;
  const sx = Math.sqrt(Math.abs(x));
  const shared = (20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * (2.0 / 3.0);
  let dLat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx + shared;
  dLat += ((20.0 * Math.sin(y * Math.PI) + 40.0 * Math.sin((y / 3.0) * Math.PI)) * 2.0) / 3.0;
  dLat += ((160.0 * Math.sin((y / 12.0) * Math.PI) + 320 * Math.sin((y * Math.PI) / 30.0)) * 2.0) / 3.0;
  let dLon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx + shared;
  dLon += ((20.0 * Math.sin(x * Math.PI) + 40.0 * Math.sin((x / 3.0) * Math.PI)) * 2.0) / 3.0;
  dLon += ((150.0 * Math.sin((x / 12.0) * Math.PI) + 300.0 * Math.sin((x / 30.0) * Math.PI)) * 2.0) / 3.0;
  const radLat = (lat / 180.0) * Math.PI;
  const sin = Math.sin(radLat);
  const magic = 1 - EE * sin * sin;
  const sqrtMagic = Math.sqrt(magic);
  return [
    (dLon * 180.0) / ((A / sqrtMagic) * Math.cos(radLat) * Math.PI),
    (dLat * 180.0) / (((A * (1 - EE)) / (magic * sqrtMagic)) * Math.PI),
  ];
}

/** WGS-84 → GCJ-02, as `[lon, lat]`. */
export function wgs84ToGcj02(lon, lat) {
  if (!inChina(lon, lat)) return [lon, lat];
  const [dLon, dLat] = delta(lon, lat);
  return [lon + dLon, lat + dLat];
}

/** GCJ-02 → WGS-84, as `[lon, lat]`: a seed and two refinements (well under a millimetre). */
export function gcj02ToWgs84(lon, lat) {
  if (!inChina(lon, lat)) return [lon, lat];
  let [wLon, wLat] = [lon, lat];
  for (let i = 0; i < 4; i += 1) {
    const [gLon, gLat] = wgs84ToGcj02(wLon, wLat);
    wLon -= gLon - lon;
    wLat -= gLat - lat;
  }
  return [wLon, wLat];
}

/** GCJ-02 → BD-09, as `[lon, lat]`. */
export function gcj02ToBd09(lon, lat) {
  const z = Math.sqrt(lon * lon + lat * lat) + 0.00002 * Math.sin(lat * X_PI);
  const theta = Math.atan2(lat, lon) + 0.000003 * Math.cos(lon * X_PI);
  return [z * Math.cos(theta) + 0.0065, z * Math.sin(theta) + 0.006];
}

/** WGS-84 → BD-09, as `[lon, lat]`. */
export function wgs84ToBd09(lon, lat) {
  if (!inChina(lon, lat)) return [lon, lat];
  const [gLon, gLat] = wgs84ToGcj02(lon, lat);
  return gcj02ToBd09(gLon, gLat);
}

// The map's own coordinate system. Everything we hold is WGS-84; a GCJ-02 basemap (a licensed
// Amap layer, say) needs every marker, outline and tap shifted into and out of it, or points sit
// hundreds of metres off their streets.
let displayCrs = 'wgs84';

/** Sets the coordinate system the map is drawn in: `wgs84` (default) or `gcj02`. */
export function setDisplayCrs(crs) {
  displayCrs = crs === 'gcj02' ? 'gcj02' : 'wgs84';
}

/** The coordinate system the map is drawn in. */
export function getDisplayCrs() {
  return displayCrs;
}

/** A WGS-84 position as a Leaflet `[lat, lon]` on the map. */
export function toDisplay(lat, lon) {
  if (displayCrs === 'wgs84') return [lat, lon];
  const [x, y] = wgs84ToGcj02(lon, lat);
  return [y, x];
}

/** A position on the map (a Leaflet LatLng or `{lat, lng}`) as WGS-84 `{lat, lon}`. */
export function fromDisplay(latlng) {
  if (displayCrs === 'wgs84') return { lat: latlng.lat, lon: latlng.lng };
  const [lon, lat] = gcj02ToWgs84(latlng.lng, latlng.lat);
  return { lat, lon };
}
