// The manager view (站长): sign in; the stations I manage (admins look any up by code or id); an
// edit form per station whose save carries If-Match, so a station someone else changed meanwhile
// is reloaded and never silently overwritten; "the data is correct"; the change history; and the
// inbox of riders' problem reports. Everything from the server goes into the page as textContent.
import {
  ApiError, getStation, openReports, patchStation, resolveReport, stationHistory, stationsInBox, verifyStation,
} from './api.js';
import { currentAccount, login, logout, onAuthChange, sessionExpired, whoAmI } from './auth.js';
import { AMENITIES, AMENITY_ICON, amenityLabel, formatDateTime, formatHours, onLangChange, t } from './i18n.js';

/** Where the admin's code search looks (the list API takes boxes of at most 10° a side). */
const JIANGXI_BBOX = [113.5, 24.4, 118.6, 30.1];
const SEARCH_MAX = 20;
const MAX_REASON = 200;
const AMENITY_ORDER = new Map(AMENITIES.map(([k], i) => [k, i]));

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

/** A label wrapping its text and control, so the control gets the label as its name. */
function field(labelText, control, help) {
  const wrap = el('div', 'field');
  const label = el('label', 'field-label');
  label.htmlFor = control.id;
  label.textContent = labelText;
  wrap.append(label, control);
  if (help) {
    const h = el('p', 'field-help', help);
    h.id = `${control.id}-help`;
    control.setAttribute('aria-describedby', h.id);
    wrap.append(h);
  }
  return wrap;
}

function input(id, type = 'text', value = '') {
  const i = document.createElement('input');
  i.id = id;
  i.type = type;
  i.value = value ?? '';
  return i;
}

/** A datetime-local value ("2026-12-01T18:00") in China Standard Time for an RFC 3339 instant. */
function toLocalInput(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-CA', {
    timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(d).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

/** The RFC 3339 instant of a datetime-local value read as China Standard Time (stations are all in UTC+8). */
function fromLocalInput(v) {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})(:\d{2})?/.exec(v || '');
  return m ? `${m[1]}${m[2] || ':00'}+08:00` : null;
}

const blankToNull = (s) => (s.trim() === '' ? null : s.trim());
const sortAmenities = (keys) => [...keys].sort((a, b) => (AMENITY_ORDER.get(a) ?? 99) - (AMENITY_ORDER.get(b) ?? 99));
const sameSet = (a, b) => a.length === b.length && a.every((k) => b.includes(k));
/** The form's fields, as `readForm` and `valuesOf` name them. */
const EDIT_FIELDS = ['name', 'address', 'amenities', 'opening_hours', 'phone', 'notes', 'until', 'reason'];
const FIELD_LABEL = {
  name: 'edit.name',
  address: 'edit.address',
  amenities: 'edit.amenities',
  opening_hours: 'edit.hours',
  phone: 'edit.phone',
  notes: 'edit.notes',
  until: 'closure.until_label',
  reason: 'closure.reason_label',
};
/** Equal as the server would store them (trimmed text, amenities as a set). */
const sameValue = (k, a, b) => (k === 'amenities' ? sameSet(a, b) : String(a ?? '').trim() === String(b ?? '').trim());

/** The message of an error for people: ours for network trouble, the server's otherwise. */
function errorText(e) {
  if (e?.code === 'network' || e?.code === 'offline') return t('error.network');
  if (e?.code === 'timeout') return t('error.timeout');
  return e?.message || String(e);
}

/**
 * Which form field a 400 is about, and the server's words for it. Opening hours are parsed while
 * the body is read, so their mistakes may come as `invalid_body` naming the field.
 */
function invalidField(e) {
  // The parser's multi-line report (a caret under the column) is for developers: keep its first line.
  const detail = String(e.message || '')
    .replace(/^Failed to deserialize the JSON body into the target type:\s*/, '')
    .split(/\s+-->|\n/)[0]
    .replace(/^(opening_hours|temporary_closure[.\w]*):\s+(?=\1)/, '')
    .replace(/[:\s]+$/, '');
  const about = (name) => e.code === 'invalid_body' && new RegExp(`^${name}\\b`).test(detail);
  if (e.code === 'invalid_opening_hours' || about('opening_hours')) return { field: 'hours', detail };
  if (e.code === 'invalid_closure' || about('temporary_closure')) return { field: 'closure', detail };
  return { field: null, detail };
}

export class ManagerView {
  /** @param {HTMLElement} root  the (empty) container of the view */
  constructor(root) {
    this.root = root;
    this.started = false;
    this.reset();
  }

  reset() {
    this.state = {
      phase: 'loading', // 'loading' | 'login' | 'home'
      notice: null, // {key, params, kind}
      loginError: null, // {key, params}
      loginBusy: false,
      stations: new Map(), // id -> {feature, etag}
      stationErrors: new Map(), // id -> ApiError
      order: [], // ids in the list
      selected: null,
      edit: { message: null, errors: {}, busy: false },
      history: { id: null, items: null, error: null },
      reports: { items: null, error: null },
      reportErrors: new Map(), // report id -> {key, params}
      resolutions: new Map(), // report id -> the resolution being typed
      search: { busy: false, results: null, error: null, q: '' },
    };
    this.allStations = null; // the admin's code search, loaded once
  }

