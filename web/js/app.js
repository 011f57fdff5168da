// Bootstrap: fill the page's strings, show the view the address names (#manager: 站长,
// #planner: 规划, else 找驿站), build each view the first time it is shown, and register the
// service worker that lets the app start with no signal.
import { clientConfig, counties } from './api.js';
import { setDisplayCrs } from './coords.js';
import { applyStatic, getLang, setLang } from './i18n.js';
import { StationMap, levelForView } from './map.js';
import { RiderView } from './rider.js';

const $ = (id) => document.getElementById(id);

applyStatic();

$('lang-toggle').addEventListener('click', () => setLang(getLang() === 'zh' ? 'en' : 'zh'));

let map = null;
let rider = null;
let manager = null;
let planner = null;
let riderStarted = false;

/**
 * What the server says the page needs at start (basemap, whether it can locate by IP, the travel
 * model); an empty config (no basemap, no IP lookup) when it cannot be had.
 */
let configPromise = null;
function loadConfig() {
  configPromise ??= clientConfig()
    .then(({ data }) => data || {})
    .catch((e) => {
      console.warn('client config unavailable:', e);
      return {};
    });
  return configPromise;
}

/**
 * Asks the service worker to keep an answer the page fetched before the worker was in control
 * (a first visit), for a start without a signal; it copies it from the HTTP cache, no new download.
 */
function keepOffline(url) {
  if (!url || !('serviceWorker' in navigator)) return;
  navigator.serviceWorker.ready
    .then((reg) => reg.active?.postMessage({ keep: url }))
    .catch(() => { /* no worker: nothing to keep it in */ });
}

/** Ends the current task, so the browser can paint and handle input before the next step. */
const yieldToMain = () => new Promise((resolve) => { setTimeout(resolve, 0); });

/** The rider view: map, list, position. Built on first show, so a manager's visit asks no GPS. */
async function startRider() {
  const config = await loadConfig();
  // Before anything is placed: a GCJ-02 basemap needs every marker and tap shifted to match.
  setDisplayCrs(config.basemap?.crs);
  map = new StationMap($('map'), {
    onPick: (latlng) => rider.pick(latlng),
    onSelect: (id, from) => rider.select(id, from),
    onLocate: () => rider.locate(true),
    pointsZoom: config.tiles_points_zoom,
  });
  if (config.basemap?.url) map.setTileLayer(config.basemap);
  // Without a raster basemap, the server's own streets (when it loaded an extract).
  else if (config.road_network) map.setRoadLayer();

  // Let the browser paint the map before the list and chips are built: one long task on a slow
  // phone is a page that ignores taps.
  await yieldToMain();

  rider = new RiderView({
    chips: $('chips'),
    openNow: $('open-now'),
    modeInputs: [...document.querySelectorAll('input[name="mode"]')],
    status: $('status'),
    loading: $('loading'),
    errorBox: $('error'),
    errorText: $('error-text'),
    retry: $('retry'),
    count: $('list-count'),
    results: $('results'),
    demoBanner: $('demo-banner'),
    offlineBanner: $('offline-banner'),
    useLocation: $('use-location'),
    locationHelp: $('location-help'),
  }, map, config);
  rider.start();

  // The basemap is a nicety: without it the list and markers still work. Asked for once the first
  // view is known: a rider placed at street zoom needs two or three counties in full detail, not
  // the province-wide outline (~16 KB) that would be replaced at once.
  const loadLevel = (detail, bbox) => counties({ detail, bbox }).then((r) => r.data);
  rider.placed(3000)
    .then(() => {
      const { detail, bbox } = levelForView(map.map);
      return counties({ detail, bbox });
    })
    .then(({ data, url }) => {
      keepOffline(url);
      map.setBasemap(data, loadLevel);
    })
    .catch((e) => {
      console.warn('basemap unavailable:', e);
      const note = $('map-note');
      note.dataset.i18n = 'error.basemap';
      note.hidden = false;
      applyStatic();
    });
}

/**
 * The manager's and planner's styles (css/views.css), added once and awaited, so their views are
 * never drawn unstyled; a rider's first visit does not download them.
 */
let viewStyles = null;
function loadViewStyles() {
  viewStyles ??= new Promise((resolve) => {
    const link = document.createElement('link');
    link.rel = 'stylesheet';
    link.href = 'css/views.css';
    link.onload = resolve;
    link.onerror = () => { console.warn('css/views.css unavailable'); resolve(); };
    document.head.append(link);
  });
  return viewStyles;
}

/** The manager view lives in its own module, loaded when first asked for. */
async function startManager() {
  const [{ ManagerView }] = await Promise.all([import('./manager.js'), loadViewStyles()]);
  manager ??= new ManagerView($('manager-view'));
  manager.start();
}

/** The planners' view (coverage, suggestions, what-if) likewise, with its own map. */
async function startPlanner() {
  const [{ PlannerView }] = await Promise.all([import('./planner.js'), loadViewStyles()]);
  if (!planner) {
    planner = new PlannerView($('planner-view'), await loadConfig());
    planner.start();
  } else planner.show();
}

const VIEWS = { '#manager': 'manager', '#planner': 'planner' };

function showView() {
  const view = VIEWS[window.location.hash] || 'rider';
  $('rider-view').hidden = view !== 'rider';
  $('manager-view').hidden = view !== 'manager';
  $('planner-view').hidden = view !== 'planner';
  for (const a of document.querySelectorAll('.view-nav a')) {
    if (a.dataset.view === view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (view === 'rider') {
    if (!riderStarted) {
      riderStarted = true;
      startRider().catch((e) => console.error('rider view failed to start:', e));
    } else map?.resize(); // it had no size while hidden
  } else if (view === 'manager') {
    startManager().catch((e) => console.error('manager view failed to load:', e));
  } else {
    startPlanner().catch((e) => console.error('planner view failed to load:', e));
  }
}

window.addEventListener('hashchange', showView);
showView();

if ('serviceWorker' in navigator && window.isSecureContext) {
  window.addEventListener('load', () => {
    navigator.serviceWorker.register('sw.js').catch((e) => console.warn('service worker not registered:', e));
  });
}
