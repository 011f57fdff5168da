// The Leaflet map: a vector basemap of county outlines (no tile server needed), the user's origin
// with the 15-minute walking circle, and numbered station markers. Knows nothing about the API;
// rider.js feeds it plain data and listens through the callbacks. The basemap helpers and
// NodeControl are shared with the planners' map (planner-map.js).
import { fromDisplay, toDisplay } from './coords.js';
import { t } from './i18n.js';

const L = window.L; // vendor/leaflet/leaflet.js is loaded as a classic script before the modules
const JIANGXI_CENTER = [27.6, 115.7];
/** The province's extent (south-west, north-east): the first view before the rider is placed. */
const JIANGXI_BOUNDS = [[24.49, 113.57], [30.08, 118.48]];
const WALK_CIRCLE_M = 1000; // the official "15-minute circle" is 1 km on foot
const LABEL_MIN_ZOOM = 9;
/** Below this zoom a tap cannot place the rider within a street or two: it zooms in first. */
export const PICK_MIN_ZOOM = 13;
const PICK_ZOOM_TO = 15;

/** Leaflet puts attributions in with innerHTML: an operator's credit text goes in escaped. */
function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const OVERLAP_PX = 30; // numbered pins closer than this on screen are fanned out
const FAN_RADIUS_PX = 24;

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A small control whose content is a DOM node we build (so no HTML strings reach Leaflet). */
export const NodeControl = L.Control.extend({
  initialize(node, options) {
    L.setOptions(this, options);
    this._node = node;
  },
  onAdd() {
    L.DomEvent.disableClickPropagation(this._node);
    L.DomEvent.disableScrollPropagation(this._node);
    return this._node;
  },
});

/** The panes the basemap helpers draw into: outlines under everything, names above overlays. */
export function createBasemapPanes(map, labelsZ = 350) {
  map.createPane('basemap').style.zIndex = 200;
  map.createPane('labels').style.zIndex = labelsZ;
  map.getPane('labels').style.pointerEvents = 'none';
}

/**
 * The server's streets (vector tiles of its OpenStreetMap extract) in a 'roads' pane above the
 * county outlines and under everything else. Loaded on demand, like the station tiles.
 */
export function addRoadLayer(map) {
  if (!map.getPane('roads')) {
    map.createPane('roads').style.zIndex = 210;
    map.getPane('roads').style.pointerEvents = 'none';
  }
  return import('./tiles.js')
    .then(({ RoadTileLayer }) => new RoadTileLayer({ pane: 'roads' }).addTo(map))
    .catch((e) => console.warn('road tiles unavailable:', e));
}

/** County outlines (GeoJSON) drawn on a canvas in the 'basemap' pane: the map without a tile server. */
export function countyOutlines(geojson) {
  return L.geoJSON(geojson, {
    pane: 'basemap',
    renderer: L.canvas({ pane: 'basemap', padding: 0.5 }),
    interactive: false,
    style: { color: '#8d99a6', weight: 1, fillColor: '#f7f4ec', fillOpacity: 1 },
  });
}

/**
 * Adds a FeatureCollection's features to `group` a few at a time, yielding between slices: on a
 * phone, projecting and painting a hundred county outlines in one go blocked the page for
 * hundreds of milliseconds (what Lighthouse counts as blocking time). Resolves when all are in.
 */
export function addInSlices(group, geojson, perSlice = 8) {
  const features = Array.isArray(geojson?.features) ? geojson.features : [];
  return new Promise((resolve) => {
    let i = 0;
    const step = () => {
      group.addData({ type: 'FeatureCollection', features: features.slice(i, i + perSlice) });
      i += perSlice;
      if (i < features.length) setTimeout(step, 0);
      else resolve();
    };
    step();
  });
}

/** The basemap's levels of detail (`GET /api/v1/counties?detail=`), coarse to fine. */
export const DETAIL_LEVELS = ['low', 'medium', 'full'];

/** The level a zoom needs: up to each level's `max_zoom` (as the server reports it) it will do. */
const LEVEL_MAX_ZOOM = { low: 7, medium: 9 };
/** Full detail is cut to the view (padded, snapped to this grid in degrees, so boxes repeat). */
const FULL_GRID_DEG = 0.25;

function boxAround(bounds) {
  const padX = Math.max((bounds.getEast() - bounds.getWest()) / 2, 0.1);
  const padY = Math.max((bounds.getNorth() - bounds.getSouth()) / 2, 0.1);
  const down = (v) => Math.floor(v / FULL_GRID_DEG) * FULL_GRID_DEG;
  const up = (v) => Math.ceil(v / FULL_GRID_DEG) * FULL_GRID_DEG;
  return [
    Math.max(down(bounds.getWest() - padX), -180), Math.max(down(bounds.getSouth() - padY), -90),
    Math.min(up(bounds.getEast() + padX), 180), Math.min(up(bounds.getNorth() + padY), 90),
  ];
}

