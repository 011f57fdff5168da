// The rider view (找驿站): find the rider's position, ask for the nearest open stations with the
// amenities they need, and show them as a list and on the map. All API text goes in via textContent.
import { ApiError, fileReport, locateByIp, nearestStations } from './api.js';
import { minutesLabel } from './minutes.js';
import { AMENITIES, AMENITY_ICON, amenityLabel, formatDateTime, formatHours, onLangChange, t } from './i18n.js';
import { answer as answerFromSaved, distanceM, loadSaved, snapshot, storeSaved } from './saved-nearby.js';

/** The chips offered as filters, most asked-for first; every amenity still shows on the cards. */
const FILTER_AMENITIES = [
  'hot_water', 'microwave', 'toilet', 'phone_charging', 'ebike_charging', 'battery_swap',
  'air_conditioning', 'heating', 'water', 'rest_area', 'nursing_room', 'first_aid',
];
const LIMIT = 10;
const GEO_TIMEOUT_MS = 8000;
/** Stations fetched around a new place for use without a signal (unfiltered, in the background). */
const SAVE_LIMIT = 50;
/** A saved area still serves while it reaches this far from the rider, and is this fresh. */
const SAVE_KEEP_REACH_M = 1500;
const SAVE_KEEP_MS = 30 * 60 * 1000;
/** A weak signal: after this long the saved answer shows while the network one is awaited. */
const SLOW_MS = 6000;
/** The straight-line model's defaults, until /client-config says otherwise. */
const DEFAULT_TRAVEL = { walk_kmh: 4.5, ebike_kmh: 15, detour: 1.3 };
const OFFLINE_CODES = ['network', 'offline', 'timeout'];

/** Why a position could not be had, as an i18n key: from a GeolocationPositionError or our own. */
function locateProblem(err) {
  if (!window.isSecureContext) return 'locate.insecure';
  if (err?.message === 'unsupported') return 'locate.unsupported';
  if (err?.code === 1) return 'locate.denied';
  if (err?.code === 3 || err?.message === 'timeout') return 'locate.timeout';
  return 'locate.unavailable';
}

/** The geolocation permission without asking: 'granted', 'denied', 'prompt' or 'unknown'. */
async function geoPermission() {
  try {
    const p = await navigator.permissions.query({ name: 'geolocation' });
    return p.state;
  } catch {
    return 'unknown';
  }
}
const MODE_KEY = 'yizhan.mode';
const NAV_APPS = ['amap', 'baidu', 'tencent'];
// Navigation links are built here (js/nav.js), loaded on its own: a service worker whose cache
// predates nav.js still starts the app offline (without links, which need a network anyway).
let navLinks = null;
const navReady = import('./nav.js').then((m) => { navLinks = m.navLinks; }, () => {});
const REPORT_KINDS = ['closed', 'amenity_broken', 'wrong_location', 'other'];
const REPORT_NOTE_MAX = 500;

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}

/** Only web links are followed: a server bug must not turn a nav button into `javascript:`. */
function safeHttpUrl(s) {
  try {
    const u = new URL(s);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
  } catch {
    return null;
  }
}

function formatDistance(m) {
  if (m < 1000) return t('dist.m', { n: Math.round(m) });
  const km = m / 1000;
  return t('dist.km', { n: km < 10 ? km.toFixed(1) : Math.round(km) });
}

function formatMinutes(item, mode) {
  const label = minutesLabel(item, mode);
  return label ? t(label.key, { n: label.n }) : null;
}

/** Wraps navigator.geolocation; `onLate` gets a fix that arrives after we stopped waiting. */
function geolocate(onLate, maximumAge = 60000) {
  return new Promise((resolve, reject) => {
    if (!('geolocation' in navigator) || !window.isSecureContext) {
      reject(new Error('unsupported'));
      return;
    }
    let settled = false;
    // The browser's own timeout does not count the time a permission prompt stays open.
    const guard = setTimeout(() => {
      settled = true;
      reject(new Error('timeout'));
    }, GEO_TIMEOUT_MS + 2000);
    navigator.geolocation.getCurrentPosition(
      (pos) => {
        clearTimeout(guard);
        if (settled) onLate(pos);
        else resolve(pos);
        settled = true;
      },
      (err) => {
        clearTimeout(guard);
        if (!settled) reject(err);
        settled = true;
      },
      { enableHighAccuracy: true, timeout: GEO_TIMEOUT_MS, maximumAge },
    );
  });
}

