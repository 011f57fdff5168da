// The planners' view (规划): how much of a region lies within N minutes of a station, where the
// gaps are, which new sites would close most of them, and what-if: the same figures as if the
// stations the planner drops on the map existed. Loaded the first time #planner is opened.
// Everything from the server goes into the page as textContent.
import {
  ApiError, counties, coverage, coverageSuggestions, coverageWhatIf, regions, stationsInBox,
} from './api.js';
import { currentAccount, login, logout, onAuthChange, whoAmI } from './auth.js';
import { getLang, onLangChange, t } from './i18n.js';
import { CoverageMap } from './planner-map.js';

const DEFAULT_REGION = '360100'; // 南昌市
const DEFAULT_MINUTES = 15;
const MAX_MINUTES = 60;
const DEFAULT_K = 10;
const MAX_K = 50;
const MAX_HYPOTHETICAL = 100; // the what-if endpoint's limit
const DEMAND_ROLES = new Set(['planner', 'admin']);

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}

function button(className, text, type = 'button') {
  const b = el('button', className, text);
  b.type = type;
  return b;
}

/** A switch like the rider's "open now": a checkbox with a track, its label the text beside it. */
function switchControl(id) {
  const label = el('label', 'switch');
  const input = document.createElement('input');
  input.type = 'checkbox';
  input.id = id;
  const track = el('span', 'switch-track');
  track.setAttribute('aria-hidden', 'true');
  const text = el('span');
  label.append(input, track, text);
  return { label, input, text };
}

/** The message of an error for people: ours for network trouble, the server's otherwise. */
function errorText(e) {
  if (e?.code === 'network' || e?.code === 'offline') return t('error.network');
  if (e?.code === 'timeout') return t('error.timeout');
  return t('error.server', { message: e?.message || String(e) });
}

const locale = () => (getLang() === 'zh' ? 'zh-CN' : 'en');
const has = (v) => v !== undefined && v !== null;