/**
 * Keeps `outline` (drawn from `geojson`, one level with its `detail` and `max_zoom`) as detailed
 * as the zoom needs: a province-wide view draws the coarse level (~16 KB); zoomed past a level's
 * `max_zoom`, `loadLevel(detail, bbox)` fetches a finer one and it is swapped in. The finest
 * level comes cut to a box around the view (a county or two at street zoom instead of the whole
 * province's ~80 KB), fetched again when the view leaves that box, and a whole coarser level comes
 * back when zooming out. `onData` sees each new level. A failed fetch keeps what is drawn and is
 * retried on the next move.
 */
/** The index in DETAIL_LEVELS of the level a zoom needs. */
function wantedFor(zoom) {
  const i = DETAIL_LEVELS.findIndex((d) => !(zoom > (LEVEL_MAX_ZOOM[d] ?? Infinity)));
  return i < 0 ? DETAIL_LEVELS.length - 1 : i;
}

/** The box parameter of a full-detail request around the view (`w,s,e,n`). */
function boxParam(box) {
  return box.map((v) => v.toFixed(2)).join(',');
}

/**
 * What the current view of `map` needs of the basemap: `{detail, bbox}` for `loadLevel` (`bbox`
 * only for full detail). Asking for it first, instead of the coarse level, saves a rider who is
 * placed at street zoom the province-wide download.
 */
export function levelForView(map) {
  const detail = DETAIL_LEVELS[wantedFor(map.getZoom())];
  const full = detail === DETAIL_LEVELS[DETAIL_LEVELS.length - 1];
  return { detail, bbox: full ? boxParam(boxAround(map.getBounds())) : undefined };
}

export function refineOnZoom(map, outline, geojson, loadLevel, onData = () => {}) {
  let level = DETAIL_LEVELS.indexOf(geojson?.detail);
  let box = Array.isArray(geojson?.bbox) ? geojson.bbox : null;
  if (!loadLevel || level < 0) return;
  let loading = false;
  const check = () => {
    if (loading) return;
    const want = wantedFor(map.getZoom());
    const full = DETAIL_LEVELS.length - 1;
    let ask = null;
    if (want > level || (box && want < full)) ask = want;
    else if (box && level === full) {
      const b = map.getBounds();
      const inside = b.getWest() >= box[0] && b.getSouth() >= box[1] && b.getEast() <= box[2] && b.getNorth() <= box[3];
      if (!inside) ask = full;
    }
    if (ask === null) return;
    loading = true;
    const askBox = ask === full ? boxAround(map.getBounds()) : null;
    loadLevel(DETAIL_LEVELS[ask], askBox ? boxParam(askBox) : undefined)
      .then((data) => {
        if (DETAIL_LEVELS.indexOf(data?.detail) !== ask || !Array.isArray(data.features)) {
          throw new Error('not the level asked for');
        }
        outline.clearLayers();
        outline.addData(data);
        level = ask;
        box = askBox;
        onData(data);
        loading = false;
        check();
      })
      .catch((e) => {
        loading = false;
        console.warn('finer basemap unavailable:', e);
      });
  };
  map.on('zoomend moveend', check);
  check();
}

/** Puts each county's name (textContent, never HTML) at its centre, into `group` in the 'labels' pane. */
export function addCountyLabels(outline, group) {
  outline.eachLayer((layer) => {
    const name = layer.feature?.properties?.name;
    if (!name || !layer.getCenter) return;
    const label = el('span', 'county-label-text', name);
    L.marker(layer.getCenter(), {
      pane: 'labels',
      interactive: false,
      keyboard: false,
      icon: L.divIcon({ className: 'county-label', html: label, iconSize: null }),
    }).addTo(group);
  });
}

/** Shows `group` only from `minZoom` on (county names would cover the whole province when zoomed out). */
export function toggleByZoom(map, group, minZoom = LABEL_MIN_ZOOM) {
  const show = map.getZoom() >= minZoom;
  if (show && !map.hasLayer(group)) group.addTo(map);
  if (!show && map.hasLayer(group)) map.removeLayer(group);
}

