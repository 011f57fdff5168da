// The planners' map: county outlines as the basemap, each county of the region filled by its
// covered share (five classes), the uncovered areas in translucent red on top, numbered suggested
// sites and the hypothetical stations of the what-if mode. Knows nothing about the API: planner.js
// hands it plain data and listens through the callbacks. Text goes in as DOM nodes, never HTML.
import { t } from './i18n.js';
import {
  NodeControl, addCountyLabels, addRoadLayer, countyOutlines, createBasemapPanes, refineOnZoom, toggleByZoom,
} from './map.js';

/** Finer basemap levels, fetched when zoomed in (the one API call this module makes itself). */
const loadCountyLevel = (detail, bbox) => import('./api.js').then((api) => api.counties({ detail, bbox })).then((r) => r.data);

const L = window.L;
const JIANGXI_CENTER = [27.6, 115.7];

/**
 * Five sequential classes of covered share (ColorBrewer YlGnBu without its palest step, which the
 * beige basemap would swallow): light = poorly covered. Green-blue, so the red gaps stand apart.
 */
export const SHARE_CLASSES = [
  { max: 0.2, color: '#c7e9b4' },
  { max: 0.4, color: '#7fcdbb' },
  { max: 0.6, color: '#41b6c4' },
  { max: 0.8, color: '#2c7fb8' },
  { max: Infinity, color: '#253494' },
];
const GAP_COLOR = '#d7301f';
const GAP_OPACITY = 0.5;

/** The class index of a share in 0..1 (a share of exactly 0.2 belongs to the second class). */
export function shareClass(share) {
  const i = SHARE_CLASSES.findIndex((c) => share < c.max);
  return i < 0 ? SHARE_CLASSES.length - 1 : i;
}

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}

export class CoverageMap {
  /**
   * @param {HTMLElement} container
   * @param {{
   *   onTap: (p:{lat:number, lon:number}) => void,   a tap on the map (the what-if mode adds a station)
   *   onHypoTap: (id:number) => void,                a tap on a hypothetical station (removes it)
   *   onSuggestionTap: (s:object) => boolean,        true when the tap was used (the what-if mode)
   *   countyPopup: (adcode:string) => Node|null,     the content of a county's popup
   *   suggestionPopup: (s:object) => Node,           the content of a suggestion's popup
   *   suggestionLabel: (s:object) => string,         a suggestion's marker in words (for screen readers)
   *   shareLabel: (share:number) => string,          a share as the page writes it
   * }} handlers
   */
  constructor(container, handlers) {
    this.h = handlers;
    this.whatIf = false;
    this.counties = new Map(); // adcode -> GeoJSON feature of the basemap
    this.rows = new Map(); // adcode -> county row of the coverage shown
    this.fills = new Map(); // adcode -> the choropleth's layer
    this.suggestionMarkers = new Map(); // rank -> marker
    this.pendingFit = false;

    this.map = L.map(container, {
      center: JIANGXI_CENTER,
      zoom: 7,
      minZoom: 5,
      maxZoom: 17,
      zoomSnap: 0.5,
    });
    createBasemapPanes(this.map, 450); // names above the fills and the gaps
    this.map.createPane('fills').style.zIndex = 300;
    this.map.createPane('gaps').style.zIndex = 380;
    this.map.getPane('gaps').style.pointerEvents = 'none';
    this.attribution = null;
    this.setAttribution();

    this.labelLayer = L.layerGroup();
    this.fillLayer = L.featureGroup().addTo(this.map);
    // SVG (not canvas) so each uncovered area is a path a test or an inspector can find.
    this.gapRenderer = L.svg({ pane: 'gaps', padding: 0.3 });
    this.gapLayer = L.featureGroup().addTo(this.map);
    this.suggestionLayer = L.featureGroup().addTo(this.map);
    this.hypoLayer = L.featureGroup().addTo(this.map);

    this.buildLegend();

    this.map.on('click', (e) => this.h.onTap({ lat: e.latlng.lat, lon: e.latlng.lng }));
    this.map.on('zoomend', () => toggleByZoom(this.map, this.labelLayer));
    new ResizeObserver(() => this.map.invalidateSize({ pan: false })).observe(container);
  }

