// Station vector tiles (/api/v1/tiles/{z}/{x}/{y}.mvt) on a Leaflet map: a small decoder for the
// Mapbox Vector Tiles the server sends, and a grid layer that turns each tile into cluster
// bubbles (below the points zoom) or station pins (from it on). With a road network loaded, a
// second grid layer paints the streets (/api/v1/tiles/roads/…, lines) on canvas tiles.
//
// Why our own decoder rather than npm @mapbox/vector-tile + pbf: our tiles hold points and plain
// lines only, so ~100 lines cover all of it (protobuf varints, the value types, MoveTo commands), against ~30 KB
// of unminified modules whose bare `import 'pbf'` specifiers would need an import map — an
// inline script the CSP forbids — or rewriting on vendoring. tests/tiles.rs checks the server's
// tiles with prost; web/tests/tiles.test.mjs checks this decoder against the JSON API.
import { t } from './i18n.js';
import { toDisplay } from './coords.js';

const L = window.L;

/** Zoom from which tiles hold stations (the server's default `--tiles-points-zoom`). */
export const DEFAULT_POINTS_ZOOM = 14;
const TILE_URL = '/api/v1/tiles/{z}/{x}/{y}.mvt';

/**
 * Tile fetches shared by URL while a tile is on the map and for RELEASE_MS after it leaves.
 * A view set without animation (the fit to the results, a recentre) makes Leaflet drop every tile
 * and at once ask again for the ones in view (its `viewprereset`): aborting each fetch with its
 * tile threw away the buffer tiles of a rider's first view while they were on their way, and
 * asked the server again for the visible ones. Now the new tile takes the fetch already made;
 * one that no tile wants after RELEASE_MS is aborted (a tile scrolled away for good).
 */
const RELEASE_MS = 1000;
const sharedFetches = new Map(); // url -> { bytes: Promise<ArrayBuffer|null>, ctrl, users, timer }

/** The tile's bytes (null for 204), fetched once for every holder of the URL; `release` when done with it. */
function holdTile(url, label) {
  let f = sharedFetches.get(url);
  if (f) {
    clearTimeout(f.timer);
    f.users += 1;
  } else {
    const ctrl = new AbortController();
    f = { ctrl, users: 1, timer: null };
    f.bytes = fetch(url, { signal: ctrl.signal, credentials: 'same-origin' }).then((res) => {
      if (res.status === 204) return null;
      if (!res.ok) throw new Error(`${label} ${url}: HTTP ${res.status}`);
      return res.arrayBuffer();
    });
    // A failed fetch is not kept: the next tile for the URL asks again.
    f.bytes.catch(() => { if (sharedFetches.get(url) === f) sharedFetches.delete(url); });
    sharedFetches.set(url, f);
  }
  const held = f;
  let released = false;
  return {
    bytes: held.bytes,
    release() {
      if (released) return;
      released = true;
      held.users -= 1;
      if (held.users > 0) return;
      held.timer = setTimeout(() => {
        if (held.users > 0) return;
        held.ctrl.abort();
        if (sharedFetches.get(url) === held) sharedFetches.delete(url);
      }, RELEASE_MS);
    },
  };
}

/** A protobuf reader over bytes: just what vector tiles use. */
class Reader {
  constructor(bytes, start = 0, end = bytes.length) {
    this.b = bytes;
    this.pos = start;
    this.end = end;
  }