  start() {
    if (this.started) return;
    this.started = true;
    this.build();
    onAuthChange((account, reason) => {
      if (account) {
        this.state.notice = null;
        this.loadHome();
      } else {
        this.reset();
        this.dom.searchInput.value = '';
        this.state.phase = 'login';
        this.state.notice = reason === 'expired'
          ? { key: 'login.expired', kind: 'warn' }
          : reason === 'logout' ? { key: 'login.logged_out', kind: 'info' } : null;
        this.renderAll();
        this.dom.loginName.focus();
      }
    });
    onLangChange(() => this.renderAll(true));
    this.renderAll();
    whoAmI()
      .then((account) => {
        if (account) this.loadHome();
        else {
          this.state.phase = 'login';
          this.renderAll();
        }
      })
      .catch((e) => {
        this.state.phase = 'login';
        this.state.loginError = { key: 'error.generic', params: { message: errorText(e) } };
        this.renderAll();
      });
  }

  /** A 401 means the session ended: back to the login form. Returns true when it was one. */
  expired(e) {
    if (e instanceof ApiError && e.status === 401) {
      sessionExpired();
      return true;
    }
    return false;
  }

  // ---- skeleton -----------------------------------------------------------------------------

  build() {
    const r = this.root;
    r.replaceChildren();
    const d = {};
    d.heading = el('h2', 'visually-hidden');
    d.heading.id = 'manager-heading';
    d.notice = el('p', 'notice');
    d.notice.setAttribute('role', 'status');
    d.notice.setAttribute('aria-live', 'polite');
    d.loading = el('p', 'loading');

    // Login.
    d.login = el('section', 'card login-card');
    d.login.setAttribute('aria-labelledby', 'login-title');
    d.loginTitle = el('h3', 'card-title');
    d.loginTitle.id = 'login-title';
    d.loginIntro = el('p', 'card-intro');
    d.loginForm = el('form', 'form');
    d.loginForm.noValidate = true;
    d.loginName = input('login-name');
    d.loginName.autocomplete = 'username';
    d.loginName.autocapitalize = 'off';
    d.loginName.spellcheck = false;
    d.loginName.required = true;
    d.loginPassword = input('login-password', 'password');
    d.loginPassword.autocomplete = 'current-password';
    d.loginPassword.required = true;
    d.loginNameField = field('', d.loginName);
    d.loginPasswordField = field('', d.loginPassword);
    d.loginError = el('p', 'form-error');
    d.loginError.id = 'login-error';
    d.loginError.setAttribute('role', 'alert');
    d.loginSubmit = button('btn btn-primary btn-block', '', 'submit');
    d.loginSubmit.id = 'login-submit';
    d.loginForm.append(d.loginNameField, d.loginPasswordField, d.loginError, d.loginSubmit);
    d.login.append(d.loginTitle, d.loginIntro, d.loginForm);
    d.loginForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.submitLogin();
    });

    // Home.
    d.home = el('div', 'manager-home');
    d.account = el('div', 'account-bar');
    d.who = el('p', 'account-who');
    d.who.id = 'account-who';
    d.logout = button('btn btn-small', '');
    d.logout.id = 'logout';
    d.logout.addEventListener('click', () => logout().catch(() => { /* the local session is gone either way */ }));
    d.account.append(d.who, d.logout);

    d.inbox = el('section', 'card inbox');
    d.inbox.id = 'inbox';
    d.inbox.setAttribute('aria-labelledby', 'inbox-title');
    d.inboxHead = el('div', 'card-head');
    d.inboxTitle = el('h3', 'card-title');
    d.inboxTitle.id = 'inbox-title';
    d.inboxReload = button('btn btn-small', '');
    d.inboxReload.addEventListener('click', () => this.loadReports());
    d.inboxHead.append(d.inboxTitle, d.inboxReload);
    d.inboxStatus = el('p', 'card-status');
    d.inboxStatus.setAttribute('role', 'status');
    d.inboxList = el('ol', 'report-list');
    d.inbox.append(d.inboxHead, d.inboxStatus, d.inboxList);

    d.search = el('section', 'card search');
    d.searchForm = el('form', 'search-form');
    d.searchForm.setAttribute('role', 'search');
    d.searchInput = input('station-search', 'search');
    d.searchInput.autocomplete = 'off';
    d.searchInput.spellcheck = false;
    d.searchLabel = el('label', 'field-label');
    d.searchLabel.htmlFor = d.searchInput.id;
    d.searchButton = button('btn btn-small', '', 'submit');
    const searchRow = el('div', 'search-row');
    searchRow.append(d.searchInput, d.searchButton);
    d.searchStatus = el('p', 'card-status');
    d.searchStatus.setAttribute('role', 'status');
    d.searchResults = el('ul', 'pick-list');
    d.searchForm.append(d.searchLabel, searchRow);
    d.search.append(d.searchForm, d.searchStatus, d.searchResults);
    d.searchForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.search(d.searchInput.value);
    });

    d.stations = el('section', 'card my-stations');
    d.stations.setAttribute('aria-labelledby', 'stations-title');
    d.stationsTitle = el('h3', 'card-title');
    d.stationsTitle.id = 'stations-title';
    d.stationsStatus = el('p', 'card-status');
    d.stationsList = el('ul', 'pick-list');
    d.stationsList.id = 'my-stations';
    d.stations.append(d.stationsTitle, d.stationsStatus, d.stationsList);

    d.editor = el('section', 'card editor');
    d.editor.id = 'station-editor';
    d.editor.setAttribute('aria-labelledby', 'editor-title');
    d.editor.tabIndex = -1;

    d.home.append(d.account, d.inbox, d.search, d.stations, d.editor);
    r.append(d.heading, d.notice, d.loading, d.login, d.home);
    this.dom = d;
  }

  // ---- rendering ----------------------------------------------------------------------------

  renderAll(keepInputs = false) {
    const { phase } = this.state;
    const d = this.dom;
    d.heading.textContent = t('manager.title');
    d.loading.hidden = phase !== 'loading';
    d.loading.textContent = t('manager.loading');
    this.renderNotice();
    d.login.hidden = phase !== 'login';
    d.home.hidden = phase !== 'home';
    this.renderLogin();
    if (phase !== 'home') return;
    this.renderAccount();
    this.renderInbox();
    this.renderSearch();
    this.renderStations();
    this.renderEditor(keepInputs);
  }

  renderNotice() {
    const { notice } = this.state;
    const box = this.dom.notice;
    box.hidden = !notice;
    if (!notice) return;
    box.dataset.kind = notice.kind || 'info';
    box.textContent = t(notice.key, notice.params);
  }

  renderLogin() {
    const d = this.dom;
    d.loginTitle.textContent = t('login.title');
    d.loginIntro.textContent = t('login.intro');
    d.loginNameField.querySelector('label').textContent = t('login.login');
    d.loginPasswordField.querySelector('label').textContent = t('login.password');
    const err = this.state.loginError;
    d.loginError.hidden = !err;
    d.loginError.textContent = err ? t(err.key, err.params) : '';
    for (const i of [d.loginName, d.loginPassword]) {
      if (err) i.setAttribute('aria-invalid', 'true');
      else i.removeAttribute('aria-invalid');
    }
    d.loginSubmit.disabled = this.state.loginBusy;
    d.loginSubmit.textContent = t(this.state.loginBusy ? 'login.busy' : 'login.submit');
  }

  renderAccount() {
    const a = currentAccount();
    if (!a) return;
    this.dom.who.textContent = t('account.who', { login: a.login, role: t(`account.role.${a.role}`) });
    this.dom.logout.textContent = t('account.logout');
  }

  // ---- login --------------------------------------------------------------------------------

  async submitLogin() {
    const d = this.dom;
    const name = d.loginName.value.trim();
    const password = d.loginPassword.value;
    if (!name || !password) {
      this.state.loginError = { key: 'login.missing' };
      this.renderLogin();
      return;
    }
    this.state.loginBusy = true;
    this.state.loginError = null;
    this.state.notice = null;
    this.renderNotice();
    this.renderLogin();
    try {
      await login(name, password);
      d.loginPassword.value = '';
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) this.state.loginError = { key: 'login.bad_credentials' };
      else if (e instanceof ApiError && e.status === 429) {
        this.state.loginError = e.retryAfter
          ? { key: 'login.rate_limited', params: { n: e.retryAfter } }
          : { key: 'login.rate_limited_unknown' };
      } else if (e instanceof ApiError && e.status === 503 && e.code === 'busy') {
        this.state.loginError = { key: 'login.server_busy', params: { n: e.retryAfter || 1 } };
      } else this.state.loginError = { key: 'error.generic', params: { message: errorText(e) } };
      d.loginPassword.select();
    } finally {
      this.state.loginBusy = false;
      this.renderLogin();
    }
  }

  // ---- home: my stations and the inbox ------------------------------------------------------

  async loadHome() {
    const account = currentAccount();
    if (!account) return;
    const st = this.state;
    st.phase = 'home';
    st.order = [...new Set([...(account.stations || []), ...st.order])];
    this.renderAll();
    this.loadReports();
    await Promise.all(st.order.map((id) => this.loadStation(id)));
    this.renderStations();
    if (st.selected === null && st.order.length === 1 && st.stations.has(st.order[0])) this.select(st.order[0], false);
  }

  /** Fetches one station fresh (for its ETag); errors are kept for the list to show. */
  async loadStation(id) {
    try {
      const res = await getStation(id);
      this.state.stations.set(id, res);
      this.state.stationErrors.delete(id);
      return res;
    } catch (e) {
      if (this.expired(e)) return null;
      this.state.stationErrors.set(id, e);
      return null;
    }
  }

  openReportCount(id) {
    return (this.state.reports.items || []).filter((r) => r.station_id === id).length;
  }

  renderStations() {
    const d = this.dom;
    const st = this.state;
    const role = currentAccount()?.role;
    d.stationsTitle.textContent = t('stations.title');
    d.stationsList.replaceChildren();
    if (!st.order.length) {
      d.stationsStatus.hidden = false;
      const key = { admin: 'stations.none_admin', planner: 'stations.none_planner' }[role] || 'stations.none';
      d.stationsStatus.textContent = t(key);
      return;
    }
    d.stationsStatus.hidden = true;
    for (const id of st.order) {
      const li = el('li');
      const s = st.stations.get(id);
      if (!s) {
        const e = st.stationErrors.get(id);
        li.append(el('p', 'form-error', e ? t('stations.load_failed', { id, message: errorText(e) }) : t('manager.loading')));
        d.stationsList.append(li);
        continue;
      }
      li.append(this.stationButton(s.feature, () => this.select(id)));
      const b = li.firstChild;
      if (st.selected === id) b.setAttribute('aria-current', 'true');
      const n = this.openReportCount(id);
      if (n) b.append(el('span', 'badge badge-temp', t('stations.reports', { n })));
      d.stationsList.append(li);
    }
  }

  /** A button naming a station (name, code, closure badge) for the pick lists. */
  stationButton(feature, onClick) {
    const p = feature.properties || {};
    const b = button('pick');
    b.dataset.id = String(feature.id ?? p.id);
    const text = el('span', 'pick-text');
    text.append(el('span', 'pick-name', p.name), el('span', 'pick-code', p.code));
    b.append(text);
    if (p.temporary_closure) b.append(el('span', 'badge badge-temp', t('open.closed_temp')));
    if (p.demo) b.append(el('span', 'tag-demo', t('demo.tag')));
    b.addEventListener('click', onClick);
    return b;
  }

  // ---- the admin's search -------------------------------------------------------------------

  renderSearch() {
    const d = this.dom;
    const s = this.state.search;
    d.search.hidden = currentAccount()?.role !== 'admin';
    if (d.search.hidden) return;
    d.searchLabel.textContent = t('search.label');
    d.searchInput.placeholder = t('search.placeholder');
    d.searchButton.textContent = t('search.submit');
    d.searchButton.disabled = s.busy;
    let status = '';
    if (s.busy) status = t('search.busy');
    else if (s.error) status = t('error.generic', { message: errorText(s.error) });
    else if (s.results && !s.results.length) status = t('search.none', { q: s.q });
    else if (s.results) status = t('search.results', { n: s.results.length });
    d.searchStatus.hidden = !status;
    d.searchStatus.textContent = status;
    d.searchResults.replaceChildren();
    for (const f of s.results || []) {
      const li = el('li');
      li.append(this.stationButton(f, () => this.addAndSelect(Number(f.id ?? f.properties.id))));
      d.searchResults.append(li);
    }
  }

  async search(raw) {
    const q = raw.trim();
    const s = this.state.search;
    if (!q) return;
    Object.assign(s, { q, busy: true, error: null, results: null });
    this.renderSearch();
    try {
      if (/^\d+$/.test(q)) {
        try {
          const { feature } = await getStation(Number(q));
          s.results = [feature];
        } catch (e) {
          if (!(e instanceof ApiError && (e.status === 404 || e.status === 400))) throw e;
          s.results = [];
        }
      } else {
        // The API has no lookup by code: match against the province's stations, loaded once.
        this.allStations ??= await stationsInBox(JIANGXI_BBOX);
        const needle = q.toLowerCase();
        const exact = this.allStations.filter((f) => String(f.properties?.code).toLowerCase() === needle);
        s.results = exact.length ? exact : this.allStations.filter((f) => {
          const p = f.properties || {};
          return String(p.code).toLowerCase().includes(needle) || String(p.name).toLowerCase().includes(needle);
        }).slice(0, SEARCH_MAX);
      }
    } catch (e) {
      if (this.expired(e)) return;
      s.error = e;
    } finally {
      s.busy = false;
      this.renderSearch();
    }
  }

  async addAndSelect(id) {
    const st = this.state;
    if (!st.order.includes(id)) st.order.push(id);
    this.renderStations();
    await this.select(id);
  }

  // ---- inbox ----------------------------------------------------------------------------------

  async loadReports() {
    const r = this.state.reports;
    r.error = null;
    try {
      r.items = await openReports();
    } catch (e) {
      if (this.expired(e)) return;
      r.items = null;
      r.error = e;
    }
    this.renderInbox();
    this.renderStations();
  }

  renderInbox() {
    const d = this.dom;
    const { items, error, done } = this.state.reports;
    d.inboxTitle.textContent = t('inbox.title');
    d.inboxReload.textContent = t('inbox.reload');
    let status;
    if (error) {
      status = error.status === 404 || error.status === 405 ? t('inbox.unavailable') : t('inbox.failed', { message: errorText(error) });
    } else if (items === null) status = t('manager.loading');
    else {
      status = [done ? t(done.key, done.params) : '', items.length ? '' : t('inbox.empty')].filter(Boolean).join(' ');
    }
    d.inboxStatus.hidden = !status;
    d.inboxStatus.textContent = status;
    d.inboxList.replaceChildren(...(items || []).map((r) => this.renderReport(r)));
  }

  renderReport(r) {
    const li = el('li', 'inbox-item');
    li.dataset.id = String(r.id);
    li.dataset.station = String(r.station_id);
    const name = r.station_name || r.station_code || `#${r.station_id}`;
    const head = el('div', 'report-head');
    const open = button('link-btn report-station', r.station_code ? t('inbox.station', { name, code: r.station_code }) : name);
    open.setAttribute('aria-label', t('inbox.open_station', { name }));
    open.addEventListener('click', () => this.addAndSelect(r.station_id));
    head.append(open);
    li.append(head);
    li.append(el('p', 'report-kind', t(`report.kind.${r.kind}`) === `report.kind.${r.kind}` ? r.kind : t(`report.kind.${r.kind}`)));
    if (r.amenity) li.append(el('p', 'report-meta', t('inbox.amenity', { amenity: amenityLabel(r.amenity) })));
    if (r.note) li.append(el('p', 'report-note', r.note));
    if (r.created_at) li.append(el('p', 'report-meta', t('inbox.filed', { date: formatDateTime(r.created_at) })));

    const form = el('form', 'resolve-form');
    form.noValidate = true;
    const res = input(`resolution-${r.id}`);
    res.maxLength = 500;
    res.placeholder = t('inbox.resolution_placeholder');
    res.value = this.state.resolutions.get(r.id) ?? '';
    res.addEventListener('input', () => this.state.resolutions.set(r.id, res.value));
    const submit = button('btn btn-small', t('inbox.resolve'), 'submit');
    const row = el('div', 'search-row');
    row.append(res, submit);
    const label = el('label', 'field-label', t('inbox.resolution'));
    label.htmlFor = res.id;
    const err = el('p', 'form-error');
    err.setAttribute('role', 'alert');
    const e = this.state.reportErrors.get(r.id);
    err.hidden = !e;
    if (e) err.textContent = t(e.key, e.params);
    form.append(label, row, err);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.resolve(r, res.value, submit);
    });
    li.append(form);
    return li;
  }

  async resolve(report, text, submit) {
    const st = this.state;
    const resolution = text.trim();
    if (!resolution) {
      st.reportErrors.set(report.id, { key: 'inbox.need_resolution' });
      this.renderInbox();
      this.dom.inboxList.querySelector(`li[data-id="${CSS.escape(String(report.id))}"] input`)?.focus();
      return;
    }
    submit.disabled = true;
    try {
      await resolveReport(report.station_id, report.id, resolution);
      st.reportErrors.delete(report.id);
      st.resolutions.delete(report.id);
      st.reports.items = (st.reports.items || []).filter((r) => r.id !== report.id);
      st.reports.done = { key: 'inbox.resolved', params: { name: report.station_name || report.station_code || report.station_id } };
    } catch (e) {
      if (this.expired(e)) return;
      if (e instanceof ApiError && e.status === 409) {
        st.reportErrors.delete(report.id);
        st.reports.items = (st.reports.items || []).filter((r) => r.id !== report.id);
        st.reports.done = { key: 'inbox.already', params: { name: report.station_name || report.station_code || report.station_id } };
      } else {
        st.reportErrors.set(report.id, { key: 'error.generic', params: { message: errorText(e) } });
        submit.disabled = false;
      }
    }
    this.renderInbox();
    this.renderStations();
  }

  // ---- one station --------------------------------------------------------------------------

  async select(id, focus = true) {
    const st = this.state;
    st.selected = id;
    st.edit = { message: null, errors: {}, busy: false };
    st.history = { id, items: null, error: null };
    this.renderStations();
    this.renderEditor();
    const loaded = await this.loadStation(id);
    if (this.state !== st || st.selected !== id) return;
    if (!loaded) {
      const e = st.stationErrors.get(id);
      st.edit.message = e ? { key: 'stations.load_failed', params: { id, message: errorText(e) }, kind: 'error' } : null;
    }
    this.renderEditor();
    this.renderStations();
    if (focus) {
      this.dom.editor.focus({ preventScroll: true });
      this.dom.editor.scrollIntoView({ block: 'start', behavior: 'smooth' });
    }
    this.loadHistory(id);
  }

  async loadHistory(id) {
    try {
      const items = await stationHistory(id);
      if (this.state.selected !== id) return;
      this.state.history = { id, items, error: null };
    } catch (e) {
      if (this.expired(e)) return;
      if (this.state.selected !== id) return;
      this.state.history = { id, items: null, error: e };
    }
    this.renderHistory();
  }

  /** The form's current values (to keep what was typed across a redraw). */
  readForm() {
    const f = this.dom.editor.querySelector('form.edit-form');
    if (!f) return null;
    const v = (id) => f.querySelector(`#${id}`)?.value ?? '';
    return {
      name: v('ed-name'),
      address: v('ed-address'),
      amenities: [...f.querySelectorAll('input[name="amenity"]:checked')].map((i) => i.value),
      opening_hours: v('ed-hours'),
      phone: v('ed-phone'),
      notes: v('ed-notes'),
      until: v('ed-until'),
      reason: v('ed-reason'),
    };
  }

  /** The form values of a station as loaded. */
  static valuesOf(p) {
    return {
      name: p.name ?? '',
      address: p.address ?? '',
      amenities: Array.isArray(p.amenities) ? p.amenities : [],
      opening_hours: p.opening_hours ?? '',
      phone: p.phone ?? '',
      notes: p.notes ?? '',
      until: p.temporary_closure?.until ? toLocalInput(p.temporary_closure.until) : '',
      reason: p.temporary_closure?.reason ?? '',
    };
  }

  renderEditor(keepInputs = false) {
    const box = this.dom.editor;
    const st = this.state;
    const id = st.selected;
    const draft = keepInputs ? this.readForm() : null;
    box.hidden = id === null;
    if (id === null) {
      box.replaceChildren();
      return;
    }
    const s = st.stations.get(id);
    const head = el('div', 'card-head');
    const title = el('h3', 'card-title', s ? s.feature.properties.name : t('edit.title'));
    title.id = 'editor-title';
    const close = button('btn btn-small', t('edit.close'));
    close.addEventListener('click', () => {
      st.selected = null;
      this.renderEditor();
      this.renderStations();
    });
    head.append(title, close);
    box.replaceChildren(head);
    if (!s) {
      const msg = st.edit.message;
      box.append(el('p', msg ? 'form-error' : 'card-status', msg ? t(msg.key, msg.params) : t('manager.loading')));
      return;
    }
    const p = s.feature.properties;
    const values = draft || ManagerView.valuesOf(p);
    const meta = el('p', 'editor-meta');
    meta.append(el('span', null, t('edit.code', { code: p.code })));
    if (p.demo) meta.append(' ', el('span', 'tag-demo', t('demo.tag')));
    box.append(meta);

    // Confirm the data is correct.
    const verify = el('div', 'verify-row');
    const vText = el('p', 'verified-at', p.verified_at
      ? t('verify.last', { date: formatDateTime(p.verified_at) }) : t('verify.never'));
    vText.id = 'verified-at';
    const vBtn = button('btn btn-small btn-ok', t('verify.button'));
    vBtn.id = 'ed-verify';
    vBtn.disabled = st.edit.busy;
    vBtn.addEventListener('click', () => this.verify());
    verify.append(vText, vBtn);
    box.append(verify);

    const form = el('form', 'form edit-form');
    form.noValidate = true;
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.save();
    });
    const errors = st.edit.errors;

    const name = input('ed-name', 'text', values.name);
    const address = input('ed-address', 'text', values.address);
    form.append(field(t('edit.name'), name), field(t('edit.address'), address));

    const am = el('fieldset', 'amenity-grid');
    am.append(el('legend', 'field-label', t('edit.amenities')));
    for (const [key] of AMENITIES) {
      const l = el('label', 'check');
      const c = input(`ed-amenity-${key}`, 'checkbox');
      c.name = 'amenity';
      c.value = key;
      c.checked = values.amenities.includes(key);
      const icon = el('span', 'amenity-icon', AMENITY_ICON[key]);
      icon.setAttribute('aria-hidden', 'true');
      l.append(c, icon, el('span', null, amenityLabel(key)));
      am.append(l);
    }
    // Keys this page does not know stay as they are (shown, kept on save).
    for (const key of values.amenities.filter((k) => !AMENITY_ORDER.has(k))) {
      const l = el('label', 'check');
      const c = input(`ed-amenity-${key}`, 'checkbox');
      c.name = 'amenity';
      c.value = key;
      c.checked = true;
      l.append(c, el('span', null, key));
      am.append(l);
    }
    form.append(am);

    const hours = input('ed-hours', 'text', values.opening_hours);
    hours.autocomplete = 'off';
    hours.spellcheck = false;
    const hoursField = field(t('edit.hours'), hours, t('edit.hours_help'));
    // The hours in words, as riders will read them, updated while typing.
    const preview = el('p', 'field-preview');
    const showPreview = () => {
      const text = hours.value.trim();
      preview.hidden = !text;
      preview.textContent = text ? t('hours.label', { hours: formatHours(text) }) : '';
    };
    showPreview();
    hours.addEventListener('input', showPreview);
    hoursField.insertBefore(preview, hoursField.querySelector('.field-help'));
    this.fieldError(hoursField, hours, errors.hours);
    form.append(hoursField);

    const phone = input('ed-phone', 'tel', values.phone);
    phone.autocomplete = 'off';
    const notes = el('textarea', 'textarea');
    notes.id = 'ed-notes';
    notes.rows = 3;
    notes.value = values.notes;
    form.append(field(t('edit.phone'), phone), field(t('edit.notes'), notes));

    // Temporary closure.
    const cl = el('fieldset', 'closure');
    cl.id = 'ed-closure';
    cl.append(el('legend', 'field-label', t('closure.title')));
    const c = p.temporary_closure;
    const now = el('p', c ? 'closure-now is-closed' : 'closure-now', c
      ? t('closure.current', { until: formatDateTime(c.until) }) + (c.reason ? t('closure.sep') + t('closure.reason', { reason: c.reason }) : '')
      : t('closure.none'));
    now.id = 'closure-now';
    cl.append(now);
    const until = input('ed-until', 'datetime-local', values.until);
    const reason = input('ed-reason', 'text', values.reason);
    reason.maxLength = MAX_REASON;
    cl.append(field(t('closure.until_label'), until), field(t('closure.reason_label'), reason));
    cl.append(el('p', 'field-help', t('closure.help')));
    if (c) {
      const end = button('btn btn-small', t('closure.end'));
      end.id = 'ed-end-closure';
      end.disabled = st.edit.busy;
      end.addEventListener('click', () => this.endClosure());
      cl.append(end);
    }
    this.fieldError(cl, until, errors.closure);
    form.append(cl);

    const msg = st.edit.message;
    const out = el('p', 'form-message');
    out.id = 'edit-message';
    out.setAttribute('role', msg?.kind === 'error' ? 'alert' : 'status');
    out.hidden = !msg;
    if (msg) {
      out.dataset.kind = msg.kind;
      out.textContent = t(msg.key, msg.params);
    }
    const save = button('btn btn-primary btn-block', t(st.edit.busy ? 'edit.saving' : 'edit.save'), 'submit');
    save.id = 'ed-save';
    save.disabled = st.edit.busy;
    form.append(out);
    if (st.edit.conflict?.changes?.length) form.append(this.renderConflict(st.edit.conflict));
    form.append(save);
    box.append(form);

    const hist = el('section', 'history');
    hist.setAttribute('aria-labelledby', 'history-title');
    const hTitle = el('h4', 'history-title', t('history.title'));
    hTitle.id = 'history-title';
    const hList = el('ol', 'history-list');
    hList.id = 'history';
    hist.append(hTitle, hList);
    box.append(hist);
    this.renderHistory();
  }

  fieldError(wrap, control, message) {
    if (!message) return;
    const e = el('p', 'field-error field-detail', message);
    e.id = `${control.id}-error`;
    control.setAttribute('aria-invalid', 'true');
    control.setAttribute('aria-describedby', [control.getAttribute('aria-describedby'), e.id].filter(Boolean).join(' '));
    wrap.append(e);
  }

  renderHistory() {
    const list = this.dom.editor.querySelector('#history');
    if (!list) return;
    const { items, error } = this.state.history;
    list.replaceChildren();
    if (error) {
      list.append(el('li', 'history-empty', t('history.failed', { message: errorText(error) })));
      return;
    }
    if (!items) {
      list.append(el('li', 'history-empty', t('manager.loading')));
      return;
    }
    if (!items.length) {
      list.append(el('li', 'history-empty', t('history.empty')));
      return;
    }
    for (const h of [...items].reverse()) {
      const li = el('li', 'history-item');
      li.dataset.action = h.action;
      const action = t(`action.${h.action}`) === `action.${h.action}` ? h.action : t(`action.${h.action}`);
      const when = el('time', 'history-when', formatDateTime(h.at));
      when.dateTime = h.at;
      li.append(when, el('span', 'history-who', t('history.entry', { login: h.actor?.login || t('history.system'), action })));
      const fields = (Array.isArray(h.fields) ? h.fields : [])
        .filter((f) => !(h.action === 'verify' && f === 'verified_at'));
      if (fields.length) {
        const names = fields.map((f) => (t(`field.${f}`) === `field.${f}` ? f : t(`field.${f}`)));
        const fl = el('span', 'history-fields', t('history.fields', { fields: names.join(t('field.sep')) }));
        fl.dataset.fields = fields.join(',');
        li.append(fl);
      }
      list.append(li);
    }
  }

  /** The merge patch of what the form changed against the station as loaded; null after showing a problem. */
  buildPatch(p) {
    const v = this.readForm();
    const was = ManagerView.valuesOf(p);
    const patch = {};
    for (const k of ['name', 'address', 'opening_hours']) {
      if (v[k].trim() !== was[k]) patch[k] = v[k].trim();
    }
    for (const k of ['phone', 'notes']) {
      if (blankToNull(v[k]) !== blankToNull(was[k])) patch[k] = blankToNull(v[k]);
    }
    if (!sameSet(v.amenities, was.amenities)) patch.amenities = sortAmenities(v.amenities);
    const reason = v.reason.trim();
    if (v.until) {
      const until = fromLocalInput(v.until);
      const c = p.temporary_closure;
      if (!c || Date.parse(c.until) !== Date.parse(until) || (c.reason ?? '') !== reason) {
        patch.temporary_closure = { until, reason };
      }
    } else if (reason && !p.temporary_closure) {
      this.state.edit.errors = { closure: t('closure.need_until') };
      return null;
    }
    return patch;
  }

  async save() {
    const st = this.state;
    const id = st.selected;
    const s = st.stations.get(id);
    if (!s || st.edit.busy) return;
    st.edit.errors = {};
    const patch = this.buildPatch(s.feature.properties);
    if (!patch) {
      st.edit.message = null;
      this.renderEditor(true);
      return;
    }
    if (!Object.keys(patch).length) {
      st.edit.message = { key: 'edit.nothing', kind: 'info' };
      this.renderEditor(true);
      return;
    }
    await this.send(id, () => patchStation(id, s.etag, patch), 'edit.saved');
  }

  async endClosure() {
    const st = this.state;
    const id = st.selected;
    const s = st.stations.get(id);
    if (!s || st.edit.busy) return;
    st.edit.errors = {};
    await this.send(id, () => patchStation(id, s.etag, { temporary_closure: null }), 'closure.ended', (draft) => {
      Object.assign(draft, { until: '', reason: '' });
    });
  }

  async verify() {
    const st = this.state;
    const id = st.selected;
    const s = st.stations.get(id);
    if (!s || st.edit.busy) return;
    const before = s.feature.properties.version;
    await this.send(id, () => verifyStation(id), 'verify.done', () => {}, (res) => {
      // Verify takes no If-Match: if it skipped a version, someone else changed the station
      // meanwhile and the form's values are stale.
      const now = res.feature?.properties?.version;
      return Number.isFinite(before) && Number.isFinite(now) && now !== before + 1;
    });
  }

  /**
   * Runs a change of the selected station and shows its outcome. On success the form keeps what
   * was typed only when `keepDraft` says how (ending a closure, confirming), else shows the saved
   * station. A 412 (or `stale(res)`) reloads the station and its form, saying why.
   */
  async send(id, call, doneKey, keepDraft = null, stale = null) {
    const st = this.state;
    st.edit.busy = true;
    st.edit.message = null;
    this.renderEditor(true);
    const draft = this.readForm();
    // What the form was filled from: a 412 tells typed changes from the server's by it.
    const base = ManagerView.valuesOf(st.stations.get(id).feature.properties);
    let res;
    try {
      res = await call();
    } catch (e) {
      st.edit.busy = false;
      if (this.state !== st || st.selected !== id) return;
      if (this.expired(e)) return;
      if (e instanceof ApiError && e.status === 412) {
        await this.reloadStale(id, draft, base);
        return;
      }
      if (e instanceof ApiError && e.status === 400) {
        const { field: f, detail } = invalidField(e);
        if (f) st.edit.errors = { [f]: detail };
        const key = { hours: 'edit.invalid_hours', closure: 'edit.invalid_closure' }[f];
        st.edit.message = key ? { key, kind: 'error' } : { key: 'edit.invalid', params: { message: detail }, kind: 'error' };
        this.renderEditor(true);
        this.dom.editor.querySelector('[aria-invalid="true"]')?.focus();
        return;
      } else if (e instanceof ApiError && e.status === 403) {
        st.edit.message = { key: 'edit.forbidden', kind: 'error' };
      } else if (e instanceof ApiError && e.status === 404) {
        st.edit.message = { key: 'edit.gone', kind: 'error' };
      } else {
        st.edit.message = { key: 'edit.failed', params: { message: errorText(e) }, kind: 'error' };
      }
      this.renderEditor(true);
      return;
    }
    st.edit.busy = false;
    if (this.state !== st || st.selected !== id) return;
    if (stale?.(res)) {
      await this.reloadStale(id, draft, base);
      return;
    }
    st.edit.conflict = null;
    st.stations.set(id, res);
    st.edit.message = { key: doneKey, kind: 'ok' };
    if (keepDraft && draft) {
      keepDraft(draft);
      this.renderEditorWith(draft);
    } else this.renderEditor();
    this.renderStations();
    this.loadHistory(id);
  }

  /**
   * Someone else changed the station (a 412): fetch its current version and ETag, keep what the
   * manager typed, take the other edit where the manager changed nothing, and list every field
   * the other edit changed, theirs beside the manager's, so nothing typed is lost silently.
   * Saving again sends the manager's changes against the new version.
   */
  async reloadStale(id, draft = null, base = null) {
    const st = this.state;
    await this.loadStation(id);
    if (this.state !== st || st.selected !== id) return;
    const s = st.stations.get(id);
    if (!s || !draft || !base) {
      st.edit = { message: { key: 'edit.stale', kind: 'error' }, errors: {}, busy: false };
      this.renderEditor();
    } else {
      const theirs = ManagerView.valuesOf(s.feature.properties);
      const merged = {};
      const changes = [];
      for (const k of EDIT_FIELDS) {
        const mine = draft[k];
        const typed = !sameValue(k, mine, base[k]);
        merged[k] = typed ? mine : theirs[k];
        if (!sameValue(k, theirs[k], base[k])) {
          changes.push({ field: k, theirs: theirs[k], yours: mine, clash: typed && !sameValue(k, mine, theirs[k]) });
        }
      }
      st.edit = {
        message: { key: changes.some((c) => c.clash) ? 'edit.stale_clash' : 'edit.stale_kept', kind: 'error' },
        errors: {},
        busy: false,
        conflict: { changes },
      };
      this.renderEditorWith(merged);
    }
    this.renderStations();
    this.loadHistory(id);
    this.dom.editor.querySelector('#edit-message')?.scrollIntoView({ block: 'nearest' });
  }

  /** The other edit's changes, each with the server's value and the manager's (and a way to take theirs). */
  renderConflict(conflict) {
    const box = el('div', 'conflict');
    box.id = 'edit-conflict';
    box.append(el('p', 'conflict-title', t('edit.conflict_title')));
    const list = el('ul', 'conflict-list');
    for (const c of conflict.changes) {
      const li = el('li', c.clash ? 'conflict-item is-clash' : 'conflict-item');
      li.dataset.field = c.field;
      li.append(el('span', 'conflict-field', t(FIELD_LABEL[c.field])));
      li.append(el('span', 'conflict-theirs', t('edit.conflict_theirs', { value: this.showValue(c.field, c.theirs) })));
      if (c.clash) {
        li.append(el('span', 'conflict-yours', t('edit.conflict_yours', { value: this.showValue(c.field, c.yours) })));
        const take = button('btn btn-small conflict-take', t('edit.conflict_take'));
        take.addEventListener('click', () => {
          const draft = this.readForm();
          if (!draft) return;
          draft[c.field] = c.theirs;
          c.clash = false;
          c.taken = true;
          this.renderEditorWith(draft);
        });
        li.append(take);
      } else {
        li.append(el('span', 'conflict-note', t(c.taken ? 'edit.conflict_taken' : 'edit.conflict_applied')));
      }
      list.append(li);
    }
    box.append(list);
    return box;
  }

  showValue(fieldKey, v) {
    if (fieldKey === 'amenities') return v.length ? sortAmenities(v).map(amenityLabel).join('、') : t('edit.conflict_empty');
    if (fieldKey === 'until' && v) return formatDateTime(fromLocalInput(v));
    return String(v ?? '').trim() || t('edit.conflict_empty');
  }

  /** Redraws the form showing `draft` (typed values) over the stored station. */
  renderEditorWith(draft) {
    this.renderEditor();
    const f = this.dom.editor.querySelector('form.edit-form');
    if (!f) return;
    const set = (id, v) => {
      const i = f.querySelector(`#${id}`);
      if (i) i.value = v;
    };
    set('ed-name', draft.name);
    set('ed-address', draft.address);
    set('ed-hours', draft.opening_hours);
    set('ed-phone', draft.phone);
    set('ed-notes', draft.notes);
    set('ed-until', draft.until);
    set('ed-reason', draft.reason);
    for (const c of f.querySelectorAll('input[name="amenity"]')) c.checked = draft.amenities.includes(c.value);
  }
}