export class RiderView {
  /**
   * @param {object} dom  elements of the page (see app.js)
   * @param {import('./map.js').StationMap} map
   */
  constructor(dom, map, config = {}) {
    this.dom = dom;
    this.map = map;
    this.config = config; // /api/v1/client-config: {geoip, basemap, travel}
    this.travel = { ...DEFAULT_TRAVEL, ...(config.travel || {}) };
    this.state = {
      origin: null, // {lat, lon}
      originKind: null, // 'gps' | 'ip' | 'picked'
      accuracyM: null,
      amenities: new Set(),
      openNow: true,
      mode: 'walk',
      items: [],
      itemsMode: 'walk',
      selectedId: null,
      fromCache: false,
      savedAt: null, // when the list shown comes from the saved stations: when they were fetched
      notice: null, // why the list is empty though there is an origin: {key, params}
    };
    this.locateProblem = null; // i18n key of why the last attempt to locate failed
    this.prefetching = null;
    this.status = null; // {key, params, kind}
    this.error = null; // {error, retry}
    this.inflight = null;
    this.originSeq = 0;
    // Settles once the start-up has placed the rider, or found it cannot without asking.
    this.placedNow = null;
    this.placedOnce = new Promise((resolve) => { this.placedNow = resolve; });
    this.chips = new Map();
    // The problem report being written (kept across redraws of the list), and the stations
    // already reported this session: {id, kind, amenity, note, busy, error}.
    this.report = null;
    this.reported = new Set();
    try {
      if (localStorage.getItem(MODE_KEY) === 'ebike') this.state.mode = 'ebike';
    } catch { /* storage disabled */ }
  }

  start() {
    this.buildChips();
    const { openNow, modeInputs, retry, results } = this.dom;
    openNow.checked = this.state.openNow;
    openNow.addEventListener('change', () => {
      this.state.openNow = openNow.checked;
      this.query();
    });
    for (const input of modeInputs) {
      input.checked = input.value === this.state.mode;
      input.addEventListener('change', () => {
        if (!input.checked) return;
        this.state.mode = input.value;
        try { localStorage.setItem(MODE_KEY, input.value); } catch { /* not fatal */ }
        this.query();
      });
    }
    retry.addEventListener('click', () => this.error?.retry());
    results.addEventListener('click', (e) => {
      if (e.target.closest('a, .report')) return; // links and the report form do their own thing
      const li = e.target.closest('li.station');
      if (li) this.select(Number(li.dataset.id), 'list');
    });
    window.addEventListener('online', () => {
      this.renderOffline();
      if (this.error) this.error.retry();
      else if (this.state.savedAt) this.query(); // fresh results replace the saved ones
    });
    window.addEventListener('offline', () => this.renderOffline());
    this.dom.useLocation.addEventListener('click', () => this.locate(true));
    onLangChange(() => this.renderAll());
    this.renderOffline();
    this.renderLocationHelp();
    this.begin();
  }

  /**
   * The first position without a prompt on load: GPS at once if the rider already allowed it;
   * otherwise the IP position (when the server has a GeoIP database) or the province map, and a
   * button that asks. A denied permission is said, with how to turn it back on.
   */
  async begin() {
    const state = await geoPermission();
    if (state === 'granted') {
      await this.locate(false);
      this.placedNow();
      return;
    }
    if (state === 'denied') this.locateProblem = 'locate.denied';
    else if (!window.isSecureContext || !('geolocation' in navigator)) this.locateProblem = locateProblem(new Error('unsupported'));
    this.map.setLocateProblem(this.locateProblem);
    this.renderLocationHelp();
    await this.fallbackPosition();
    this.placedNow();
  }

  /**
   * Resolves when the start-up has placed the rider (or found no position without asking), or
   * after `ms`: the map's first view is known then, and with it the basemap it needs.
   */
  placed(ms) {
    return Promise.race([this.placedOnce, new Promise((resolve) => { setTimeout(resolve, ms); })]);
  }