  setAttribution() {
    if (this.attribution) this.map.attributionControl.removeAttribution(this.attribution);
    this.attribution = t('map.attribution'); // Leaflet inserts it as HTML: only our own fixed string
    this.map.attributionControl.addAttribution(this.attribution);
  }

  /** The legend: five boxes of covered share over their bounds, then the other symbols. */
  buildLegend() {
    const box = el('div', 'map-legend coverage-legend');
    box.setAttribute('role', 'group');
    this.legendBox = box;
    this.legendTitle = el('p', 'legend-title');
    const scale = el('div', 'legend-scale');
    for (const c of SHARE_CLASSES) {
      const sw = el('span', 'legend-box');
      sw.style.backgroundColor = c.color; // CSSOM, not a style attribute: allowed by the CSP
      scale.append(sw);
    }
    this.legendTicks = el('div', 'legend-ticks');
    this.legendTicks.setAttribute('aria-hidden', 'true');
    this.legendRange = el('span', 'visually-hidden');
    const extra = el('ul', 'legend-extra');
    // The gap swatch as the map shows it: translucent red over a (poorly covered) county's fill.
    const gap = el('span', 'legend-box legend-gap');
    gap.style.backgroundColor = SHARE_CLASSES[0].color;
    const red = el('span', 'legend-gap-red');
    red.style.backgroundColor = GAP_COLOR;
    red.style.opacity = String(GAP_OPACITY);
    gap.append(red);
    this.legendGap = el('span');
    this.legendSuggestion = el('span');
    this.legendHypo = el('span');
    const li1 = el('li');
    li1.append(gap, this.legendGap);
    const li2 = el('li');
    li2.append(el('span', 'legend-pin suggest-dot', '1'), this.legendSuggestion);
    const li3 = el('li');
    li3.append(el('span', 'legend-pin hypo-dot', '+'), this.legendHypo);
    // The marker symbols are explained only once there are such markers (phones have little map).
    this.legendSuggestionItem = li2;
    this.legendHypoItem = li3;
    li2.hidden = true;
    li3.hidden = true;
    extra.append(li1, li2, li3);
    box.append(this.legendTitle, scale, this.legendTicks, this.legendRange, extra);
    new NodeControl(box, { position: 'bottomleft' }).addTo(this.map);
  }

  /** Re-reads every string (after a language switch). */
  refreshText() {
    this.setAttribution();
    this.legendBox.setAttribute('aria-label', t('legend.label'));
    this.legendTitle.textContent = t('legend.title');
    const bounds = [0, ...SHARE_CLASSES.map((c) => Math.min(c.max, 1))];
    this.legendTicks.replaceChildren(...bounds.map((b, i) => el('span', null,
      i === bounds.length - 1 ? this.h.shareLabel(b, 0) : String(Math.round(b * 100)))));
    this.legendRange.textContent = SHARE_CLASSES
      .map((c, i) => `${this.h.shareLabel(bounds[i], 0)}–${this.h.shareLabel(bounds[i + 1], 0)}`).join(', ');
    this.legendGap.textContent = t('legend.gap');
    this.legendSuggestion.textContent = t('legend.suggestion');
    this.legendHypo.textContent = t('legend.hypothetical');
    for (const m of this.hypoLayer.getLayers()) this.labelHypo(m);
  }

  /** Draws the streets of the server's road network under the fills (when it has one). */
  setRoadLayer() {
    addRoadLayer(this.map);
  }

