// Every UI string lives here, Simplified Chinese first, English second.
// Strings are plain text: callers put them into the page with textContent, never innerHTML.

const STORAGE_KEY = 'yizhan.lang';
export const LANGS = ['zh', 'en'];

const STRINGS = {
  zh: {
    'app.title': '找驿站',
    'app.subtitle': '户外劳动者服务站',
    'app.doc_title': '找驿站 · 户外劳动者服务站',
    'lang.toggle': 'EN',
    'lang.toggle_name': 'English',
    'lang.toggle_title': '切换到英文',
    'lang.toggle_lang': 'en',
    'demo.banner': '示例数据：当前驿站均为演示数据，并非真实驿站',
    'demo.tag': '示例',
    'offline.banner': '当前离线，显示的可能是之前保存的内容',
    'filters.label': '筛选条件',
    'filters.amenities': '需要的设施',
    'filters.open_now': '只看营业中',
    'filters.mode': '出行方式',
    'mode.walk': '步行',
    'mode.ebike': '电动车',
    'locate.button': '重新定位',
    'locate.button_label': '使用我的当前位置',
    'status.locating': '正在获取您的位置…',
    'status.loading': '正在查找附近的驿站…',
    'status.gps': '已按您的定位查找（精度约 {m} 米）',
    'status.ip': '按网络位置估算，误差约 {km} 公里。点按地图可设定准确位置。',
    'status.picked': '已按您在地图上选的位置查找',
    'status.pick_hint': '无法获取您的位置。请在地图上点一下您所在的地方。',
    'status.tap_hint': '提示：长按地图可把它设为您的位置',
    'status.from_cache': '网络不可用，显示的是之前保存的结果',
    'map.label': '地图：驿站和您的位置',
    'map.origin': '您的位置',
    'map.set_origin': '设为我的位置',
    'map.circle': '虚线圈：步行 15 分钟范围（1 公里）',
    'map.attribution': '边界数据来源：高德',
    'list.label': '附近的驿站',
    'list.count': '找到 {n} 个驿站',
    'list.empty': '附近没有符合条件的驿站。可以减少筛选条件，或关闭“只看营业中”。',
    'list.show_on_map': '在地图上查看 {name}',
    'dist.m': '{n} 米',
    'dist.km': '{n} 公里',
    'minutes.walk': '步行约 {n} 分钟',
    'minutes.ebike': '电动车约 {n} 分钟',
    'open.yes': '营业中',
    'open.no': '休息中',
    'open.closed_temp': '暂停开放',
    'closure.until': '暂停开放至 {until}',
    'closure.reason': '原因：{reason}',
    'closure.sep': '；',
    'hours.label': '开放时间：{hours}',
    'hours.always': '全天 24 小时',
    'verified.at': '核实于 {date}',
    'phone.call': '拨打电话 {phone}',
    'nav.label': '导航到这里',
    'nav.amap': '高德',
    'nav.baidu': '百度',
    'nav.tencent': '腾讯',
    'nav.open_in': '用{app}地图导航到 {name}',
    'error.network': '网络连接失败，请检查信号后重试。',
    'error.timeout': '请求超时，信号可能较弱，请重试。',
    'error.server': '服务器出错：{message}',
    'error.basemap': '地图底图加载失败，仍可查看驿站列表。',
    'error.retry': '重试',
    'day.Mo': '周一', 'day.Tu': '周二', 'day.We': '周三', 'day.Th': '周四',
    'day.Fr': '周五', 'day.Sa': '周六', 'day.Su': '周日', 'day.PH': '节假日',
    'day.range_sep': '至',
    'amenity.water': '饮用水',
    'amenity.hot_water': '热水',
    'amenity.microwave': '微波炉',
    'amenity.fridge': '冰箱',
    'amenity.phone_charging': '手机充电',
    'amenity.ebike_charging': '电动车充电',
    'amenity.battery_swap': '换电',
    'amenity.toilet': '厕所',
    'amenity.rest_area': '休息区',
    'amenity.air_conditioning': '空调',
    'amenity.heating': '取暖',
    'amenity.first_aid': '急救药箱',
    'amenity.reading': '图书角',
    'amenity.nursing_room': '爱心妈咪小屋',
    'amenity.wifi': '无线网络',
    'amenity.umbrella': '爱心雨伞',
    'amenity.repair_tools': '维修工具',
  },
  en: {
    'app.title': 'Find a station',
    'app.subtitle': 'Outdoor workers’ service stations',
    'app.doc_title': 'Find a station · Outdoor workers’ service stations',
    'lang.toggle': '中',
    'lang.toggle_name': '中文',
    'lang.toggle_title': 'Switch to Chinese',
    'lang.toggle_lang': 'zh-CN',
    'demo.banner': 'Demo data: these are not real stations',
    'demo.tag': 'Demo',
    'offline.banner': 'You are offline; what you see may be saved from earlier',
    'filters.label': 'Filters',
    'filters.amenities': 'Amenities you need',
    'filters.open_now': 'Open now',
    'filters.mode': 'Travel mode',
    'mode.walk': 'Walk',
    'mode.ebike': 'E-bike',
    'locate.button': 'Locate me',
    'locate.button_label': 'Use my current position',
    'status.locating': 'Finding your position…',
    'status.loading': 'Looking for stations nearby…',
    'status.gps': 'Searching from your position (±{m} m)',
    'status.ip': 'Approximate position from your network (±{km} km). Tap the map to set it exactly.',
    'status.picked': 'Searching from the point you chose on the map',
    'status.pick_hint': 'Your position is unknown. Tap the map where you are.',
    'status.tap_hint': 'Tip: long-press the map to make that point your position',
    'status.from_cache': 'No network: showing results saved earlier',
    'map.label': 'Map of stations and your position',
    'map.origin': 'Your position',
    'map.set_origin': 'Set as my position',
    'map.circle': 'Dashed circle: 15-minute walk (1 km)',
    'map.attribution': '边界数据来源：高德', // the licence's wording, kept in Chinese
    'list.label': 'Stations nearby',
    'list.count': '{n} stations found',
    'list.empty': 'No station nearby matches. Remove some filters or turn off “Open now”.',
    'list.show_on_map': 'Show {name} on the map',
    'dist.m': '{n} m',
    'dist.km': '{n} km',
    'minutes.walk': 'about {n} min on foot',
    'minutes.ebike': 'about {n} min by e-bike',
    'open.yes': 'Open',
    'open.no': 'Closed',
    'open.closed_temp': 'Temporarily closed',
    'closure.until': 'Closed until {until}',
    'closure.reason': 'Reason: {reason}',
    'closure.sep': '; ',
    'hours.label': 'Hours: {hours}',
    'hours.always': 'Open 24/7',
    'verified.at': 'Checked {date}',
    'phone.call': 'Call {phone}',
    'nav.label': 'Navigate here',
    'nav.amap': 'AMap',
    'nav.baidu': 'Baidu',
    'nav.tencent': 'Tencent',
    'nav.open_in': 'Navigate to {name} with {app}',
    'error.network': 'Network unavailable. Check your signal and try again.',
    'error.timeout': 'The request timed out (weak signal?). Please try again.',
    'error.server': 'Server error: {message}',
    'error.basemap': 'The base map could not be loaded; the list still works.',
    'error.retry': 'Retry',
    'day.Mo': 'Mon', 'day.Tu': 'Tue', 'day.We': 'Wed', 'day.Th': 'Thu',
    'day.Fr': 'Fri', 'day.Sa': 'Sat', 'day.Su': 'Sun', 'day.PH': 'public holidays',
    'day.range_sep': '–',
    'amenity.water': 'Drinking water',
    'amenity.hot_water': 'Hot water',
    'amenity.microwave': 'Microwave',
    'amenity.fridge': 'Fridge',
    'amenity.phone_charging': 'Phone charging',
    'amenity.ebike_charging': 'E-bike charging',
    'amenity.battery_swap': 'Battery swap',
    'amenity.toilet': 'Toilet',
    'amenity.rest_area': 'Rest area',
    'amenity.air_conditioning': 'Air conditioning',
    'amenity.heating': 'Heating',
    'amenity.first_aid': 'First-aid kit',
    'amenity.reading': 'Reading corner',
    'amenity.nursing_room': 'Nursing room',
    'amenity.wifi': 'Wi-Fi',
    'amenity.umbrella': 'Umbrella loan',
    'amenity.repair_tools': 'Repair tools',
  },
};