  buildChips() {
    const box = this.dom.chips;
    box.replaceChildren();
    for (const key of FILTER_AMENITIES) {
      const b = el('button', 'chip');
      b.type = 'button';
      b.dataset.amenity = key;
      b.setAttribute('aria-pressed', 'false');
      b.append(el('span', 'chip-icon', AMENITY_ICON[key]), el('span', 'chip-label', amenityLabel(key)));
      b.firstChild.setAttribute('aria-hidden', 'true');
      b.addEventListener('click', () => {
        const on = !this.state.amenities.has(key);
        if (on) this.state.amenities.add(key);
        else this.state.amenities.delete(key);
        b.setAttribute('aria-pressed', String(on));
        this.query();
      });
      this.chips.set(key, b);
      box.append(b);
    }
  }

  // ---- position ---------------------------------------------------------------------------

  /**
   * Asks for the GPS position (the browser may prompt); on failure says why and falls back.
   * Asked by the rider (the ◎ or "use my location" button), a fix from a minute ago will not do.
   */
  async locate(asked = true) {
    this.setStatus('status.locating', {}, 'busy');
    this.clearError();
    try {
      const pos = await geolocate((late) => {
        // The user answered the permission prompt after we fell back: a real fix beats an IP guess.
        if (this.state.originKind !== 'picked') this.useGps(late);
      }, asked ? 0 : 60000);
      this.useGps(pos);
      return;
    } catch (e) {
      this.locateProblem = locateProblem(e);
      this.map.setLocateProblem(this.locateProblem);
      this.renderLocationHelp();
    }
    await this.fallbackPosition();
  }

  /** The IP position when the server can tell one, else the current origin or the map to tap. */
  async fallbackPosition() {
    const seq = this.originSeq; // if anything sets the origin meanwhile, this run steps aside
    if (this.config.geoip) {
      this.setStatus('status.locating', {}, 'busy');
      try {
        const { data } = await locateByIp();
        if (typeof data.lat !== 'number' || typeof data.lon !== 'number') throw new ApiError(200, 'bad_response', 'no position');
        if (this.originSeq !== seq) return;
        const km = Number.isFinite(data.accuracy_km) ? data.accuracy_km : null;
        this.setOrigin({ lat: data.lat, lon: data.lon }, 'ip', km !== null ? km * 1000 : null);
        return;
      } catch (e) {
        if (this.originSeq !== seq) return;
        if (e instanceof ApiError && OFFLINE_CODES.includes(e.code) && !this.savedOrigin()) {
          this.showError(e, () => this.locate());
        }
      }
    }
    if (this.originSeq !== seq) return;
    if (this.state.origin) {
      // The ◎ button was pressed with a position already in use: say why it did not move.
      if (this.locateProblem) this.setStatus('status.kept_origin', { reasonKey: this.locateProblem }, 'warn');
      else this.renderOriginStatus();
      return;
    }
    // No signal and no position: the place the saved stations were fetched from is the best guess.
    const saved = !navigator.onLine ? this.savedOrigin() : null;
    if (saved) {
      this.setOrigin(saved, 'saved');
      return;
    }
    this.setStatus('status.pick_hint', { reasonKey: this.locateProblem ?? 'locate.not_asked' }, 'hint');
  }

  savedOrigin() {
    const saved = loadSaved();
    return saved?.origin && Number.isFinite(saved.origin.lat) ? saved.origin : null;
  }

  useGps(pos) {
    const { latitude, longitude, accuracy } = pos.coords;
    this.setOrigin({ lat: latitude, lon: longitude }, 'gps', accuracy);
  }

  /** Sets the origin (from GPS, IP or a tap on the map) and searches from there. */
  setOrigin(origin, kind, accuracyM = null) {
    this.originSeq += 1;
    this.placedNow();
    this.state.origin = origin;
    this.state.originKind = kind;
    this.state.accuracyM = accuracyM;
    if (kind === 'gps') {
      this.locateProblem = null;
      this.map.setLocateProblem(null);
    }
    this.renderLocationHelp();
    // A tapped point is already in view; a GPS or IP fix may be anywhere.
    this.map.setOrigin(origin, kind === 'picked' ? null : accuracyM, kind !== 'picked');
    this.renderOriginStatus();
    this.query();
  }