  /**
   * County outlines; the features are kept for the choropleth (joined by adcode). Zooming in
   * fetches finer levels of the outlines, and the fills follow them.
   */
  setBasemap(geojson, loadLevel = loadCountyLevel) {
    const outline = countyOutlines(geojson).addTo(this.map);
    const keep = (data) => {
      this.counties.clear();
      for (const f of data.features || []) {
        if (f?.properties?.adcode) this.counties.set(String(f.properties.adcode), f);
      }
    };
    keep(geojson);
    refineOnZoom(this.map, outline, geojson, loadLevel, (data) => {
      keep(data);
      if (this.rows.size) this.drawFills(false);
    });
    this.labelLayer.clearLayers();
    addCountyLabels(outline, this.labelLayer);
    toggleByZoom(this.map, this.labelLayer);
    if (this.rows.size) this.drawFills(this.pendingFit);
  }

  /** The bounds of the given counties' outlines, or null when the basemap is not loaded. */
  boundsOf(adcodes) {
    let b = null;
    for (const a of adcodes) {
      const f = this.counties.get(a);
      if (!f) continue;
      const fb = L.geoJSON(f).getBounds();
      b = b ? b.extend(fb) : fb;
    }
    return b;
  }

  /**
   * Shows a coverage answer: the fills of its counties and its uncovered areas. With `fit` the map
   * frames the region (a new region), else the view stays (a new mode or a what-if station).
   */
  showCoverage(result, { fit = false } = {}) {
    this.rows = new Map((result.counties || []).map((r) => [String(r.adcode), r]));
    this.drawFills(fit);
    this.gapLayer.clearLayers();
    const gaps = result.gaps?.features || [];
    if (gaps.length) {
      L.geoJSON(result.gaps, {
        pane: 'gaps',
        renderer: this.gapRenderer,
        interactive: false,
        style: {
          stroke: false, fillColor: GAP_COLOR, fillOpacity: GAP_OPACITY, className: 'gap-area',
        },
      }).addTo(this.gapLayer);
    }
  }

  /** Redraws the county fills (only once the outlines are here to draw them with). */
  drawFills(fit) {
    if (!this.counties.size) {
      this.pendingFit = this.pendingFit || fit;
      return;
    }
    this.pendingFit = false;
    const wanted = new Set(this.rows.keys());
    for (const [adcode, layer] of this.fills) {
      if (!wanted.has(adcode)) {
        this.fillLayer.removeLayer(layer);
        this.fills.delete(adcode);
      }
    }
    for (const [adcode, row] of this.rows) {
      let layer = this.fills.get(adcode);
      if (!layer) {
        const f = this.counties.get(adcode);
        if (!f) continue;
        // Not bubbling to the map: tapCounty handles the tap (in the what-if mode as the map would).
        layer = L.geoJSON(f, { pane: 'fills', className: 'county-fill', bubblingMouseEvents: false });
        layer.on('click', (e) => this.tapCounty(adcode, e));
        this.fillLayer.addLayer(layer);
        this.fills.set(adcode, layer);
      }
      const share = Number(row.covered_share) || 0;
      layer.setStyle({
        color: '#4a5561', weight: 1, opacity: 0.8,
        fillColor: SHARE_CLASSES[shareClass(share)].color, fillOpacity: 0.85,
      });
      layer.eachLayer((l) => {
        const p = l.getElement?.();
        if (p) p.dataset.adcode = adcode;
      });
    }
    if (fit && this.fillLayer.getLayers().length) {
      this.map.invalidateSize({ pan: false });
      this.map.fitBounds(this.fillLayer.getBounds(), { padding: [12, 12], animate: false });
    }
  }

  /** A tap on a county: in the what-if mode it places a station there, else it tells the figures. */
  tapCounty(adcode, e) {
    if (this.whatIf) {
      this.h.onTap({ lat: e.latlng.lat, lon: e.latlng.lng });
      return;
    }
    const content = this.h.countyPopup(adcode);
    if (content) L.popup({ autoPan: true, maxWidth: 260 }).setLatLng(e.latlng).setContent(content).openOn(this.map);
  }