export class StationMap {
  /**
   * @param {HTMLElement} container
   * @param {{onPick:(latlng:{lat:number,lon:number})=>void, onSelect:(id:number)=>void, onLocate:()=>void}} handlers
   */
  constructor(container, handlers) {
    this.handlers = handlers;
    this.markers = new Map(); // station id -> L.Marker
    this.selectedId = null;
    this.hasOrigin = false;
    this.attribution = null;
    this.locateProblem = null; // i18n key of why the last locate failed

    this.map = L.map(container, {
      center: JIANGXI_CENTER,
      zoom: 7,
      minZoom: 5,
      maxZoom: 18,
      zoomSnap: 0.5,
      tapHold: true, // long-press fires 'contextmenu' on touch screens that do not do it natively
    });
    // The whole province, fitted to the screen at once: fitting it later, when the outlines
    // arrive, would move the view under tiles already on their way.
    this.map.fitBounds(JIANGXI_BOUNDS, { padding: [8, 8], animate: false });
    createBasemapPanes(this.map);
    // Every station as tile clusters/pins, under the numbered results (markerPane, 600); the
    // rider's dot above all pins so none can hide it.
    this.map.createPane('stationTiles').style.zIndex = 590;
    this.map.createPane('rider').style.zIndex = 650;
    this.setAttribution();

    this.walkCircle = L.circle(JIANGXI_CENTER, { radius: WALK_CIRCLE_M, className: 'walk-circle', interactive: false });
    this.accuracyCircle = L.circle(JIANGXI_CENTER, { radius: 1, className: 'accuracy-circle', interactive: false });
    this.originTip = el('span', '', t('map.origin'));
    this.originMarker = L.circleMarker(JIANGXI_CENTER, { radius: 9, className: 'origin-marker', interactive: false, pane: 'rider' })
      .bindTooltip(this.originTip, { direction: 'top', offset: [0, -8] });
    this.stationLayer = L.layerGroup().addTo(this.map);
    this.tilePopup = L.popup({ className: 'tile-popup', autoPan: true });
    this.tileLayer = null;
    this.resultIds = [];
    // Loaded on demand: offline, or before the service worker has cached it, the map still works
    // (and there would be no tiles to draw anyway).
    import('./tiles.js')
      .then(({ StationTileLayer, pointsZoom }) => {
        this.tileLayer = new StationTileLayer({
          pane: 'stationTiles',
          onStation: (id, props, latlng) => this.showTileStation(props, latlng),
          // While the rider's position is not set, a tap anywhere (a bubble or pin too) sets it.
          tapThrough: () => !this.hasOrigin,
        }).addTo(this.map);
        this.tileLayer.hideStations(this.resultIds);
        // The server's points zoom (tiles above it are overzoomed from it): the client config's,
        // else the TileJSON's; 14 until one says.
        const known = Number(this.handlers.pointsZoom);
        return (Number.isInteger(known) && known >= 0 ? Promise.resolve(known) : pointsZoom()).then((z) => {
          if (z === this.tileLayer.options.maxNativeZoom) return;
          this.tileLayer.options.maxNativeZoom = z;
          this.tileLayer.redraw();
        });
      })
      .catch((e) => console.warn('station tiles unavailable:', e));
    this.map.on('zoomend', () => this.fanOverlapping());
    this.labelLayer = L.layerGroup();

    this.legendText = el('span', '', t('map.circle'));
    const legend = el('div', 'map-legend');
    legend.append(el('span', 'legend-swatch'), this.legendText);
    this.legend = new NodeControl(legend, { position: 'bottomleft' });

    this.locateBtn = el('button', 'map-locate');
    this.locateBtn.type = 'button';
    this.locateBtn.append(el('span', 'map-locate-icon'));
    this.locateBtn.addEventListener('click', () => this.handlers.onLocate());
    new NodeControl(this.locateBtn, { position: 'topright' }).addTo(this.map);

    // One gesture everywhere (the status and the tip say the same): tap (or long-press) the map,
    // then confirm with the popup's button. Zoomed out, one tap spans kilometres, so the popup
    // first offers to zoom in there; an accidental tap never moves the origin.
    const pickBox = el('div', 'pick-box');
    this.pickText = el('p', 'pick-text');
    this.pickBtn = el('button', 'btn btn-primary btn-small pick-confirm', t('map.set_origin'));
    this.pickBtn.type = 'button';
    this.zoomBtn = el('button', 'btn btn-primary btn-small pick-zoom', t('map.zoom_here'));
    this.zoomBtn.type = 'button';
    pickBox.append(this.pickText, this.pickBtn, this.zoomBtn);
    this.pickPopup = L.popup({ closeButton: true, autoPan: false, className: 'pick-popup' }).setContent(pickBox);
    this.pickBtn.addEventListener('click', () => {
      const ll = this.pickPopup.getLatLng();
      this.map.closePopup(this.pickPopup);
      this.handlers.onPick(fromDisplay(ll));
    });
    this.zoomBtn.addEventListener('click', () => {
      const ll = this.pickPopup.getLatLng();
      this.map.closePopup(this.pickPopup);
      this.map.setView(ll, Math.max(this.map.getZoom(), PICK_ZOOM_TO), { animate: false });
    });
    const offerPick = (e) => {
      this.pickZoomedOut = this.map.getZoom() < PICK_MIN_ZOOM;
      this.refreshPickText();
      this.pickPopup.setLatLng(e.latlng).openOn(this.map);
    };
    this.map.on('click', offerPick);
    this.map.on('contextmenu', offerPick);
    this.map.on('zoomend', () => this.updateLabels());

    // The map sits in a flexible layout: keep Leaflet's idea of its size current.
    new ResizeObserver(() => this.map.invalidateSize()).observe(container);
    this.refreshText();
  }