  pick(latlng) {
    this.setOrigin(latlng, 'picked');
  }

  renderOriginStatus() {
    const { originKind, accuracyM } = this.state;
    if (originKind === 'gps') this.setStatus('status.gps', { m: Math.max(1, Math.round(accuracyM ?? 0)) });
    else if (originKind === 'ip') this.setStatus('status.ip', { km: accuracyM ? Math.max(1, Math.round(accuracyM / 1000)) : '?' }, 'warn');
    else if (originKind === 'picked') this.setStatus('status.picked');
    else if (originKind === 'saved') this.setStatus('status.saved_origin', {}, 'warn');
  }

  /** The "use my location" button while there is no GPS fix, and how to allow it when denied. */
  renderLocationHelp() {
    const { useLocation, locationHelp } = this.dom;
    useLocation.hidden = this.state.originKind === 'gps';
    useLocation.textContent = t('locate.use_mine');
    const help = this.locateProblem === 'locate.denied' ? 'locate.denied_help' : null;
    locationHelp.hidden = !help;
    locationHelp.textContent = help ? t(help) : '';
  }

  // ---- search -----------------------------------------------------------------------------

  async query() {
    const { origin, amenities, openNow, mode } = this.state;
    if (!origin) return;
    this.inflight?.abort();
    const ctrl = new AbortController();
    this.inflight = ctrl;
    this.setLoading(true);
    this.clearError();
    const q = { origin, amenities: [...amenities], openNow, mode, limit: LIMIT };
    if (!navigator.onLine) {
      // Known to be offline: answer from the saved stations at once, without a doomed request.
      const offline = new ApiError(0, 'network', 'offline');
      if (!this.showSaved(q, offline)) this.showError(offline, () => this.query());
      this.inflight = null;
      this.setLoading(false);
      return;
    }
    // On a weak signal the saved stations show after SLOW_MS, marked, until the answer arrives.
    const slow = setTimeout(() => {
      if (this.inflight === ctrl) this.showSaved(q, null, { quiet: true });
    }, SLOW_MS);
    try {
      // With a road network the list is ordered by minutes on the roads (by=time).
      const by = this.config.travel?.network ? 'time' : null;
      const { data, fromCache } = await nearestStations(
        { ...origin, limit: LIMIT, amenities: q.amenities, openNow, mode, by },
        { signal: ctrl.signal },
      );
      await navReady;
      if (ctrl.signal.aborted) return;
      const items = Array.isArray(data.items) ? data.items : [];
      this.show(items, data.mode || mode, fromCache, null);
      if (!fromCache) this.keepForOffline(q, data.by === 'time' ? null : items);
    } catch (e) {
      if (ctrl.signal.aborted) return;
      if (!(e instanceof ApiError && OFFLINE_CODES.includes(e.code) && this.showSaved(q, e))) {
        this.showError(e, () => this.query());
      }
    } finally {
      clearTimeout(slow);
      if (this.inflight === ctrl) {
        this.inflight = null;
        this.setLoading(false);
      }
    }
  }

  show(items, mode, fromCache, savedAt, notice = null) {
    this.state.items = items;
    this.state.itemsMode = mode;
    this.state.fromCache = fromCache;
    this.state.savedAt = savedAt;
    this.state.notice = notice;
    this.state.selectedId = null;
    this.renderDemo(); // first: the banner changes the map's height
    this.map.setStations(items, this.state.origin);
    this.renderList();
  }

  /**
   * Answers `q` from the stations saved on an earlier visit, marked as possibly outdated; false
   * when nothing saved can answer it (then the caller shows the network error). Far from the
   * saved area the list says so instead of showing stations that may not be the nearest.
   */
  showSaved(q, error, { quiet = false } = {}) {
    const saved = loadSaved();
    const res = answerFromSaved(saved, q, this.travel);
    if (res.kind === 'ok') {
      this.show(res.items, q.mode, true, res.fetchedAt);
      return true;
    }
    if (quiet || res.kind === 'none') return false;
    const notice = res.kind === 'far'
      ? { key: 'offline.far', params: { km: res.km < 10 ? res.km.toFixed(1) : Math.round(res.km) } }
      : { key: 'offline.filters', params: {} };
    this.show([], q.mode, true, saved.fetchedAt, notice);
    if (error) this.showError(error, () => this.query());
    return true;
  }

