// Every UI string lives here in Simplified Chinese; the English ones are in i18n-en.js, loaded
// when English is chosen. Strings are plain text: callers put them into the page with
// textContent, never innerHTML.

const STORAGE_KEY = 'yizhan.lang';
export const LANGS = ['zh', 'en'];

const STRINGS = {
  zh: {
    'app.title': '找驿站',
    'app.subtitle': '户外劳动者服务站',
    'app.doc_title': '找驿站 · 户外劳动者服务站',
    'lang.toggle': 'EN',
    'lang.toggle_name': 'EN English', // starts with the visible text (WCAG 2.5.3 label in name)
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
    'status.ip': '按网络位置估算，误差约 {km} 公里。在地图上点按您所在的地方，再点「设为我的位置」可更准确。',
    'status.picked': '已按您在地图上选的位置查找',
    'status.pick_hint': '{reason}请在地图上点按您所在的地方，再点「设为我的位置」。',
    'status.kept_origin': '{reason}仍按之前的位置查找。',
    'status.saved_origin': '没有网络也没有定位：按上次查找的位置显示。',
    'status.tap_hint': '提示：在地图上点按一个地方，再点「设为我的位置」，就从那里查找',
    'status.from_cache': '网络不可用，显示的是之前保存的结果',
    'locate.use_mine': '用我的位置',
    'locate.button_problem': '重新定位（上次未成功：{reason}）',
    'locate.not_asked': '还不知道您的位置。',
    'locate.denied': '位置权限已关闭，无法定位。',
    'locate.denied_help': '开启方法：点地址栏左侧的锁形或ⓘ图标 →「权限」或「网站设置」→「位置信息」→ 选「允许」，再点「用我的位置」。在微信等应用里打开时，还要在手机「设置」里允许该应用使用位置。',
    'locate.unavailable': '暂时获取不到位置（设备没有定位信号，或定位服务已关闭）。',
    'locate.timeout': '获取位置超时。',
    'locate.insecure': '此网页不是通过 https 打开的，浏览器不允许定位。',
    'locate.unsupported': '此浏览器不支持定位。',
    'offline.saved_list': '离线：以下是 {time} 保存的驿站，距离已按当前位置重新计算，营业状态等可能已过时',
    'offline.far': '您离上次保存驿站的地方约 {km} 公里，离线时无法列出这里附近的驿站。请联网后重试。',
    'offline.filters': '离线时无法按这些条件查找：保存的结果只包含上次筛选过的驿站。',
    'map.label': '地图：驿站和您的位置',
    'map.origin': '您的位置',
    'map.set_origin': '设为我的位置',
    'map.pick_here': '从这里查找附近的驿站？',
    'map.pick_zoom_first': '地图缩得太小，一下点不准。请先放大到这里，再点按您所在的地方。',
    'map.zoom_here': '放大到这里',
    'map.circle': '虚线圈：步行 15 分钟范围（1 公里）',
    'map.attribution': '边界数据来源：高德',
    'tiles.cluster': '此处有 {n} 个驿站，点按放大',
    'tiles.open': '营业中（地图数据约每分钟更新）',
    'tiles.closed': '暂未营业（地图数据约每分钟更新）',
    'list.label': '附近的驿站',
    'list.count': '找到 {n} 个驿站',
    'list.empty': '附近没有符合条件的驿站。可以减少筛选条件，或关闭“只看营业中”。',
    'list.show_on_map': '在地图上查看 {name}',
    'dist.m': '{n} 米',
    'dist.km': '{n} 公里',
    'minutes.walk': '步行约 {n} 分钟',
    'minutes.ebike': '电动车约 {n} 分钟',
    'minutes.walk_network': '步行 {n} 分钟（路网）',
    'minutes.ebike_network': '电动车 {n} 分钟（路网）',
    'minutes.walk_line': '步行约 {n} 分钟（直线估算）',
    'minutes.ebike_line': '电动车约 {n} 分钟（直线估算）',
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
    'view.nav': '切换页面',
    'view.rider': '找驿站',
    'view.manager': '站长',
    'report.open': '报告问题',
    'report.open_label': '报告 {name} 的问题',
    'report.title': '报告问题',
    'report.kind': '问题类型',
    'report.kind.closed': '驿站关门了 / 进不去',
    'report.kind.amenity_broken': '某项设施坏了或没有',
    'report.kind.wrong_location': '位置不对',
    'report.kind.other': '其他问题',
    'report.amenity': '哪项设施',
    'report.note': '补充说明（选填）',
    'report.note_count': '{n}/{max} 字',
    'report.send': '提交',
    'report.cancel': '取消',
    'report.sending': '正在提交…',
    'report.sent': '已提交，谢谢！站长会尽快核实处理。',
    'report.too_long': '补充说明最多 {max} 字。',
    'report.rate_limited': '提交太频繁，请稍后再试。',
    'report.rate_limited_s': '提交太频繁，请 {n} 秒后再试。',
    'report.failed': '提交失败：{message}',
    'manager.title': '站长',
    'manager.loading': '正在加载…',
    'login.title': '站长登录',
    'login.intro': '驿站站长和工会管理员请用分配给您的账号登录。',
    'login.login': '账号',
    'login.password': '密码',
    'login.submit': '登录',
    'login.busy': '正在登录…',
    'login.bad_credentials': '账号或密码不正确。',
    'login.rate_limited': '尝试次数过多，请 {n} 秒后再试。',
    'login.rate_limited_unknown': '尝试次数过多，请稍后再试。',
    'login.server_busy': '登录的人太多，请 {n} 秒后再试。',
    'login.missing': '请输入账号和密码。',
    'login.expired': '登录已过期，请重新登录。',
    'login.logged_out': '您已退出登录。',
    'account.who': '已登录：{login}（{role}）',
    'account.role.admin': '管理员',
    'account.role.manager': '站长',
    'account.logout': '退出登录',
    'stations.title': '我的驿站',
    'stations.none': '还没有分配给您的驿站，请联系工会管理员。',
    'stations.none_admin': '管理员可以在上方按编号或 ID 查找任意驿站。',
    'stations.none_planner': '规划人员账号不管理驿站；覆盖分析、建议选址和需求数据在“规划”页。',
    'stations.load_failed': '驿站 {id} 加载失败：{message}',
    'stations.reports': '{n} 条待处理报告',
    'search.label': '按驿站编号或 ID 查找',
    'search.placeholder': '如 JX-360102-0001 或 42',
    'search.submit': '查找',
    'search.busy': '正在查找…',
    'search.none': '没有找到“{q}”。',
    'search.results': '找到 {n} 个驿站',
    'edit.title': '编辑驿站信息',
    'edit.code': '编号 {code}',
    'edit.name': '名称',
    'edit.address': '地址',
    'edit.amenities': '设施',
    'edit.hours': '开放时间',
    'edit.hours_help': 'OSM 格式，例如：Mo-Fr 08:00-18:00（周一至周五）；Mo-Su 07:00-21:00（每天）；24/7（全天）；Mo-Fr 08:00-12:00,14:00-18:00（午休）',
    'edit.phone': '电话',
    'edit.notes': '备注',
    'edit.save': '保存修改',
    'edit.saving': '正在保存…',
    'edit.saved': '已保存。',
    'edit.nothing': '没有需要保存的修改。',
    'edit.close': '关闭',
    'edit.stale': '此驿站已被他人修改，已重新加载。请检查后重新修改。',
    'edit.stale_kept': '此驿站已被他人修改，已重新加载。您填写的内容仍在表单里，尚未保存；请看下面的改动，确认后再点保存。',
    'edit.stale_clash': '此驿站已被他人修改，已重新加载。有的项您和对方都改了：表单里保留的是您填写的，尚未保存；请逐项确认后再点保存。',
    'edit.conflict_title': '对方改动了这些项：',
    'edit.conflict_theirs': '对方（现在保存的）：{value}',
    'edit.conflict_yours': '您填写的：{value}',
    'edit.conflict_take': '改用对方的',
    'edit.conflict_applied': '您没有改这一项，已换成对方的',
    'edit.conflict_taken': '已改用对方的',
    'edit.conflict_empty': '（空）',
    'edit.invalid': '未能保存：{message}',
    'edit.invalid_hours': '开放时间的格式不对。',
    'edit.invalid_closure': '暂停开放的设置不对（结束时间须晚于现在，原因最多 200 字）。',
    'edit.forbidden': '您无权修改这个驿站。',
    'edit.gone': '这个驿站已不存在（可能已被撤销）。',
    'edit.failed': '未能保存：{message}',
    'closure.title': '暂停开放',
    'closure.none': '目前正常开放。',
    'closure.current': '当前：暂停开放至 {until}',
    'closure.until_label': '暂停到',
    'closure.reason_label': '原因（骑手可见）',
    'closure.need_until': '请填写暂停开放到什么时候。',
    'closure.help': '填写后点“保存修改”；到时间会自动恢复开放。',
    'closure.end': '结束暂停，恢复开放',
    'closure.ended': '已恢复开放。',
    'verify.never': '还没有确认过信息。',
    'verify.last': '上次确认信息无误：{date}',
    'verify.button': '确认信息无误',
    'verify.done': '已确认信息无误。',
    'history.title': '修改记录',
    'history.empty': '还没有修改记录。',
    'history.failed': '修改记录加载失败：{message}',
    'history.entry': '{login} · {action}',
    'history.fields': '改动：{fields}',
    'history.system': '系统',
    'action.create': '新建',
    'action.update': '修改',
    'action.verify': '确认信息无误',
    'action.retire': '撤销',
    'field.name': '名称',
    'field.address': '地址',
    'field.amenities': '设施',
    'field.opening_hours': '开放时间',
    'field.temporary_closure': '暂停开放',
    'field.phone': '电话',
    'field.notes': '备注',
    'field.photo_url': '照片',
    'field.location': '位置',
    'field.county': '区县',
    'field.verified_at': '确认时间',
    'field.code': '编号',
    'field.sep': '、',
    'inbox.title': '待处理的问题报告',
    'inbox.empty': '没有待处理的报告。',
    'inbox.failed': '报告加载失败：{message}',
    'inbox.unavailable': '问题报告功能暂不可用。',
    'inbox.amenity': '设施：{amenity}',
    'inbox.filed': '提交于 {date}',
    'inbox.resolution': '处理结果',
    'inbox.resolution_placeholder': '例如：已修好热水器',
    'inbox.resolve': '标记为已处理',
    'inbox.need_resolution': '请写下处理结果。',
    'inbox.resolved': '已处理：{name}',
    'inbox.already': '这条报告已由他人处理：{name}',
    'inbox.open_station': '打开 {name}',
    'inbox.station': '{name}（{code}）',
    'inbox.reload': '刷新',
    'view.planner': '规划',
    'account.role.planner': '规划人员',
    'planner.title': '驿站覆盖规划',
    'planner.map_label': '地图：驿站覆盖情况',
    'planner.controls': '分析条件',
    'planner.region': '地区',
    'planner.province': '省',
    'planner.city': '市',
    'planner.county': '区县',
    'planner.all_cities': '全省',
    'planner.all_counties': '全市',
    'planner.minutes': '分钟',
    'planner.minutes_label': '可达时间（分钟）',
    'planner.minutes_invalid': '请填写 1 到 60 之间的整数分钟。',
    'planner.open_24h': '只算 24 小时驿站',
    'planner.loading_regions': '正在加载地区列表…',
    'planner.loading': '正在计算覆盖情况…',
    'planner.loading_whatif': '正在按假设站点重新计算…',
    'planner.summary': '覆盖概况',
    'planner.share': '覆盖率',
    'planner.uncovered': '未覆盖面积',
    'planner.stations': '驿站',
    'planner.density': '每 10 平方公里驿站',
    'planner.region_of': '{region} · {mode} {minutes} 分钟',
    'planner.mode.walk': '步行',
    'planner.mode.ebike': '电动车',
    'planner.region_24h': '（只算 24 小时驿站）',
    'planner.reach': '按直线距离 × 绕行系数估算：{minutes} 分钟 ≈ 直线 {m}',
    'planner.reach_network': '按路网实测（OpenStreetMap 道路）；离道路超过 300 米的格子记为“无道路可达”，不计入覆盖率',
    'planner.travel': '测算方式',
    'planner.travel.straight_line': '直线',
    'planner.travel.network': '路网',
    'planner.no_access': '无道路可达面积',
    'planner.meta': '计算用时 {ms} 毫秒 · 数据版本 {v}',
    'planner.meta_cached': '缓存结果（计算用时 {ms} 毫秒）· 数据版本 {v}',
    'planner.demo': '示例数据：这些数字是按演示驿站计算的，不代表真实的覆盖情况。',
    'planner.compare': '假设新增 {n} 个站点：覆盖率 {before} → {after}（{delta}），覆盖面积 {km}',
    'planner.pp': '{sign}{n} 个百分点',
    'planner.count_stations': '{n} 个',
    'unit.km2': '{n} 平方公里',
    'unit.ms': '{n} 毫秒',
    'table.caption': '各区县覆盖情况（覆盖率最低的在前）',
    'table.name': '区县',
    'table.share': '覆盖率',
    'table.uncovered': '未覆盖 km²',
    'table.stations': '驿站',
    'table.density': '驿站/10 km²',
    'table.demand': '需求',
    'table.covered_demand': '已覆盖需求',
    'table.demand_share': '需求覆盖率',
    'table.zoom': '在地图上查看{name}',
    'table.empty': '这个地区没有区县数据。',
    'legend.title': '覆盖率',
    'legend.gap': '未覆盖区域',
    'legend.suggestion': '建议新站点',
    'legend.hypothetical': '假设站点',
    'legend.label': '图例',
    'suggest.title': '建议新站点',
    'suggest.intro': '逐个挑选能新增最多覆盖的位置（每个建议都算上前面的建议）。',
    'suggest.k': '数量',
    'suggest.weight': '优先考虑',
    'suggest.weight.area': '覆盖面积',
    'suggest.weight.demand': '需求（人口/订单）',
    'suggest.submit': '给出建议',
    'suggest.busy': '正在计算建议…',
    'suggest.none': '没有能增加覆盖的位置。',
    'suggest.item': '第 {n} 个建议',
    'suggest.adds': '新增覆盖 {km}',
    'suggest.adds_demand': '新增覆盖需求 {n}',
    'suggest.total': '累计覆盖率 {p}',
    'suggest.county': '位于{name}',
    'suggest.marker': '建议站点 {n}：{county}，新增覆盖 {km}',
    'suggest.try': '加入假设站点',
    'suggest.meta': '共 {n} 个建议 · 计算用时 {ms} 毫秒',
    'suggest.need_login': '按需求排序需要规划人员登录。',
    'whatif.title': '假设新增站点',
    'whatif.toggle': '假设模式：点地图添加站点',
    'whatif.hint': '点地图放置假设站点，点假设站点将其移除。只是模拟，不会保存。',
    'whatif.count': '已放置 {n} 个假设站点',
    'whatif.none': '还没有放置假设站点。',
    'whatif.clear': '清除全部',
    'whatif.center': '在地图中心添加',
    'whatif.marker': '假设站点 {n}（点按移除）',
    'whatif.max': '最多只能放置 {n} 个假设站点。',
    'planner.login_title': '规划人员登录（查看需求数据）',
    'planner.login_intro': '登录后，有需求数据时表格会多出需求列，建议也可以按需求排序。',
    'error.generic': '出错了：{message}',
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
};

/** Amenity keys in display order, with an emoji each (decorative: the label is always shown or spoken). */
export const AMENITIES = [
  ['water', '🚰'], ['hot_water', '♨️'], ['microwave', '🍱'], ['fridge', '🧊'],
  ['phone_charging', '📱'], ['ebike_charging', '🛵'], ['battery_swap', '🔋'], ['toilet', '🚻'],
  ['rest_area', '🪑'], ['air_conditioning', '❄️'], ['heating', '🔥'], ['first_aid', '⛑️'],
  ['reading', '📚'], ['nursing_room', '🤱'], ['wifi', '📶'], ['umbrella', '☂️'], ['repair_tools', '🔧'],
];
export const AMENITY_ICON = Object.fromEntries(AMENITIES);

/** Loads a language's strings when first needed; false when they cannot be had (offline). */
async function loadStrings(l) {
  if (STRINGS[l]) return true;
  try {
    STRINGS[l] = (await import('./i18n-en.js')).default;
    return true;
  } catch (e) {
    console.warn(`strings for ${l} unavailable:`, e);
    return false;
  }
}

let lang = initialLang();
if (lang !== 'zh' && !(await loadStrings(lang))) lang = 'zh';
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
export async function setLang(next) {
  if (!LANGS.includes(next) || next === lang) return;
  if (!(await loadStrings(next))) return;
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