/** Numbers as the language writes them. */
function num(n, digits = 0) {
  if (!Number.isFinite(Number(n))) return '–';
  return new Intl.NumberFormat(locale(), { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(Number(n));
}

function pct(share, digits = 1) {
  if (!Number.isFinite(Number(share))) return '–';
  return new Intl.NumberFormat(locale(), {
    style: 'percent', minimumFractionDigits: digits, maximumFractionDigits: digits,
  }).format(Number(share));
}

const km2 = (n) => t('unit.km2', { n: num(n, Math.abs(n) < 1 ? 2 : 1) });

function metres(m) {
  return m < 1000 ? t('dist.m', { n: num(Math.round(m)) }) : t('dist.km', { n: num(m / 1000, 1) });
}

/** A change of share in percentage points, signed. */
function points(delta) {
  const n = delta * 100;
  // One station moves a city's share by hundredths of a point: show them.
  return t('planner.pp', { sign: n > 0 ? '+' : n < 0 ? '−' : '±', n: num(Math.abs(n), 2) });
}

export class PlannerView {
  /**
   * @param {HTMLElement} root  the (empty) container of the view
   * @param {object} [config]  /api/v1/client-config (`road_network` offers 直线/路网)
   */
  constructor(root, config = {}) {
    this.root = root;
    this.started = false;
    // With a road network the server measures on it by default; the toggle compares.
    this.network = Boolean(config?.road_network);
    this.params = {
      region: DEFAULT_REGION, mode: 'walk', minutes: DEFAULT_MINUTES, open24: false,
      travel: this.network ? 'network' : null,
    };
    this.regions = []; // [{adcode, name, level, parent}]
    this.byCode = new Map();
    this.base = null; // the coverage answer for `params`
    this.whatIf = { on: false, stations: [], result: null, message: null };
    this.sugg = { k: DEFAULT_K, weight: 'area', data: null, message: null };
    this.busy = { regions: false, base: false, whatIf: false, sugg: false };
    this.error = null; // {error, retry}
    this.demo = new Map(); // region adcode -> true when its stations are demo data
    this.nextId = 1;
    this.ctrl = { base: null, whatIf: null, sugg: null };
    this.login = { error: null, busy: false };
  }

  start() {
    if (this.started) return;
    this.started = true;
    this.build();
    onLangChange(() => this.renderAll());
    onAuthChange(() => {
      this.login = { error: null, busy: false };
      this.renderAccount();
      this.loadBase(); // demand columns come and go with the session
    });
    this.renderAll();
    if (this.network) this.map.setRoadLayer();
    counties()
      .then(({ data }) => {
        this.map.setBasemap(data);
        this.checkDemo();
      })
      .catch((e) => console.warn('basemap unavailable:', e));
    whoAmI().then(() => this.renderAccount()).catch(() => { /* shown as signed out */ });
    this.loadRegions();
    this.loadBase({ fit: true });
  }

  /** The view is shown again: the map had no size while hidden. */
  show() {
    this.map?.resize();
  }

  // ---- skeleton -----------------------------------------------------------------------------

  build() {
    const d = {};
    const r = this.root;
    r.replaceChildren();

    d.mapWrap = el('section', 'map-wrap');
    d.map = el('div', 'planner-map');
    d.map.id = 'planner-map';
    d.map.setAttribute('role', 'region');
    d.mapWrap.append(d.map);

    d.panel = el('section', 'panel planner-panel');
    d.panel.setAttribute('aria-labelledby', 'planner-heading');
    d.heading = el('h2', 'visually-hidden');
    d.heading.id = 'planner-heading';

    // Settings: region, mode, minutes, 24-hour stations.
    d.controls = el('form', 'planner-controls');
    d.controls.setAttribute('role', 'group');
    d.controls.noValidate = true;
    d.controls.addEventListener('submit', (e) => e.preventDefault());
    d.regionSet = el('fieldset', 'region-picker');
    d.regionLegend = el('legend', 'field-label');
    d.regionSet.append(d.regionLegend);
    d.selects = {};
    d.selectLabels = {};
    for (const level of ['province', 'city', 'county']) {
      const wrap = el('div', 'region-level');
      const sel = document.createElement('select');
      sel.id = `pl-region-${level}`;
      const label = el('label', 'small-label');
      label.htmlFor = sel.id;
      wrap.append(label, sel);
      d.regionSet.append(wrap);
      d.selects[level] = sel;
      d.selectLabels[level] = label;
      sel.addEventListener('change', () => this.pickRegion(level, sel.value));
    }

    d.row = el('div', 'filter-row planner-row');
    d.modeSet = el('fieldset', 'segmented');
    d.modeLegend = el('legend', 'visually-hidden');
    d.modeSet.append(d.modeLegend);
    d.modeText = {};
    for (const mode of ['walk', 'ebike']) {
      const l = el('label');
      const i = document.createElement('input');
      i.type = 'radio';
      i.name = 'pl-mode';
      i.value = mode;
      i.id = `pl-mode-${mode}`;
      i.checked = mode === this.params.mode;
      i.addEventListener('change', () => {
        if (!i.checked) return;
        this.params.mode = mode;
        this.paramsChanged();
      });
      d.modeText[mode] = el('span');
      l.append(i, d.modeText[mode]);
      d.modeSet.append(l);
    }
    d.minutesWrap = el('div', 'minutes-field');
    d.minutes = document.createElement('input');
    d.minutes.id = 'pl-minutes';
    d.minutes.type = 'number';
    d.minutes.inputMode = 'numeric';
    d.minutes.min = '1';
    d.minutes.max = String(MAX_MINUTES);
    d.minutes.step = '1';
    d.minutes.value = String(this.params.minutes);
    d.minutesLabel = el('label', 'visually-hidden');
    d.minutesLabel.htmlFor = d.minutes.id;
    d.minutesUnit = el('span', 'minutes-unit');
    d.minutesUnit.setAttribute('aria-hidden', 'true');
    d.minutesWrap.append(d.minutesLabel, d.minutes, d.minutesUnit);
    d.minutes.addEventListener('change', () => this.setMinutes(d.minutes.value));
    d.open24 = switchControl('pl-open24');
    d.open24.input.addEventListener('change', () => {
      this.params.open24 = d.open24.input.checked;
      this.paramsChanged();
    });
    // How minutes are measured: only offered when the server loaded a road network.
    d.travelSet = el('fieldset', 'segmented');
    d.travelSet.id = 'pl-travel';
    d.travelSet.hidden = !this.network;
    d.travelLegend = el('legend', 'visually-hidden');
    d.travelSet.append(d.travelLegend);
    d.travelText = {};
    for (const travel of ['straight_line', 'network']) {
      const l = el('label');
      const i = document.createElement('input');
      i.type = 'radio';
      i.name = 'pl-travel';
      i.value = travel;
      i.id = `pl-travel-${travel}`;
      i.checked = travel === this.params.travel;
      i.addEventListener('change', () => {
        if (!i.checked) return;
        this.params.travel = travel;
        this.paramsChanged();
      });
      d.travelText[travel] = el('span');
      l.append(i, d.travelText[travel]);
      d.travelSet.append(l);
    }
    d.row.append(d.modeSet, d.travelSet, d.minutesWrap, d.open24.label);
    d.minutesError = el('p', 'form-error');
    d.minutesError.id = 'pl-minutes-error';
    d.minutesError.hidden = true;
    d.controls.append(d.regionSet, d.row, d.minutesError);

    d.demo = el('p', 'planner-demo');
    d.demo.id = 'pl-demo';
    d.demo.setAttribute('role', 'note');
    d.demo.hidden = true;

    d.status = el('p', 'loading planner-status');
    d.status.id = 'pl-status';
    d.status.setAttribute('role', 'status');
    d.status.setAttribute('aria-live', 'polite');
    d.error = el('div', 'error');
    d.error.setAttribute('role', 'alert');
    d.error.hidden = true;
    d.errorText = el('span');
    d.retry = button('btn btn-small');
    d.retry.addEventListener('click', () => this.error?.retry());
    d.error.append(d.errorText, d.retry);

    // Summary.
    d.summary = el('section', 'card planner-summary');
    d.summary.id = 'pl-summary';
    d.summary.setAttribute('aria-labelledby', 'pl-summary-title');
    d.summaryTitle = el('h3', 'card-title');
    d.summaryTitle.id = 'pl-summary-title';
    d.figures = el('dl', 'figures');
    const figure = (id) => {
      const wrap = el('div', 'figure');
      const dt = el('dt');
      const dd = el('dd');
      dd.id = id;
      wrap.append(dt, dd);
      d.figures.append(wrap);
      return { dt, dd };
    };
    d.fShare = figure('pl-share');
    d.fUncovered = figure('pl-uncovered');
    d.fNoAccess = figure('pl-no-access');
    d.fNoAccess.dt.parentElement.remove(); // in the list only when the answer has the figure
    d.fStations = figure('pl-stations');
    d.fDensity = figure('pl-density');
    d.compare = el('p', 'compare');
    d.compare.id = 'pl-compare';
    d.reach = el('p', 'summary-note');
    d.meta = el('p', 'summary-note');
    d.meta.id = 'pl-meta';
    d.summary.append(d.summaryTitle, d.figures, d.compare, d.reach, d.meta);

    // What-if.
    d.whatif = el('section', 'card planner-whatif');
    d.whatif.setAttribute('aria-labelledby', 'pl-whatif-title');
    d.whatifTitle = el('h3', 'card-title');
    d.whatifTitle.id = 'pl-whatif-title';
    d.whatifSwitch = switchControl('pl-whatif');
    d.whatifSwitch.input.addEventListener('change', () => this.setWhatIf(d.whatifSwitch.input.checked));
    d.whatifHint = el('p', 'card-intro');
    d.whatifRow = el('div', 'whatif-row');
    d.whatifCount = el('p', 'whatif-count');
    d.whatifCount.id = 'pl-whatif-count';
    d.whatifCount.setAttribute('aria-live', 'polite');
    d.whatifCenter = button('btn btn-small');
    d.whatifCenter.id = 'pl-whatif-center';
    d.whatifCenter.addEventListener('click', () => {
      const c = this.map.map.getCenter();
      this.addStation({ lat: c.lat, lon: c.lng });
    });
    d.whatifClear = button('btn btn-small');
    d.whatifClear.id = 'pl-whatif-clear';
    d.whatifClear.addEventListener('click', () => this.clearStations());
    d.whatifRow.append(d.whatifCount, d.whatifCenter, d.whatifClear);
    d.whatifMessage = el('p', 'form-error');
    d.whatifMessage.hidden = true;
    d.whatif.append(d.whatifTitle, d.whatifSwitch.label, d.whatifHint, d.whatifRow, d.whatifMessage);

    // Counties table.
    d.tableWrap = el('div', 'table-wrap');
    d.tableWrap.tabIndex = 0; // scrollable sideways on a phone: reachable by keyboard
    d.tableWrap.setAttribute('role', 'region');
    d.tableWrap.setAttribute('aria-labelledby', 'pl-counties-caption');
    d.table = el('table', 'county-table');
    d.table.id = 'pl-counties';
    d.caption = el('caption');
    d.caption.id = 'pl-counties-caption';
    d.thead = el('thead');
    d.tbody = el('tbody');
    d.table.append(d.caption, d.thead, d.tbody);
    d.tableWrap.append(d.table);
    d.tbody.addEventListener('click', (e) => {
      const tr = e.target.closest('tr[data-adcode]');
      if (tr) this.map.zoomToCounty(tr.dataset.adcode);
    });

    // Suggestions.
    d.sugg = el('section', 'card planner-suggest');
    d.sugg.setAttribute('aria-labelledby', 'pl-suggest-title');
    d.suggTitle = el('h3', 'card-title');
    d.suggTitle.id = 'pl-suggest-title';
    d.suggIntro = el('p', 'card-intro');
    d.suggForm = el('form', 'suggest-form');
    d.suggForm.noValidate = true;
    d.k = document.createElement('input');
    d.k.id = 'pl-suggest-k';
    d.k.type = 'number';
    d.k.inputMode = 'numeric';
    d.k.min = '1';
    d.k.max = String(MAX_K);
    d.k.value = String(this.sugg.k);
    d.kLabel = el('label', 'small-label');
    d.kLabel.htmlFor = d.k.id;
    const kWrap = el('div', 'suggest-field');
    kWrap.append(d.kLabel, d.k);
    d.weight = document.createElement('select');
    d.weight.id = 'pl-suggest-weight';
    d.weightOptions = {};
    for (const w of ['area', 'demand']) {
      const o = el('option');
      o.value = w;
      d.weightOptions[w] = o;
      d.weight.append(o);
    }
    d.weightLabel = el('label', 'small-label');
    d.weightLabel.htmlFor = d.weight.id;
    d.weightWrap = el('div', 'suggest-field');
    d.weightWrap.append(d.weightLabel, d.weight);
    d.suggSubmit = button('btn btn-primary', '', 'submit');
    d.suggSubmit.id = 'pl-suggest';
    d.suggForm.append(kWrap, d.weightWrap, d.suggSubmit);
    d.suggForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.loadSuggestions();
    });
    d.suggStatus = el('p', 'card-status');
    d.suggStatus.id = 'pl-suggest-status';
    d.suggStatus.setAttribute('role', 'status');
    d.suggList = el('ol', 'suggest-list');
    d.suggList.id = 'pl-suggestions';
    d.suggList.addEventListener('click', (e) => {
      const li = e.target.closest('li[data-rank]');
      if (li) this.map.focusSuggestion(Number(li.dataset.rank));
    });
    d.sugg.append(d.suggTitle, d.suggIntro, d.suggForm, d.suggStatus, d.suggList);

    // Account: planners sign in here to see demand figures.
    d.account = el('section', 'card planner-account');
    d.accountWho = el('div', 'account-bar');
    d.who = el('p', 'account-who');
    d.who.id = 'pl-account-who';
    d.logout = button('btn btn-small');
    d.logout.addEventListener('click', () => logout().catch(() => { /* the local session is gone either way */ }));
    d.accountWho.append(d.who, d.logout);
    d.loginBox = el('details', 'planner-login');
    d.loginSummary = el('summary');
    d.loginIntro = el('p', 'card-intro');
    d.loginForm = el('form', 'form');
    d.loginForm.noValidate = true;
    const field = (id, type, autocomplete) => {
      const wrap = el('div', 'field');
      const i = document.createElement('input');
      i.id = id;
      i.type = type;
      i.autocomplete = autocomplete;
      const l = el('label', 'field-label');
      l.htmlFor = id;
      wrap.append(l, i);
      return { wrap, input: i, label: l };
    };
    d.loginName = field('pl-login-name', 'text', 'username');
    d.loginName.input.autocapitalize = 'off';
    d.loginName.input.spellcheck = false;
    d.loginPassword = field('pl-login-password', 'password', 'current-password');
    d.loginError = el('p', 'form-error');
    d.loginError.setAttribute('role', 'alert');
    d.loginSubmit = button('btn btn-primary btn-block', '', 'submit');
    d.loginForm.append(d.loginName.wrap, d.loginPassword.wrap, d.loginError, d.loginSubmit);
    d.loginForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.submitLogin();
    });
    d.loginBox.append(d.loginSummary, d.loginIntro, d.loginForm);
    d.account.append(d.accountWho, d.loginBox);

    d.panel.append(d.heading, d.controls, d.demo, d.status, d.error, d.summary, d.whatif, d.sugg, d.tableWrap, d.account);
    r.append(d.mapWrap, d.panel);
    this.dom = d;

    this.map = new CoverageMap(d.map, {
      onTap: (p) => {
        if (this.whatIf.on) this.addStation(p);
      },
      onHypoTap: (id) => this.removeStation(id),
      onSuggestionTap: (s) => {
        if (!this.whatIf.on) return false;
        this.addStation({ lat: s.lat, lon: s.lon });
        return true;
      },
      countyPopup: (adcode) => this.countyPopup(adcode),
      suggestionPopup: (s) => this.suggestionPopup(s),
      suggestionLabel: (s) => t('suggest.marker', { n: s.rank, county: s.county?.name ?? '', km: km2(s.adds_km2) }),
      shareLabel: (share, digits) => pct(share, digits),
    });
  }

  // ---- regions ------------------------------------------------------------------------------

  async loadRegions() {
    this.busy.regions = true;
    this.renderStatus();
    try {
      this.regions = await regions();
      this.byCode = new Map(this.regions.map((g) => [String(g.adcode), g]));
    } catch (e) {
      this.showError(e, () => this.loadRegions());
    } finally {
      this.busy.regions = false;
      this.renderStatus();
      this.renderRegions();
    }
  }

  childrenOf(adcode, level) {
    return this.regions.filter((g) => g.level === level && String(g.parent) === String(adcode));
  }

  /** The province, city and county the chosen region lies in (null where the choice is "all"). */
  chain() {
    const g = this.byCode.get(this.params.region);
    const out = { province: null, city: null, county: null };
    let cur = g;
    while (cur) {
      out[cur.level] = cur;
      cur = cur.parent ? this.byCode.get(String(cur.parent)) : null;
    }
    return out;
  }

  renderRegions() {
    const d = this.dom;
    const chain = this.chain();
    const fill = (sel, items, selected, allKey) => {
      const opts = [];
      if (allKey) {
        const o = el('option', null, t(allKey));
        o.value = '';
        opts.push(o);
      }
      for (const g of items) {
        const o = el('option', null, g.name);
        o.value = String(g.adcode);
        opts.push(o);
      }
      sel.replaceChildren(...opts);
      sel.value = selected ? String(selected.adcode) : '';
    };
    const provinces = this.regions.filter((g) => g.level === 'province');
    const province = chain.province || provinces[0] || null;
    fill(d.selects.province, provinces, province, null);
    fill(d.selects.city, province ? this.childrenOf(province.adcode, 'city') : [], chain.city, 'planner.all_cities');
    fill(d.selects.county, chain.city ? this.childrenOf(chain.city.adcode, 'county') : [], chain.county, 'planner.all_counties');
    const none = !this.regions.length;
    d.selects.province.disabled = none;
    d.selects.city.disabled = none;
    d.selects.county.disabled = none || !chain.city;
  }

  pickRegion(level, value) {
    const d = this.dom;
    let region;
    if (value) region = value;
    else if (level === 'county') region = d.selects.city.value || d.selects.province.value;
    else region = d.selects.province.value; // "whole province"
    if (!region || region === this.params.region) return;
    this.params.region = region;
    this.renderRegions();
    // Suggestions and hypothetical stations belong to the region they were made for.
    this.whatIf.stations = [];
    this.whatIf.result = null;
    this.map.setHypothetical([]);
    this.clearSuggestions();
    this.loadBase({ fit: true });
  }

  // ---- settings -----------------------------------------------------------------------------

  setMinutes(raw) {
    const n = Number(raw);
    const d = this.dom;
    if (!Number.isInteger(n) || n < 1 || n > MAX_MINUTES) {
      d.minutesError.hidden = false;
      d.minutesError.textContent = t('planner.minutes_invalid');
      d.minutes.setAttribute('aria-invalid', 'true');
      d.minutes.setAttribute('aria-describedby', d.minutesError.id);
      return;
    }
    d.minutesError.hidden = true;
    d.minutes.removeAttribute('aria-invalid');
    d.minutes.removeAttribute('aria-describedby');
    if (n === this.params.minutes) return;
    this.params.minutes = n;
    this.paramsChanged();
  }

  /** Mode, minutes or the 24-hour switch changed: new figures; old suggestions no longer apply. */
  paramsChanged() {
    this.whatIf.result = null;
    this.clearSuggestions();
    this.loadBase();
  }

  // ---- coverage -----------------------------------------------------------------------------

  /** The answer on show: with the hypothetical stations when there are any and their answer is in. */
  shown() {
    return this.whatIf.stations.length && this.whatIf.result ? this.whatIf.result : this.base;
  }

  async loadBase({ fit = false } = {}) {
    this.ctrl.base?.abort();
    const ctrl = new AbortController();
    this.ctrl.base = ctrl;
    const params = { ...this.params };
    this.busy.base = true;
    this.clearError();
    this.renderStatus();
    try {
      const data = await coverage({
        region: params.region, mode: params.mode, minutes: params.minutes, open: params.open24, travel: params.travel,
      }, { signal: ctrl.signal });
      if (ctrl.signal.aborted) return;
      this.base = data;
      this.busy.base = false;
      if (this.whatIf.stations.length) this.loadWhatIf();
      this.map.showCoverage(this.shown(), { fit });
      this.renderFigures();
      this.checkDemo();
    } catch (e) {
      if (ctrl.signal.aborted) return;
      this.showError(e, () => this.loadBase({ fit }));
    } finally {
      if (this.ctrl.base === ctrl) {
        this.ctrl.base = null;
        this.busy.base = false;
        this.renderStatus();
      }
    }
  }

  async loadWhatIf() {
    this.ctrl.whatIf?.abort();
    if (!this.whatIf.stations.length) {
      this.whatIf.result = null;
      this.busy.whatIf = false;
      this.renderStatus();
      if (this.base) this.map.showCoverage(this.base);
      this.renderFigures();
      return;
    }
    const ctrl = new AbortController();
    this.ctrl.whatIf = ctrl;
    const p = this.params;
    this.busy.whatIf = true;
    this.clearError();
    this.renderStatus();
    this.renderWhatIf();
    try {
      const data = await coverageWhatIf({
        region: p.region,
        mode: p.mode,
        minutes: p.minutes,
        res: this.base?.res,
        open: p.open24,
        travel: p.travel,
        stations: this.whatIf.stations.map((s) => ({ lat: s.lat, lon: s.lon })),
      }, { signal: ctrl.signal });
      if (ctrl.signal.aborted) return;
      this.whatIf.result = data;
      this.map.showCoverage(this.shown());
      this.renderFigures();
    } catch (e) {
      if (ctrl.signal.aborted) return;
      this.showError(e, () => this.loadWhatIf());
    } finally {
      if (this.ctrl.whatIf === ctrl) {
        this.ctrl.whatIf = null;
        this.busy.whatIf = false;
        this.renderStatus();
        this.renderWhatIf();
      }
    }
  }

  /** Says so when the region's stations are demo data (as the rider's banner does for its list). */
  async checkDemo() {
    const region = this.base?.region?.adcode ? String(this.base.region.adcode) : null;
    if (!region || this.demo.has(region) || !this.base.counties?.length) {
      this.renderDemo();
      return;
    }
    const b = this.map.boundsOf(this.base.counties.map((c) => String(c.adcode)));
    if (!b) return; // again when the outlines arrive
    this.demo.set(region, false);
    try {
      const sample = await stationsInBox([b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((x) => x.toFixed(4)), 50);
      this.demo.set(region, sample.some((f) => f?.properties?.demo === true));
    } catch {
      this.demo.delete(region); // try again with the next answer
    }
    this.renderDemo();
  }

  // ---- what-if ------------------------------------------------------------------------------

  setWhatIf(on) {
    this.whatIf.on = on;
    this.whatIf.message = null;
    this.map.setWhatIf(on);
    this.renderWhatIf();
  }

  addStation({ lat, lon }) {
    if (this.whatIf.stations.length >= MAX_HYPOTHETICAL) {
      this.whatIf.message = { key: 'whatif.max', params: { n: MAX_HYPOTHETICAL } };
      this.renderWhatIf();
      return;
    }
    if (!this.whatIf.on) {
      this.whatIf.on = true;
      this.dom.whatifSwitch.input.checked = true;
      this.map.setWhatIf(true);
    }
    this.whatIf.message = null;
    const round = (x) => Math.round(x * 1e6) / 1e6;
    this.whatIf.stations.push({ id: this.nextId++, lat: round(lat), lon: round(lon) });
    this.map.setHypothetical(this.whatIf.stations);
    this.loadWhatIf();
  }

  removeStation(id) {
    this.whatIf.stations = this.whatIf.stations.filter((s) => s.id !== id);
    this.whatIf.message = null;
    this.map.setHypothetical(this.whatIf.stations);
    this.loadWhatIf();
  }

  clearStations() {
    this.whatIf.stations = [];
    this.whatIf.message = null;
    this.map.setHypothetical([]);
    this.loadWhatIf();
  }

  // ---- suggestions --------------------------------------------------------------------------

  clearSuggestions() {
    this.ctrl.sugg?.abort();
    this.busy.sugg = false;
    this.sugg.data = null;
    this.sugg.message = null;
    this.map.setSuggestions([]);
    this.renderSuggestions();
  }

  async loadSuggestions() {
    const d = this.dom;
    const k = Number(d.k.value);
    if (!Number.isInteger(k) || k < 1 || k > MAX_K) {
      d.k.value = String(this.sugg.k);
      d.k.focus();
      return;
    }
    this.sugg.k = k;
    this.sugg.weight = this.canUseDemand() ? d.weight.value : 'area';
    this.ctrl.sugg?.abort();
    const ctrl = new AbortController();
    this.ctrl.sugg = ctrl;
    this.busy.sugg = true;
    this.sugg.message = null;
    this.renderSuggestions();
    const p = this.params;
    try {
      const data = await coverageSuggestions({
        region: p.region, mode: p.mode, minutes: p.minutes, open: p.open24, k, weight: this.sugg.weight === 'area' ? null : this.sugg.weight, travel: p.travel,
      }, { signal: ctrl.signal });
      if (ctrl.signal.aborted) return;
      this.sugg.data = data;
      const items = Array.isArray(data?.suggestions) ? data.suggestions : [];
      this.map.setSuggestions(items);
      this.map.fitSuggestions();
    } catch (e) {
      if (ctrl.signal.aborted) return;
      this.sugg.data = null;
      this.map.setSuggestions([]);
      this.sugg.message = e instanceof ApiError && (e.status === 401 || e.status === 403)
        ? { key: 'suggest.need_login' }
        : { text: errorText(e) };
    } finally {
      if (this.ctrl.sugg === ctrl) {
        this.ctrl.sugg = null;
        this.busy.sugg = false;
        this.renderSuggestions();
      }
    }
  }

  canUseDemand() {
    return DEMAND_ROLES.has(currentAccount()?.role);
  }

  // ---- account ------------------------------------------------------------------------------

  async submitLogin() {
    const d = this.dom;
    const name = d.loginName.input.value.trim();
    const password = d.loginPassword.input.value;
    if (!name || !password) {
      this.login.error = t('login.missing');
      this.renderAccount();
      return;
    }
    this.login = { error: null, busy: true };
    this.renderAccount();
    try {
      await login(name, password); // onAuthChange redraws and reloads
      d.loginPassword.input.value = '';
    } catch (e) {
      let msg;
      if (e instanceof ApiError && e.status === 401) msg = t('login.bad_credentials');
      else if (e instanceof ApiError && e.status === 429) {
        msg = e.retryAfter ? t('login.rate_limited', { n: e.retryAfter }) : t('login.rate_limited_unknown');
      } else msg = t('error.generic', { message: errorText(e) });
      this.login = { error: msg, busy: false };
      this.renderAccount();
    }
  }

  // ---- rendering ----------------------------------------------------------------------------

  renderAll() {
    const d = this.dom;
    d.heading.textContent = t('planner.title');
    d.map.setAttribute('aria-label', t('planner.map_label'));
    d.controls.setAttribute('aria-label', t('planner.controls'));
    d.regionLegend.textContent = t('planner.region');
    d.selectLabels.province.textContent = t('planner.province');
    d.selectLabels.city.textContent = t('planner.city');
    d.selectLabels.county.textContent = t('planner.county');
    d.modeLegend.textContent = t('filters.mode');
    d.modeText.walk.textContent = t('mode.walk');
    d.modeText.ebike.textContent = t('mode.ebike');
    d.minutesLabel.textContent = t('planner.minutes_label');
    d.minutesUnit.textContent = t('planner.minutes');
    if (!d.minutesError.hidden) d.minutesError.textContent = t('planner.minutes_invalid');
    d.open24.text.textContent = t('planner.open_24h');
    d.retry.textContent = t('error.retry');
    d.fShare.dt.textContent = t('planner.share');
    d.fUncovered.dt.textContent = t('planner.uncovered');
    d.travelLegend.textContent = t('planner.travel');
    d.travelText.straight_line.textContent = t('planner.travel.straight_line');
    d.travelText.network.textContent = t('planner.travel.network');
    d.fStations.dt.textContent = t('planner.stations');
    d.fDensity.dt.textContent = t('planner.density');
    d.whatifTitle.textContent = t('whatif.title');
    d.whatifSwitch.text.textContent = t('whatif.toggle');
    d.whatifHint.textContent = t('whatif.hint');
    d.whatifClear.textContent = t('whatif.clear');
    d.whatifCenter.textContent = t('whatif.center');
    d.suggTitle.textContent = t('suggest.title');
    d.suggIntro.textContent = t('suggest.intro');
    d.kLabel.textContent = t('suggest.k');
    d.weightLabel.textContent = t('suggest.weight');
    d.weightOptions.area.textContent = t('suggest.weight.area');
    d.weightOptions.demand.textContent = t('suggest.weight.demand');
    d.loginSummary.textContent = t('planner.login_title');
    d.loginIntro.textContent = t('planner.login_intro');
    d.loginName.label.textContent = t('login.login');
    d.loginPassword.label.textContent = t('login.password');
    d.logout.textContent = t('account.logout');
    this.map.refreshText();
    this.renderRegions();
    this.renderStatus();
    this.renderError();
    this.renderDemo();
    this.renderFigures();
    this.renderSuggestions();
    this.renderAccount();
  }

  renderStatus() {
    const { status, panel } = this.dom;
    const b = this.busy;
    let key = null;
    if (b.base) key = 'planner.loading';
    else if (b.whatIf) key = 'planner.loading_whatif';
    else if (b.regions) key = 'planner.loading_regions';
    status.hidden = !key;
    status.textContent = key ? t(key) : '';
    const any = b.base || b.whatIf || b.sugg || b.regions;
    this.root.dataset.busy = String(any);
    panel.setAttribute('aria-busy', String(b.base || b.whatIf));
    this.dom.summary.classList.toggle('is-loading', b.base || b.whatIf);
    this.dom.tableWrap.classList.toggle('is-loading', b.base || b.whatIf);
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
    const { error, errorText: text } = this.dom;
    error.hidden = !this.error;
    text.textContent = this.error ? errorText(this.error.error) : '';
  }

  renderDemo() {
    const region = this.base?.region?.adcode ? String(this.base.region.adcode) : null;
    const on = region !== null && this.demo.get(region) === true;
    this.dom.demo.hidden = !on;
    this.dom.demo.textContent = on ? t('planner.demo') : '';
  }

  renderFigures() {
    this.renderSummary();
    this.renderTable();
    this.renderWhatIf();
  }

  renderSummary() {
    const d = this.dom;
    const data = this.shown();
    d.summary.hidden = !data;
    if (!data) return;
    const tot = data.total || {};
    const hypo = data === this.whatIf.result ? this.whatIf.stations.length : 0;
    d.summary.dataset.region = String(data.region?.adcode ?? '');
    d.summary.dataset.mode = String(data.mode ?? '');
    d.summary.dataset.minutes = String(data.minutes ?? '');
    d.summary.dataset.hypothetical = String(hypo);
    d.summaryTitle.textContent = t('planner.region_of', {
      region: data.region?.name ?? '', mode: t(`planner.mode.${data.mode}`), minutes: num(data.minutes),
    }) + (data.open === '24h' ? t('planner.region_24h') : '');
    d.fShare.dd.textContent = pct(tot.covered_share);
    d.fShare.dd.dataset.share = String(tot.covered_share);
    d.fUncovered.dd.textContent = km2(tot.uncovered_km2);
    d.fUncovered.dd.dataset.km2 = String(tot.uncovered_km2);
    // Network travel reports cells without a road within 300 m apart (not in the share).
    const noAccess = Number.isFinite(tot.no_access_km2);
    const noAccessWrap = d.fNoAccess.dt.parentElement;
    if (!noAccess) noAccessWrap.remove();
    else if (!noAccessWrap.isConnected) d.fUncovered.dt.parentElement.after(noAccessWrap);
    d.fNoAccess.dt.textContent = t('planner.no_access');
    if (noAccess) {
      d.fNoAccess.dd.textContent = km2(tot.no_access_km2);
      d.fNoAccess.dd.dataset.km2 = String(tot.no_access_km2);
    }
    d.summary.dataset.travel = String(data.travel ?? '');
    d.fStations.dd.textContent = t('planner.count_stations', { n: num(tot.stations) });
    d.fDensity.dd.textContent = num(tot.stations_per_10km2, 1);

    const before = data.before;
    d.compare.hidden = !(hypo && before);
    if (hypo && before) {
      const gained = tot.covered_km2 - before.covered_km2;
      d.compare.textContent = t('planner.compare', {
        n: num(hypo),
        before: pct(before.covered_share, 2),
        after: pct(tot.covered_share, 2),
        delta: points(tot.covered_share - before.covered_share),
        km: `${gained < 0 ? '−' : '+'}${km2(Math.abs(gained))}`,
      });
    }
    d.reach.hidden = !Number.isFinite(data.reach_m) && data.travel !== 'network';
    if (Number.isFinite(data.reach_m)) {
      d.reach.textContent = t('planner.reach', { minutes: num(data.minutes), m: metres(data.reach_m) });
    } else if (data.travel === 'network') {
      d.reach.textContent = t('planner.reach_network');
    }
    // A cached answer keeps the time its computation took.
    const meta = [t(data.cached ? 'planner.meta_cached' : 'planner.meta', { ms: num(data.computed_ms), v: data.data_version ?? '–' })];
    if (data.attribution) meta.push(data.attribution);
    d.meta.textContent = meta.join(' · ');
  }

  renderTable() {
    const d = this.dom;
    const data = this.shown();
    d.tableWrap.hidden = !data;
    if (!data) return;
    const rows = Array.isArray(data.counties) ? data.counties : [];
    const demand = rows.some((r) => has(r.demand));
    const baseRows = data !== this.base && this.base ? new Map(this.base.counties.map((r) => [String(r.adcode), r])) : null;
    d.caption.textContent = t('table.caption');
    const cols = ['name', 'share', 'uncovered', 'stations', 'density'];
    if (demand) cols.push('demand', 'covered_demand', 'demand_share');
    const hr = el('tr');
    for (const c of cols) {
      const th = el('th', c === 'name' ? null : 'num', t(`table.${c}`));
      th.scope = 'col';
      hr.append(th);
    }
    d.thead.replaceChildren(hr);
    if (!rows.length) {
      const tr = el('tr');
      const td = el('td', 'empty', t('table.empty'));
      td.colSpan = cols.length;
      tr.append(td);
      d.tbody.replaceChildren(tr);
      return;
    }
    d.tbody.replaceChildren(...rows.map((r) => {
      const tr = el('tr');
      tr.dataset.adcode = String(r.adcode);
      tr.dataset.share = String(r.covered_share);
      const th = el('th');
      th.scope = 'row';
      const b = button('link-btn county-link', r.name);
      b.setAttribute('aria-label', t('table.zoom', { name: r.name }));
      th.append(b);
      tr.append(th);
      const share = el('td', 'num', pct(r.covered_share));
      const was = baseRows?.get(String(r.adcode));
      if (was && r.covered_share !== was.covered_share) {
        share.append(el('span', 'delta', ` ${points(r.covered_share - was.covered_share)}`));
      }
      tr.append(share);
      tr.append(el('td', 'num', num(r.uncovered_km2, 1)));
      tr.append(el('td', 'num', num(r.stations)));
      tr.append(el('td', 'num', num(r.stations_per_10km2, 1)));
      if (demand) {
        tr.append(el('td', 'num', has(r.demand) ? num(r.demand) : '–'));
        tr.append(el('td', 'num', has(r.covered_demand) ? num(r.covered_demand) : '–'));
        tr.append(el('td', 'num', has(r.covered_demand_share) ? pct(r.covered_demand_share) : '–'));
      }
      return tr;
    }));
  }

  renderWhatIf() {
    const d = this.dom;
    const { stations, on, message } = this.whatIf;
    d.whatifSwitch.input.checked = on;
    d.whatifCount.textContent = stations.length ? t('whatif.count', { n: num(stations.length) }) : t('whatif.none');
    d.whatifClear.disabled = !stations.length;
    d.whatifCenter.hidden = !on;
    d.whatifMessage.hidden = !message;
    d.whatifMessage.textContent = message ? t(message.key, message.params) : '';
  }

  renderSuggestions() {
    const d = this.dom;
    const s = this.sugg;
    d.weightWrap.hidden = !this.canUseDemand();
    d.suggSubmit.disabled = this.busy.sugg;
    d.suggSubmit.textContent = t(this.busy.sugg ? 'suggest.busy' : 'suggest.submit');
    const items = Array.isArray(s.data?.suggestions) ? s.data.suggestions : null;
    let status = '';
    if (s.message) status = s.message.key ? t(s.message.key) : s.message.text;
    else if (this.busy.sugg) status = t('suggest.busy');
    else if (items && !items.length) status = t('suggest.none');
    else if (items) status = t('suggest.meta', { n: num(items.length), ms: num(s.data.computed_ms) });
    d.suggStatus.hidden = !status;
    d.suggStatus.textContent = status;
    d.suggStatus.dataset.kind = s.message ? 'error' : 'info';
    d.suggList.replaceChildren(...(items || []).map((x) => {
      const li = el('li', 'suggest-item');
      li.dataset.rank = String(x.rank);
      const b = button('suggest-button');
      const n = el('span', 'suggest-dot', String(x.rank));
      n.setAttribute('aria-hidden', 'true');
      const text = el('span', 'suggest-text');
      text.append(el('span', 'suggest-county', x.county?.name ?? ''), el('span', 'suggest-adds', this.addsText(x)));
      b.append(n, text);
      b.setAttribute('aria-label', t('suggest.marker', { n: x.rank, county: x.county?.name ?? '', km: km2(x.adds_km2) }));
      li.append(b);
      return li;
    }));
  }

  addsText(x) {
    const parts = [t('suggest.adds', { km: km2(x.adds_km2) })];
    if (has(x.adds_demand)) parts.push(t('suggest.adds_demand', { n: num(x.adds_demand) }));
    parts.push(t('suggest.total', { p: pct(x.total_covered_share, 2) }));
    return parts.join(' · ');
  }

  suggestionPopup(x) {
    const box = el('div', 'map-popup suggest-popup');
    box.dataset.rank = String(x.rank);
    box.append(el('p', 'popup-title', t('suggest.item', { n: num(x.rank) })));
    box.append(el('p', 'suggest-adds', t('suggest.adds', { km: km2(x.adds_km2) })));
    if (has(x.adds_demand)) box.append(el('p', null, t('suggest.adds_demand', { n: num(x.adds_demand) })));
    box.append(el('p', null, t('suggest.total', { p: pct(x.total_covered_share, 2) })));
    if (x.county?.name) box.append(el('p', null, t('suggest.county', { name: x.county.name })));
    const tryIt = button('btn btn-small btn-primary', t('suggest.try'));
    tryIt.addEventListener('click', () => {
      this.map.map.closePopup();
      this.addStation({ lat: x.lat, lon: x.lon });
    });
    box.append(tryIt);
    return box;
  }

  countyPopup(adcode) {
    const r = this.shown()?.counties?.find((c) => String(c.adcode) === adcode);
    if (!r) return null;
    const box = el('div', 'map-popup');
    box.append(el('p', 'popup-title', r.name));
    box.append(el('p', null, `${t('table.share')}: ${pct(r.covered_share)}`));
    box.append(el('p', null, `${t('planner.uncovered')}: ${km2(r.uncovered_km2)}`));
    box.append(el('p', null, `${t('table.stations')}: ${num(r.stations)}`));
    return box;
  }

  renderAccount() {
    const d = this.dom;
    const a = currentAccount();
    d.accountWho.hidden = !a;
    d.loginBox.hidden = !!a;
    if (a) d.who.textContent = t('account.who', { login: a.login, role: t(`account.role.${a.role}`) });
    d.loginError.hidden = !this.login.error;
    d.loginError.textContent = this.login.error || '';
    d.loginSubmit.disabled = this.login.busy;
    d.loginSubmit.textContent = t(this.login.busy ? 'login.busy' : 'login.submit');
    this.renderSuggestions();
  }
}