  /**
   * Saves this answer for use without a signal, unless the saved stations already cover this
   * place; then fetches the unfiltered stations around it in the background (so a chip or the
   * other mode can be answered offline too) and saves those instead.
   */
  keepForOffline(q, items) {
    // A list ordered by road minutes (`items` null) proves nothing about distances: only the
    // background fetch by distance below is saved then.
    const saved = loadSaved();
    const wide = { ...q, amenities: [], openNow: false };
    const fresh = saved?.wide && Date.now() - saved.fetchedAt < SAVE_KEEP_MS;
    const kept = fresh ? answerFromSaved(saved, wide, this.travel) : null;
    const reach = kept?.kind === 'ok' ? kept.reachM : 0;
    if (reach >= SAVE_KEEP_REACH_M) return;
    // A saved wide answer that already holds everything this one proves is kept: replacing it
    // with the narrower one (while a second query races the background fetch) would lose reach.
    if (items) {
      const far = items.length < q.limit ? Infinity : Math.max(...items.map((s) => Number(s.distance_m) || 0));
      if (reach >= far) return;
      storeSaved(snapshot({ ...q, items }));
    }
    if (this.prefetching && distanceM(this.prefetching, q.origin) < 200) return;
    const at = { ...q.origin };
    this.prefetching = at;
    nearestStations({ ...at, limit: SAVE_LIMIT, amenities: [], openNow: false, mode: q.mode })
      .then(({ data, fromCache }) => {
        if (fromCache || !Array.isArray(data?.items)) return;
        storeSaved({ ...snapshot({ ...wide, origin: at, limit: SAVE_LIMIT, items: data.items }), wide: true });
      })
      .catch(() => { /* the narrower answer stays saved */ })
      .finally(() => {
        if (this.prefetching === at) this.prefetching = null;
      });
  }

  select(id, from) {
    if (!this.state.items.some((s) => s.id === id)) return;
    this.state.selectedId = id;
    for (const li of this.dom.results.children) {
      const on = Number(li.dataset.id) === id;
      li.classList.toggle('is-selected', on);
      if (on) li.setAttribute('aria-current', 'true');
      else li.removeAttribute('aria-current');
      if (on && from === 'map') li.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    }
    this.map.focusStation(id);
  }

  // ---- rendering --------------------------------------------------------------------------

  renderAll() {
    for (const [key, b] of this.chips) b.querySelector('.chip-label').textContent = amenityLabel(key);
    this.renderStatus();
    this.renderError();
    this.renderLocationHelp();
    this.renderList();
    this.map.refreshText();
  }

  setStatus(key, params = {}, kind = 'info') {
    this.status = { key, params, kind };
    this.renderStatus();
  }

  renderStatus() {
    const { status: box } = this.dom;
    if (!this.status) {
      box.hidden = true;
      return;
    }
    box.hidden = false;
    box.dataset.kind = this.status.kind;
    // A parameter named `somethingKey` is an i18n key, translated now (so a language switch
    // redraws it too) and passed as `something`.
    const params = { ...this.status.params };
    for (const [k, v] of Object.entries(this.status.params)) {
      if (k.endsWith('Key')) params[k.slice(0, -3)] = t(v);
    }
    box.textContent = t(this.status.key, params);
  }

  setLoading(on) {
    const { results, loading } = this.dom;
    results.setAttribute('aria-busy', String(on));
    results.classList.toggle('is-loading', on);
    loading.hidden = !on;
    loading.textContent = on ? t('status.loading') : '';
  }

  showError(error, retry) {
    this.error = { error, retry };
    this.renderError();
  }

  clearError() {
    this.error = null;
    this.renderError();
  }