  /** Frames one county. */
  zoomToCounty(adcode) {
    const layer = this.fills.get(adcode);
    const bounds = layer ? layer.getBounds() : this.boundsOf([adcode]);
    if (!bounds) return;
    this.map.fitBounds(bounds, { padding: [16, 16], maxZoom: 13 });
    for (const [a, l] of this.fills) {
      l.setStyle(a === adcode ? { weight: 3, color: '#111' } : { weight: 1, color: '#4a5561' });
    }
    layer?.bringToFront();
  }

  /** Numbered markers of the suggested sites, 1..k; tapping one opens what it adds. */
  setSuggestions(items) {
    this.suggestionLayer.clearLayers();
    this.suggestionMarkers.clear();
    for (const s of items) {
      const dot = el('span', 'suggest-dot', String(s.rank));
      const marker = L.marker([s.lat, s.lon], {
        icon: L.divIcon({ className: 'suggest-pin', html: dot, iconSize: [44, 44], iconAnchor: [22, 22] }),
        keyboard: true,
        riseOnHover: true,
        zIndexOffset: 1000 - s.rank,
      });
      marker.bindPopup(() => this.h.suggestionPopup(s), { maxWidth: 260, autoPan: true });
      marker.on('click', () => {
        // In the what-if mode a tap on a suggestion tries it, like a tap on the map at that spot.
        if (this.h.onSuggestionTap(s)) marker.closePopup();
      });
      marker.on('add', () => {
        const e = marker.getElement();
        e.dataset.rank = String(s.rank);
        e.setAttribute('aria-label', this.h.suggestionLabel(s));
      });
      marker.addTo(this.suggestionLayer);
      this.suggestionMarkers.set(s.rank, marker);
    }
    this.legendSuggestionItem.hidden = !items.length;
  }

  /** Centres one suggested site close enough to see what its circle would cover, and opens its popup. */
  focusSuggestion(rank) {
    const m = this.suggestionMarkers.get(rank);
    if (!m) return;
    this.map.setView(m.getLatLng(), Math.max(this.map.getZoom(), 12), { animate: false });
    m.openPopup();
  }

  /** Frames all the suggested sites (and keeps the region in view when they are close together). */
  fitSuggestions() {
    const layers = this.suggestionLayer.getLayers();
    if (!layers.length) return;
    const b = this.suggestionLayer.getBounds();
    if (!this.map.getBounds().contains(b)) this.map.fitBounds(b.pad(0.2), { maxZoom: 12 });
  }

  /** The hypothetical stations of the what-if mode: [{id, lat, lon}], numbered in order. */
  setHypothetical(stations) {
    this.hypoLayer.clearLayers();
    stations.forEach((s, i) => {
      const dot = el('span', 'hypo-dot', '+');
      const marker = L.marker([s.lat, s.lon], {
        icon: L.divIcon({ className: 'hypo-pin', html: dot, iconSize: [44, 44], iconAnchor: [22, 22] }),
        keyboard: true,
        zIndexOffset: 5000,
      });
      marker.options.hypoIndex = i + 1;
      marker.on('click', () => this.h.onHypoTap(s.id));
      marker.on('add', () => {
        marker.getElement().dataset.id = String(s.id);
        this.labelHypo(marker);
      });
      marker.addTo(this.hypoLayer);
    });
    this.legendHypoItem.hidden = !this.whatIf && !stations.length;
  }

  labelHypo(marker) {
    const e = marker.getElement();
    if (!e) return;
    const label = t('whatif.marker', { n: marker.options.hypoIndex });
    e.setAttribute('aria-label', label);
    e.title = label;
  }

  /** In the what-if mode taps place stations: a crosshair, and no zoom on a double tap. */
  setWhatIf(on) {
    this.whatIf = on;
    this.map.getContainer().classList.toggle('is-whatif', on);
    this.legendHypoItem.hidden = !on && !this.hypoLayer.getLayers().length;
    if (on) {
      this.map.doubleClickZoom.disable();
      this.map.closePopup();
    } else this.map.doubleClickZoom.enable();
  }

  resize() {
    this.map.invalidateSize({ pan: false });
  }
}