  setAttribution() {
    if (this.attribution) this.map.attributionControl.removeAttribution(this.attribution);
    this.attribution = t('map.attribution'); // a fixed string from our table, not data
    this.map.attributionControl.addAttribution(this.attribution);
  }

  /** Re-reads every string from the i18n table (after a language switch). */
  refreshText() {
    this.setAttribution();
    this.originTip.textContent = t('map.origin');
    this.legendText.textContent = t('map.circle');
    this.refreshPickText();
    this.setLocateProblem(this.locateProblem);
  }

  refreshPickText() {
    const out = Boolean(this.pickZoomedOut);
    this.pickText.textContent = t(out ? 'map.pick_zoom_first' : 'map.pick_here');
    this.pickBtn.textContent = t('map.set_origin');
    this.zoomBtn.textContent = t('map.zoom_here');
    this.pickBtn.hidden = out;
    this.zoomBtn.hidden = !out;
  }

  /** The ◎ button says why it could not locate (`key`, an i18n key), or its usual label (null). */
  setLocateProblem(key) {
    this.locateProblem = key;
    const label = key ? t('locate.button_problem', { reason: t(key) }) : t('locate.button_label');
    this.locateBtn.title = label;
    this.locateBtn.setAttribute('aria-label', label);
    this.locateBtn.classList.toggle('is-problem', Boolean(key));
  }

  /** Draws the streets of the server's road network above the county outlines (no raster basemap). */
  setRoadLayer() {
    addRoadLayer(this.map);
  }

  /**
   * Draws a raster basemap (`{url, attribution, subdomains, max_zoom}`) above the county
   * outlines, which stay underneath as the fallback where a tile does not load (no signal).
   * The caller sets the display datum (coords.js) before anything is placed.
   */
  setTileLayer({ url, attribution, subdomains, max_zoom: maxZoom }) {
    this.map.createPane('raster').style.zIndex = 250;
    this.map.getPane('raster').style.pointerEvents = 'none';
    const options = {
      pane: 'raster',
      maxZoom: 18,
      maxNativeZoom: maxZoom,
      attribution: attribution ? escapeHtml(attribution) : '',
      crossOrigin: false,
    };
    if (Array.isArray(subdomains) && subdomains.length) options.subdomains = subdomains;
    this.tiles = L.tileLayer(url, options).addTo(this.map);
  }

  /**
   * Draws county outlines as the basemap; county names appear from zoom 9 on. `loadLevel(detail)`
   * (a promise of a finer level's GeoJSON) lets zooming in sharpen the outlines.
   */
  setBasemap(geojson, loadLevel = null) {
    const outline = countyOutlines({ ...geojson, features: [] }).addTo(this.map);
    return addInSlices(outline, geojson).then(() => {
      refineOnZoom(this.map, outline, geojson, loadLevel);
      this.labelLayer.clearLayers();
      addCountyLabels(outline, this.labelLayer);
      this.updateLabels();
    });
  }

  updateLabels() {
    toggleByZoom(this.map, this.labelLayer);
  }

  /**
   * Moves the origin marker and its circles; `accuracyM` draws an accuracy disc when given.
   * With `recenter` the map shows the origin at once, before any station has loaded.
   */
  setOrigin({ lat, lon }, accuracyM = null, recenter = false) {
    const ll = toDisplay(lat, lon);
    if (recenter) {
      const zoom = accuracyM && accuracyM > 5000 ? 10 : 14;
      this.map.setView(ll, Math.max(this.map.getZoom(), zoom), { animate: false });
    }
    this.hasOrigin = true;
    this.map.closePopup(this.pickPopup);
    this.walkCircle.setLatLng(ll).addTo(this.map);
    this.originMarker.setLatLng(ll).addTo(this.map);
    if (accuracyM && accuracyM > 30) this.accuracyCircle.setLatLng(ll).setRadius(accuracyM).addTo(this.map);
    else this.accuracyCircle.remove();
    this.legend.addTo(this.map);
  }