  renderError() {
    const { errorBox, errorText, retry } = this.dom;
    if (!this.error) {
      errorBox.hidden = true;
      return;
    }
    const e = this.error.error;
    let msg;
    if (e?.code === 'network' || e?.code === 'offline') msg = t('error.network');
    else if (e?.code === 'timeout') msg = t('error.timeout');
    else msg = t('error.server', { message: e?.message || String(e) });
    errorText.textContent = msg;
    retry.textContent = t('error.retry');
    errorBox.hidden = false;
  }

  renderOffline() {
    this.dom.offlineBanner.hidden = navigator.onLine;
  }

  renderDemo() {
    // Once shown, the demo warning stays for the session: better to over-warn than to mislead.
    if (this.state.items.some((s) => s.demo === true)) this.dom.demoBanner.hidden = false;
  }

  renderList() {
    const { results, count } = this.dom;
    const { items, origin } = this.state;
    results.replaceChildren();
    if (!origin) {
      count.textContent = '';
      return;
    }
    const { savedAt, notice } = this.state;
    results.classList.toggle('is-stale', Boolean(savedAt));
    if (savedAt) {
      count.dataset.kind = 'stale';
      count.textContent = t('offline.saved_list', { time: formatDateTime(new Date(savedAt).toISOString()) });
    } else if (this.state.fromCache) {
      count.dataset.kind = 'stale';
      count.textContent = t('status.from_cache');
    } else {
      delete count.dataset.kind;
      count.textContent = items.length ? t('list.count', { n: items.length }) : '';
    }
    if (!items.length) {
      const li = el('li', 'empty', notice ? t(notice.key, notice.params) : t('list.empty'));
      results.append(li);
      return;
    }
    items.forEach((item, i) => results.append(this.renderItem(item, i)));
  }

  renderItem(item, index) {
    const mode = this.state.itemsMode;
    const li = el('li', 'station');
    li.dataset.id = String(item.id);
    li.dataset.distance = String(item.distance_m);
    if (item.id === this.state.selectedId) li.classList.add('is-selected');

    const head = el('div', 'station-head');
    const num = el('span', 'station-num', String(index + 1));
    num.setAttribute('aria-hidden', 'true');
    const h = el('h3', 'station-name');
    const focus = el('button', 'station-focus', item.name);
    focus.type = 'button';
    focus.title = t('list.show_on_map', { name: item.name });
    h.append(focus);
    head.append(num, h, this.renderBadge(item));
    li.append(head);

    const meta = el('p', 'station-meta');
    meta.append(el('strong', 'station-distance', formatDistance(item.distance_m)));
    const minutes = formatMinutes(item, mode);
    if (minutes) meta.append(' · ', el('span', 'station-minutes', minutes));
    if (item.demo) meta.append(' ', el('span', 'tag-demo', t('demo.tag')));
    li.append(meta);

    if (item.address) li.append(el('p', 'station-address', item.address));

    if (item.temporary_closure) {
      const c = el('p', 'station-closure');
      const { until, reason } = item.temporary_closure;
      if (until) c.append(el('span', null, t('closure.until', { until: formatDateTime(until) })));
      if (reason) c.append(until ? t('closure.sep') : '', el('span', null, t('closure.reason', { reason })));
      li.append(c);
    }
    if (item.opening_hours) li.append(el('p', 'station-hours', t('hours.label', { hours: formatHours(item.opening_hours) })));

    if (Array.isArray(item.amenities) && item.amenities.length) {
      const ul = el('ul', 'amenities');
      const wanted = this.state.amenities;
      // Show them in our fixed order so cards are easy to compare; unknown keys go last, as text.
      const order = new Map(AMENITIES.map(([k], i) => [k, i]));
      const keys = [...item.amenities].sort((a, b) => (order.get(a) ?? 99) - (order.get(b) ?? 99));
      for (const key of keys) {
        const a = el('li', `amenity${wanted.has(key) ? ' is-wanted' : ''}`);
        a.dataset.amenity = key;
        const icon = el('span', 'amenity-icon', AMENITY_ICON[key] || '•');
        icon.setAttribute('aria-hidden', 'true');
        a.append(icon, el('span', 'amenity-label', amenityLabel(key)));
        ul.append(a);
      }
      li.append(ul);
    }

    const actions = el('div', 'station-actions');
    if (item.phone) {
      const tel = item.phone.replace(/[^0-9+]/g, '');
      if (tel) {
        const a = el('a', 'btn btn-call');
        a.href = `tel:${tel}`;
        a.setAttribute('aria-label', t('phone.call', { phone: item.phone }));
        const icon = el('span', null, '📞');
        icon.setAttribute('aria-hidden', 'true');
        a.append(icon, el('span', null, item.phone));
        actions.append(a);
      }
    }
    const nav = el('div', 'nav-group');
    nav.setAttribute('role', 'group');
    nav.setAttribute('aria-label', t('nav.label'));
    const links = item.nav ?? (navLinks && this.state.origin && navLinks(this.state.origin, item, item.name, this.state.itemsMode));
    for (const app of NAV_APPS) {
      const href = safeHttpUrl(links?.[app]);
      if (!href) continue;
      const a = el('a', `btn btn-nav nav-${app}`, t(`nav.${app}`));
      a.href = href;
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      a.dataset.app = app;
      a.setAttribute('aria-label', t('nav.open_in', { app: t(`nav.${app}`), name: item.name }));
      nav.append(a);
    }
    if (nav.childElementCount) actions.append(nav);
    if (actions.childElementCount) li.append(actions);

    if (item.verified_at) {
      li.append(el('p', 'station-verified', t('verified.at', { date: formatDateTime(item.verified_at, false) })));
    }
    li.append(this.renderReport(item));
    return li;
  }