/** Amenity keys in display order, with an emoji each (decorative: the label is always shown or spoken). */
export const AMENITIES = [
  ['water', '🚰'], ['hot_water', '♨️'], ['microwave', '🍱'], ['fridge', '🧊'],
  ['phone_charging', '📱'], ['ebike_charging', '🛵'], ['battery_swap', '🔋'], ['toilet', '🚻'],
  ['rest_area', '🪑'], ['air_conditioning', '❄️'], ['heating', '🔥'], ['first_aid', '⛑️'],
  ['reading', '📚'], ['nursing_room', '🤱'], ['wifi', '📶'], ['umbrella', '☂️'], ['repair_tools', '🔧'],
];
export const AMENITY_ICON = Object.fromEntries(AMENITIES);

let lang = initialLang();
const listeners = new Set();

function initialLang() {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (LANGS.includes(saved)) return saved;
  } catch { /* storage may be disabled; fall through */ }
  return 'zh';
}

export function getLang() {
  return lang;
}

/** Switches language, remembers it, and tells every subscriber to redraw. */
export function setLang(next) {
  if (!LANGS.includes(next) || next === lang) return;
  lang = next;
  try { localStorage.setItem(STORAGE_KEY, next); } catch { /* not fatal */ }
  applyStatic();
  for (const fn of listeners) fn(lang);
}