  /** Shows the map around a point without an origin (e.g. while the user is asked to pick one). */
  view({ lat, lon }, zoom) {
    this.map.setView(toDisplay(lat, lon), zoom);
  }

  /** Replaces the station markers; items are in list order and numbered from 1. */
  setStations(items, origin) {
    this.stationLayer.clearLayers();
    this.markers.clear();
    items.forEach((item, i) => {
      const pin = el('span', 'pin');
      pin.append(el('span', 'pin-num', String(i + 1)));
      const closed = !item.open_now || item.temporary_closure;
      const marker = L.marker(toDisplay(item.lat, item.lon), {
        icon: L.divIcon({
          className: `station-pin${closed ? ' is-closed' : ''}`,
          html: pin,
          iconSize: [34, 42],
          iconAnchor: [17, 42],
        }),
        title: item.name, // Leaflet sets it with setAttribute: safe for any text
        alt: item.name,
        riseOnHover: true,
        zIndexOffset: (items.length - i) * 1000, // nearer stations drawn on top
      });
      marker.options.baseZ = marker.options.zIndexOffset;
      marker.options.pinEl = pin;
      marker.on('click', () => this.handlers.onSelect(item.id, 'map'));
      marker.addTo(this.stationLayer);
      this.markers.set(item.id, marker);
    });
    this.selectedId = null;
    // The results are drawn numbered: not again as plain tile pins.
    this.resultIds = items.map((item) => item.id);
    this.tileLayer?.hideStations(this.resultIds);
    // Banners above the map may just have changed its height; measure before fitting. No animation:
    // Leaflet drops a view change requested while a zoom animation runs.
    this.map.invalidateSize({ pan: false });
    const pts = items.slice(0, 5).map((s) => toDisplay(s.lat, s.lon));
    if (origin) pts.push(toDisplay(origin.lat, origin.lon));
    if (pts.length > 1) this.map.fitBounds(pts, { padding: [36, 36], maxZoom: 16, animate: false });
    else if (origin) this.map.setView(toDisplay(origin.lat, origin.lon), Math.max(this.map.getZoom(), 14), { animate: false });
    this.fanOverlapping();
  }

  /** A station tapped on the tile layer: its name, and whether it was open when the tile was made. */
  showTileStation(props, latlng) {
    const box = el('div', 'tile-popup-body');
    box.append(el('strong', '', String(props.name ?? '')));
    if (props.demo === true) box.append(' ', el('span', 'tag-demo', t('demo.tag')));
    box.append(el('div', '', t(props.open_now === false ? 'tiles.closed' : 'tiles.open')));
    this.tilePopup.setLatLng(latlng).setContent(box).openOn(this.map);
  }

  /**
   * Fans out numbered result pins that would cover each other at this zoom (same building, or
   * zoomed out): each keeps its position, its visible pin is shifted on a small circle.
   */
  fanOverlapping() {
    const placed = [];
    for (const m of this.markers.values()) {
      const p = this.map.latLngToLayerPoint(m.getLatLng());
      const group = placed.find((g) => g.p.distanceTo(p) < OVERLAP_PX);
      if (group) group.members.push(m);
      else placed.push({ p, members: [m] });
    }
    for (const { members } of placed) {
      members.forEach((m, i) => {
        const pin = m.options.pinEl;
        if (!pin) return;
        if (members.length === 1) {
          pin.style.translate = '';
          return;
        }
        const a = (2 * Math.PI * i) / members.length - Math.PI / 2;
        pin.style.translate = `${Math.round(Math.cos(a) * FAN_RADIUS_PX)}px ${Math.round(Math.sin(a) * FAN_RADIUS_PX)}px`;
      });
    }
  }

  /** Measures the container again (after it was hidden or resized). */
  resize() {
    this.map.invalidateSize({ pan: false });
  }

  /** Highlights one station marker and brings it into view. */
  focusStation(id) {
    const prev = this.markers.get(this.selectedId);
    prev?.getElement()?.classList.remove('is-selected');
    prev?.setZIndexOffset(prev.options.baseZ);
    this.selectedId = id;
    const m = this.markers.get(id);
    if (!m) return;
    m.getElement()?.classList.add('is-selected');
    m.setZIndexOffset(100000);
    const ll = m.getLatLng();
    if (!this.map.getBounds().pad(-0.1).contains(ll)) this.map.panTo(ll);
  }
}