  // ---- problem reports (纠错) ------------------------------------------------------------------

  /** The card's "report a problem" button, its open form, or the thank-you once sent. */
  renderReport(item) {
    const box = el('div', 'report');
    if (this.reported.has(item.id)) {
      const done = el('p', 'report-sent', t('report.sent'));
      done.setAttribute('role', 'status');
      done.tabIndex = -1;
      box.append(done);
      return box;
    }
    const r = this.report?.id === item.id ? this.report : null;
    if (!r) {
      const open = el('button', 'link-btn report-open', t('report.open'));
      open.type = 'button';
      open.setAttribute('aria-label', t('report.open_label', { name: item.name }));
      open.addEventListener('click', () => {
        const amenity = Array.isArray(item.amenities) && item.amenities.length ? item.amenities[0] : AMENITIES[0][0];
        const prev = this.report;
        this.report = { id: item.id, kind: 'closed', amenity, note: '', busy: false, error: null };
        const other = prev && prev.id !== item.id ? this.state.items.find((x) => x.id === prev.id) : null;
        if (other) this.refreshReport(other);
        this.refreshReport(item);
        this.dom.results.querySelector(`li.station[data-id="${item.id}"] .report select`)?.focus();
      });
      box.append(open);
      return box;
    }
    const form = el('form', 'report-form');
    form.noValidate = true;
    form.setAttribute('aria-label', t('report.open_label', { name: item.name }));
    form.append(el('p', 'report-title', t('report.title')));
    const uid = `report-${item.id}`;

    const kind = document.createElement('select');
    kind.id = `${uid}-kind`;
    kind.name = 'kind';
    for (const k of REPORT_KINDS) {
      const o = el('option', null, t(`report.kind.${k}`));
      o.value = k;
      o.selected = k === r.kind;
      kind.append(o);
    }
    form.append(this.labelled(t('report.kind'), kind));

    const amenity = document.createElement('select');
    amenity.id = `${uid}-amenity`;
    amenity.name = 'amenity';
    // The station's own amenities first: those are the ones a rider can find broken.
    const own = Array.isArray(item.amenities) ? item.amenities : [];
    const keys = [...own, ...AMENITIES.map(([k]) => k).filter((k) => !own.includes(k))];
    for (const k of keys) {
      const o = el('option', null, amenityLabel(k));
      o.value = k;
      o.selected = k === r.amenity;
      amenity.append(o);
    }
    const amenityField = this.labelled(t('report.amenity'), amenity);
    amenityField.hidden = r.kind !== 'amenity_broken';
    form.append(amenityField);

    const note = document.createElement('textarea');
    note.id = `${uid}-note`;
    note.name = 'note';
    note.rows = 3;
    note.maxLength = REPORT_NOTE_MAX;
    note.value = r.note;
    const count = el('p', 'report-count', t('report.note_count', { n: r.note.length, max: REPORT_NOTE_MAX }));
    count.id = `${uid}-count`;
    note.setAttribute('aria-describedby', count.id);
    const noteField = this.labelled(t('report.note'), note);
    noteField.append(count);
    form.append(noteField);

    kind.addEventListener('change', () => {
      r.kind = kind.value;
      amenityField.hidden = r.kind !== 'amenity_broken';
    });
    amenity.addEventListener('change', () => { r.amenity = amenity.value; });
    note.addEventListener('input', () => {
      r.note = note.value;
      count.textContent = t('report.note_count', { n: [...note.value].length, max: REPORT_NOTE_MAX });
    });

    const err = el('p', 'form-error');
    err.setAttribute('role', 'alert');
    err.hidden = !r.error;
    if (r.error) err.textContent = t(r.error.key, r.error.params);
    form.append(err);

    const buttons = el('div', 'report-buttons');
    const send = el('button', 'btn btn-primary btn-small', t(r.busy ? 'report.sending' : 'report.send'));
    send.type = 'submit';
    send.disabled = r.busy;
    const cancel = el('button', 'btn btn-small', t('report.cancel'));
    cancel.type = 'button';
    cancel.addEventListener('click', () => {
      this.report = null;
      this.refreshReport(item);
      this.reportBox(item)?.querySelector('button')?.focus();
    });
    buttons.append(send, cancel);
    form.append(buttons);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.sendReport(item);
    });
    box.append(form);
    return box;
  }

  reportBox(item) {
    return this.dom.results.querySelector(`li.station[data-id="${item.id}"] > .report`);
  }

  /** Redraws only the report part of one card (keeps the list's scroll position and the other cards). */
  refreshReport(item) {
    this.reportBox(item)?.replaceWith(this.renderReport(item));
  }

  labelled(text, control) {
    const wrap = el('div', 'field');
    const label = el('label', 'field-label', text);
    label.htmlFor = control.id;
    wrap.append(label, control);
    return wrap;
  }

  async sendReport(item) {
    const r = this.report;
    if (!r || r.id !== item.id || r.busy) return;
    const note = r.note.trim();
    if ([...note].length > REPORT_NOTE_MAX) {
      r.error = { key: 'report.too_long', params: { max: REPORT_NOTE_MAX } };
      this.refreshReport(item);
      return;
    }
    const body = { kind: r.kind };
    if (r.kind === 'amenity_broken') body.amenity = r.amenity;
    if (note) body.note = note;
    const { origin } = this.state;
    if (origin) {
      // About 100 m: enough to place the report, not the rider.
      body.lat = Math.round(origin.lat * 1000) / 1000;
      body.lon = Math.round(origin.lon * 1000) / 1000;
    }
    r.busy = true;
    r.error = null;
    this.refreshReport(item);
    try {
      await fileReport(item.id, body);
      this.reported.add(item.id);
      if (this.report === r) this.report = null;
      this.refreshReport(item);
      // The button that had focus is gone: keep the rider's place on the thank-you.
      this.reportBox(item)?.querySelector('.report-sent')?.focus({ preventScroll: true });
      return;
    } catch (e) {
      r.busy = false;
      if (e instanceof ApiError && e.status === 429) {
        r.error = e.retryAfter ? { key: 'report.rate_limited_s', params: { n: e.retryAfter } } : { key: 'report.rate_limited' };
      } else {
        let message = e?.message || String(e);
        if (e?.code === 'network' || e?.code === 'offline') message = t('error.network');
        else if (e?.code === 'timeout') message = t('error.timeout');
        r.error = { key: 'report.failed', params: { message } };
      }
    }
    this.refreshReport(item);
  }

  renderBadge(item) {
    if (item.temporary_closure) return el('span', 'badge badge-temp', t('open.closed_temp'));
    return item.open_now ? el('span', 'badge badge-open', t('open.yes')) : el('span', 'badge badge-closed', t('open.no'));
  }
}