  varint() {
    let result = 0;
    let mul = 1;
    for (;;) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const byte = this.b[this.pos++];
      result += (byte & 0x7f) * mul; // exact up to 2^53, past what ids and counts reach
      if (byte < 0x80) return result;
      mul *= 128;
    }
  }

  /** Calls `fn(field, wireType)` for each field; `fn` reads the value or returns false to skip it. */
  fields(fn) {
    while (this.pos < this.end) {
      const key = this.varint();
      const field = Math.floor(key / 8);
      const wire = key & 7;
      if (fn(field, wire) === false) this.skip(wire);
    }
  }

  skip(wire) {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.pos += this.varint();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unknown protobuf wire type ${wire}`);
  }

  /** A length-delimited field as a sub-reader. */
  sub() {
    const len = this.varint();
    const r = new Reader(this.b, this.pos, this.pos + len);
    this.pos += len;
    return r;
  }

  string() {
    const r = this.sub();
    return new TextDecoder().decode(this.b.subarray(r.pos, r.end));
  }

  /** Repeated varints, packed (wire type 2) or not. */
  packed(wire, into) {
    if (wire !== 2) {
      into.push(this.varint());
      return;
    }
    const r = this.sub();
    while (r.pos < r.end) into.push(r.varint());
  }
}

const zigzag = (n) => (n % 2 === 1 ? -(n + 1) / 2 : n / 2);

function readValue(r) {
  let v = null;
  r.fields((f) => {
    const view = new DataView(r.b.buffer, r.b.byteOffset);
    if (f === 1) v = r.string();
    else if (f === 2) { v = view.getFloat32(r.pos, true); r.pos += 4; }
    else if (f === 3) { v = view.getFloat64(r.pos, true); r.pos += 8; }
    else if (f === 4 || f === 5) v = r.varint();
    else if (f === 6) v = zigzag(r.varint());
    else if (f === 7) v = r.varint() !== 0;
    else return false;
    return true;
  });
  return v;
}

function readFeature(r, keys, values) {
  const f = { id: null, type: 0, tags: [], geometry: [] };
  r.fields((field, wire) => {
    if (field === 1) f.id = r.varint();
    else if (field === 2) r.packed(wire, f.tags);
    else if (field === 3) f.type = r.varint();
    else if (field === 4) r.packed(wire, f.geometry);
    else return false;
    return true;
  });
  const props = {};
  for (let i = 0; i + 1 < f.tags.length; i += 2) props[keys[f.tags[i]]] = values[f.tags[i + 1]];
  // MoveTo (id 1) and LineTo (id 2) commands with `count` zigzag pairs, each relative to the
  // last: `points` are the MoveTo positions (a point feature's points), `lines` one vertex list
  // per MoveTo (a line feature's parts). ClosePath (7) closes the current part.
  const points = [];
  const lines = [];
  let part = null;
  let x = 0;
  let y = 0;
  for (let i = 0; i < f.geometry.length;) {
    const cmd = f.geometry[i] & 7;
    const count = Math.floor(f.geometry[i] / 8);
    i += 1;
    if (cmd === 7) {
      if (part?.length) part.push(part[0]);
      continue;
    }
    if (cmd !== 1 && cmd !== 2) break;
    for (let k = 0; k < count && i + 1 < f.geometry.length; k += 1, i += 2) {
      x += zigzag(f.geometry[i]);
      y += zigzag(f.geometry[i + 1]);
      if (cmd === 1) {
        points.push([x, y]);
        part = [[x, y]];
        lines.push(part);
      } else part?.push([x, y]);
    }
  }
  return { id: f.id, type: f.type, points, lines, props };
}

function readLayer(r) {
  const layer = { name: '', extent: 4096, keys: [], values: [], raw: [] };
  r.fields((field) => {
    if (field === 1) layer.name = r.string();
    else if (field === 2) layer.raw.push(r.sub());
    else if (field === 3) layer.keys.push(r.string());
    else if (field === 4) layer.values.push(readValue(r.sub()));
    else if (field === 5) layer.extent = r.varint();
    else return false;
    return true;
  });
  return {
    name: layer.name,
    extent: layer.extent,
    features: layer.raw.map((fr) => readFeature(fr, layer.keys, layer.values)),
  };
}

/**
 * Decodes a vector tile of points or lines.
 * @param {ArrayBuffer|Uint8Array} data
 * @returns {Record<string, {extent:number, features:{id:number|null, type:number, points:number[][], lines:number[][][], props:object}[]}>}
 */
export function decodeTile(data) {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  const r = new Reader(bytes);
  const layers = {};
  r.fields((field) => {
    if (field !== 3) return false;
    const layer = readLayer(r.sub());
    layers[layer.name] = layer;
    return true;
  });
  return layers;
}

/** WGS-84 [lat, lon] of a point at tile coordinates (Web Mercator, XYZ scheme). */
export function tilePointToLatLon({ z, x, y }, px, py, extent = 4096) {
  const n = 2 ** z;
  const wx = (x + px / extent) / n;
  const wy = (y + py / extent) / n;
  const lon = wx * 360 - 180;
  const lat = (Math.atan(Math.sinh(Math.PI * (1 - 2 * wy))) * 180) / Math.PI;
  return [lat, lon];
}

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A bubble's diameter in px: at least 44 (a finger's tap target), larger for larger clusters. */
function bubbleSize(count) {
  return Math.round(Math.min(64, 44 + Math.log10(Math.max(1, count)) * 6));
}

function countLabel(count) {
  return count > 9999 ? `${Math.round(count / 1000)}k` : String(count);
}

function clusterIcon(count, demo) {
  const size = bubbleSize(count);
  const bubble = el('span', 'tile-cluster-bubble', countLabel(count));
  return L.divIcon({
    className: `tile-cluster${demo ? ' is-demo' : ''}`,
    html: bubble,
    iconSize: [size, size],
    iconAnchor: [size / 2, size / 2],
  });
}

function pinIcon(open) {
  const dot = el('span', 'tile-pin-dot');
  return L.divIcon({
    className: `tile-pin${open ? '' : ' is-closed'}`,
    html: dot,
    iconSize: [44, 44], // the tap target; the visible dot is smaller (css)
    iconAnchor: [22, 22],
  });
}

/**
 * Station tiles as a Leaflet layer. Markers go to `options.pane` (keep it under the nearest-result
 * pins and the rider's dot); each tile's markers live and die with the tile.
 *
 * Options: `pane`, `pointsZoom` (tiles above it are the points zoom's, overzoomed),
 * `onStation(id, props, latlng)` for a tapped pin, `url` (the tile URL template), `tapThrough()`
 * (true: taps go to the map, e.g. while the rider picks a position).
 */
export const StationTileLayer = L.GridLayer.extend({
  options: {
    pane: 'stationTiles',
    tileSize: 256,
    pointsZoom: DEFAULT_POINTS_ZOOM,
    url: TILE_URL,
    updateWhenZooming: false,
    keepBuffer: 1,
    onStation: null,
    tapThrough: null,
  },

  initialize(options) {
    L.setOptions(this, options);
    this.options.maxNativeZoom = this.options.pointsZoom;
    this._groups = new Map(); // tile key -> L.LayerGroup
    this._hidden = new Set(); // station ids drawn elsewhere (the numbered nearest results)
    this.on('tileunload', (e) => this._drop(e.coords, e.tile));
    this._declutterQueued = false;
  },

  onAdd(map) {
    L.GridLayer.prototype.onAdd.call(this, map);
    map.on('zoomend', this._queueDeclutter, this);
  },

  onRemove(map) {
    map.off('zoomend', this._queueDeclutter, this);
    for (const g of this._groups.values()) g.remove();
    this._groups.clear();
    L.GridLayer.prototype.onRemove.call(this, map);
  },

  /** Stations not to draw as plain pins (they are shown as numbered results already). */
  hideStations(ids) {
    this._hidden = new Set(ids);
    for (const g of this._groups.values()) {
      g.eachLayer((m) => {
        const el = m.getElement();
        if (el && m.options.stationId != null) el.style.display = this._hidden.has(m.options.stationId) ? 'none' : '';
      });
    }
  },

  createTile(coords, done) {
    const tile = document.createElement('div');
    const hold = holdTile(L.Util.template(this.options.url, coords), 'tile');
    tile._release = hold.release;
    // The fetch may outlive this tile (shared with its successor for the same place): only the
    // tile still on the map draws and reports.
    const current = () => this._map && this._tiles[this._key(coords)]?.el === tile;
    hold.bytes
      .then((buf) => {
        if (!current()) return;
        if (buf) this._draw(coords, decodeTile(buf));
        done(null, tile);
      })
      .catch((err) => {
        // An aborted fetch is a tile scrolled away; other failures mark the tile only (tileerror).
        if (err.name !== 'AbortError' && current()) done(err, tile);
      });
    return tile;
  },

  /** Hands a tap to the map instead (as if no marker were there) when `options.tapThrough()` says so. */
  _tapThrough(e) {
    if (!this.options.tapThrough?.()) return false;
    this._map.fire('click', { latlng: this._map.mouseEventToLatLng(e.originalEvent), originalEvent: e.originalEvent });
    return true;
  },

  _queueDeclutter() {
    if (this._declutterQueued) return;
    this._declutterQueued = true;
    requestAnimationFrame(() => {
      this._declutterQueued = false;
      this._declutter();
    });
  },

  /**
   * Bubbles of neighbouring cells (or tiles) can sit closer than their size and cover each other,
   * leaving taps that hit the wrong one. Largest first, a bubble that would overlap one already
   * shown is folded into it: hidden, its count added to the shown one's (so what is shown still
   * adds up to every station of the loaded tiles). A tap on the shown one zooms in, where they
   * part. Recomputed whenever tiles come or go and after each zoom.
   */
  _declutter() {
    if (!this._map) return;
    const bubbles = [];
    for (const g of this._groups.values()) {
      g.eachLayer((m) => { if (m.options.count != null && m.getElement()) bubbles.push(m); });
    }
    bubbles.sort((a, b) => b.options.count - a.options.count);
    // Boxes, not discs: the elements (and what a tap hits) are squares around the bubble.
    const overlap = (a, b) => {
      const reach = (a.size + b.size) / 2 + 2;
      return Math.abs(a.p.x - b.p.x) < reach && Math.abs(a.p.y - b.p.y) < reach;
    };
    const shown = [];
    const fold = (small, big) => {
      big.total += small.total;
      big.size = bubbleSize(big.total);
      small.m._foldedInto = big.m;
    };
    for (const m of bubbles) {
      const me = { m, p: this._map.latLngToLayerPoint(m.getLatLng()), size: bubbleSize(m.options.count), total: m.options.count };
      m._foldedInto = null;
      const host = shown.find((h) => overlap(h, me));
      if (host) fold(me, host);
      else shown.push(me);
    }
    // A bubble grown by what it took in may now reach a neighbour: fold until none overlap.
    for (let again = true; again;) {
      again = false;
      for (let i = 0; i < shown.length && !again; i += 1) {
        for (let j = i + 1; j < shown.length && !again; j += 1) {
          if (!overlap(shown[i], shown[j])) continue;
          const [big, small] = shown[i].total >= shown[j].total ? [shown[i], shown[j]] : [shown[j], shown[i]];
          fold(small, big);
          shown.splice(shown.indexOf(small), 1);
          again = true;
        }
      }
    }
    for (const { m, total } of shown) this._showCount(m, total);
    for (const m of bubbles) {
      if (m._foldedInto) m.getElement().style.display = 'none';
    }
  },

  /** Shows `total` on a cluster bubble (its own count, or with the bubbles folded into it). */
  _showCount(m, total) {
    const e = m.getElement();
    e.style.display = '';
    if (Number(e.dataset.count) === total) return;
    const size = bubbleSize(total);
    Object.assign(e.style, { width: `${size}px`, height: `${size}px`, marginLeft: `${-size / 2}px`, marginTop: `${-size / 2}px` });
    e.dataset.count = String(total);
    const label = t('tiles.cluster', { n: total });
    e.title = label;
    e.setAttribute('alt', label);
    const bubble = e.querySelector('.tile-cluster-bubble');
    if (bubble) bubble.textContent = countLabel(total);
  },

  _key(coords) {
    return `${coords.x}:${coords.y}:${coords.z}`;
  },

  _drop(coords, tile) {
    tile?._release?.();
    const key = this._key(coords);
    this._groups.get(key)?.remove();
    this._groups.delete(key);
    this._queueDeclutter();
  },

  _draw(coords, layers) {
    const key = this._key(coords);
    if (!this._tiles[key]) return; // unloaded while fetching
    this._groups.get(key)?.remove();
    const group = L.layerGroup();
    const pane = this.options.pane;
    const clusters = layers.clusters;
    if (clusters) {
      for (const f of clusters.features) {
        const [px, py] = f.points[0] || [];
        if (px === undefined) continue;
        const [lat, lon] = tilePointToLatLon(coords, px, py, clusters.extent);
        const count = Number(f.props.count) || 0;
        const m = L.marker(toDisplay(lat, lon), {
          pane,
          icon: clusterIcon(count, f.props.demo === true),
          title: t('tiles.cluster', { n: count }),
          alt: t('tiles.cluster', { n: count }),
          keyboard: true,
        });
        m.options.count = count;
        m.on('click', (e) => {
          if (this._tapThrough(e)) return;
          const zoom = Math.max(Number(f.props.expand_zoom) || coords.z + 2, this._map.getZoom() + 1);
          this._map.setView(toDisplay(lat, lon), Math.min(zoom, this._map.getMaxZoom()));
        });
        m.on('add', () => {
          const e = m.getElement();
          if (e) {
            e.dataset.count = String(count);
            e.dataset.tile = `${coords.z}/${coords.x}/${coords.y}`;
          }
        });
        group.addLayer(m);
      }
    }
    const stations = layers.stations;
    if (stations) {
      for (const f of stations.features) {
        const [px, py] = f.points[0] || [];
        if (px === undefined) continue;
        const [lat, lon] = tilePointToLatLon(coords, px, py, stations.extent);
        const id = f.id ?? f.props.id;
        const name = String(f.props.name ?? '');
        const m = L.marker(toDisplay(lat, lon), {
          pane,
          icon: pinIcon(f.props.open_now !== false),
          title: name, // Leaflet sets it with setAttribute: safe for any text
          alt: name,
        });
        m.options.stationId = id;
        m.on('click', (e) => {
          if (!this._tapThrough(e)) this.options.onStation?.(id, f.props, m.getLatLng());
        });
        m.on('add', () => {
          const e = m.getElement();
          if (e) {
            e.dataset.stationId = String(id);
            e.dataset.tile = `${coords.z}/${coords.x}/${coords.y}`;
            if (this._hidden.has(id)) e.style.display = 'none';
          }
        });
        group.addLayer(m);
      }
    }
    // A long-press on a pin or bubble still sets the rider's position, as anywhere on the map.
    group.eachLayer((m) => m.on('contextmenu', (e) => this._map.fire('contextmenu', e)));
    this._groups.set(key, group);
    group.addTo(this._map);
    if (clusters) this._queueDeclutter();
  },
});

/** Reads the points zoom from the TileJSON; the default when it cannot be read. */
export async function pointsZoom() {
  try {
    const res = await fetch('/api/v1/tiles.json', { credentials: 'same-origin' });
    if (!res.ok) return DEFAULT_POINTS_ZOOM;
    const doc = await res.json();
    const z = Number(doc.maxzoom);
    return Number.isInteger(z) && z >= 0 ? z : DEFAULT_POINTS_ZOOM;
  } catch {
    return DEFAULT_POINTS_ZOOM;
  }
}

/** Zooms the server draws roads at (coarser: none; finer: the zoom-16 tiles, overzoomed). */
export const ROADS_MIN_ZOOM = 12;
export const ROADS_MAX_ZOOM = 16;
const ROADS_URL = '/api/v1/tiles/roads/{z}/{x}/{y}.mvt';

/**
 * The streets of the server's OpenStreetMap extract (layer `roads`, lines) painted on canvas
 * tiles: a basemap with nothing fetched from another host. Only where the map is in WGS-84 (no
 * GCJ-02 raster underneath), since the roads are.
 */
export const RoadTileLayer = L.GridLayer.extend({
  options: {
    pane: 'roads',
    tileSize: 256,
    minZoom: ROADS_MIN_ZOOM,
    maxNativeZoom: ROADS_MAX_ZOOM,
    url: ROADS_URL,
    updateWhenZooming: false,
    className: 'road-tiles',
    attribution: '© OpenStreetMap contributors',
  },

  initialize(options) {
    L.setOptions(this, options);
    this.on('tileunload', (e) => e.tile?._release?.());
  },

  createTile(coords, done) {
    const tile = document.createElement('canvas');
    const size = this.getTileSize();
    const ratio = window.devicePixelRatio || 1;
    tile.width = size.x * ratio;
    tile.height = size.y * ratio;
    tile.dataset.tile = `${coords.z}/${coords.x}/${coords.y}`;
    const hold = holdTile(L.Util.template(this.options.url, coords), 'road tile');
    tile._release = hold.release;
    const current = () => this._map && this._tiles[this._tileCoordsToKey(coords)]?.el === tile;
    hold.bytes
      .then((buf) => {
        if (!current()) return;
        const roads = buf ? decodeTile(buf).roads : null;
        tile.dataset.lines = String(roads ? paintRoads(tile, roads, coords.z) : 0);
        done(null, tile);
      })
      .catch((err) => {
        if (err.name !== 'AbortError' && current()) done(err, tile);
      });
    return tile;
  },
});

/** Strokes a `roads` layer onto a canvas the size of its tile; returns how many lines it drew. */
function paintRoads(canvas, layer, zoom) {
  const ctx = canvas.getContext('2d');
  const s = canvas.width / layer.extent;
  const ratio = canvas.width / 256;
  ctx.strokeStyle = '#b9b3a6';
  ctx.lineWidth = (zoom >= 15 ? 2 : zoom >= 14 ? 1.5 : 1) * ratio;
  ctx.lineJoin = 'round';
  ctx.lineCap = 'round';
  ctx.beginPath();
  let n = 0;
  for (const f of layer.features) {
    for (const line of f.lines) {
      if (line.length < 2) continue;
      ctx.moveTo(line[0][0] * s, line[0][1] * s);
      for (let i = 1; i < line.length; i += 1) ctx.lineTo(line[i][0] * s, line[i][1] * s);
      n += 1;
    }
  }
  ctx.stroke();
  return n;
}
