// Bootstrap: fill the page's strings, show the view the address names (#manager: 站长,
// #planner: 规划, else 找驿站), build each view the first time it is shown, and register the
// service worker that lets the app start with no signal.
import { clientConfig, counties } from './api.js';
import { setDisplayCrs } from './coords.js';
import { applyStatic, getLang, setLang } from './i18n.js';
import { StationMap } from './map.js';
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

/** The rider view: map, list, position. Built on first show, so a manager's visit asks no GPS. */
async function startRider() {
  const outlines = counties(); // in parallel with the config: it is the bigger download
  outlines.catch(() => { /* handled below */ });
  const config = await loadConfig();
  // Before anything is placed: a GCJ-02 basemap needs every marker and tap shifted to match.
  setDisplayCrs(config.basemap?.crs);
  map = new StationMap($('map'), {
    onPick: (latlng) => rider.pick(latlng),
    onSelect: (id, from) => rider.select(id, from),
    onLocate: () => rider.locate(true),
  });
  if (config.basemap?.url) map.setTileLayer(config.basemap);
  // Without a raster basemap, the server's own streets (when it loaded an extract).
  else if (config.road_network) map.setRoadLayer();

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

  // The basemap is a nicety: without it the list and markers still work.
  outlines
    .then(({ data }) => map.setBasemap(data, (detail, bbox) => counties({ detail, bbox }).then((r) => r.data)))
    .catch((e) => {
      console.warn('basemap unavailable:', e);
      const note = $('map-note');
      note.dataset.i18n = 'error.basemap';
      note.hidden = false;
      applyStatic();
    });
}

/** The manager view lives in its own module, loaded when first asked for. */
async function startManager() {
  const { ManagerView } = await import('./manager.js');
  manager ??= new ManagerView($('manager-view'));
  manager.start();
}

/** The planners' view (coverage, suggestions, what-if) likewise, with its own map. */
async function startPlanner() {
  const { PlannerView } = await import('./planner.js');
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