export function onLangChange(fn) {
  listeners.add(fn);
}

/** Looks up `key` and fills `{name}` placeholders; an unknown key shows itself so it is noticed. */
export function t(key, params = {}) {
  const s = STRINGS[lang][key] ?? STRINGS.zh[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
}

export function amenityLabel(key) {
  const k = `amenity.${key}`;
  return k in STRINGS[lang] ? t(k) : key;
}

/**
 * Fills the static page: `data-i18n="key"` sets textContent,
 * `data-i18n-attr="aria-label:key;title:key"` sets attributes.
 */
export function applyStatic(root = document) {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  document.title = t('app.doc_title');
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of el.dataset.i18nAttr.split(';')) {
      const [attr, key] = pair.split(':');
      if (attr && key) el.setAttribute(attr.trim(), t(key.trim()));
    }
  }
}

/** Turns OSM opening_hours like "Mo-Fr 08:00-20:00; Sa 09:00-12:00" into words; unknown syntax is shown as is. */
export function formatHours(oh) {
  if (!oh) return '';
  const s = oh.trim();
  if (s === '24/7') return t('hours.always');
  const day = (d) => (STRINGS[lang][`day.${d}`] ? t(`day.${d}`) : d);
  return s.replace(/\b(Mo|Tu|We|Th|Fr|Sa|Su|PH)(?:-(Mo|Tu|We|Th|Fr|Sa|Su))?\b/g,
    (m, a, b) => (b ? `${day(a)}${t('day.range_sep')}${day(b)}` : day(a)));
}

/** Formats an RFC 3339 time in the stations' time zone (China Standard Time). */
export function formatDateTime(iso, withTime = true) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const opts = { timeZone: 'Asia/Shanghai', year: 'numeric', month: 'numeric', day: 'numeric' };
  if (withTime) Object.assign(opts, { hour: '2-digit', minute: '2-digit', hour12: false });
  return new Intl.DateTimeFormat(lang === 'zh' ? 'zh-CN' : 'en-GB', opts).format(d);
}
