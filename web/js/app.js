// Bootstrap: fill the page's strings, build the map and the rider view, load the basemap, and
// register the service worker that lets the app start with no signal.
import { counties } from './api.js';
import { applyStatic, getLang, setLang } from './i18n.js';
import { StationMap } from './map.js';
import { RiderView } from './rider.js';

const $ = (id) => document.getElementById(id);

applyStatic();

$('lang-toggle').addEventListener('click', () => setLang(getLang() === 'zh' ? 'en' : 'zh'));

let rider;
const map = new StationMap($('map'), {
  onPick: (latlng) => rider.pick(latlng),
  onSelect: (id, from) => rider.select(id, from),
  onLocate: () => rider.locate(),
});

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
}, map);
rider.start();

// The basemap is a nicety: without it the list and markers still work.
counties()
  .then(({ data }) => map.setBasemap(data))
  .catch((e) => {
    console.warn('basemap unavailable:', e);
    const note = $('map-note');
    note.dataset.i18n = 'error.basemap';
    note.hidden = false;
    applyStatic();
  });

if ('serviceWorker' in navigator && window.isSecureContext) {
  window.addEventListener('load', () => {
    navigator.serviceWorker.register('sw.js').catch((e) => console.warn('service worker not registered:', e));
  });
}
