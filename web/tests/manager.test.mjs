// Browser tests of rider problem reports and the manager view (站长) against a running server.
//
//   YIZHAN_URL=http://127.0.0.1:8080 YIZHAN_MANAGER_LOGIN=… YIZHAN_MANAGER_PASSWORD=… \
//   YIZHAN_MANAGER_STATION=<id> node --test web/tests/manager.test.mjs
//
// The manager manages exactly the station YIZHAN_MANAGER_STATION, the demo station nearest to
// Nanchang's centre (tests/web_e2e.rs sets all this up). YIZHAN_ADMIN_LOGIN/_PASSWORD add the
// admin's tests. Tests needing an account are skipped when its variables are absent. The tests
// run in order: the manager resolves the report the rider filed.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  BASE, NANCHANG, SKIP, api, isNearest, launchBrowser, listSettled, openApp, screenshot,
} from './support.mjs';

const env = process.env;
const MANAGER = { login: env.YIZHAN_MANAGER_LOGIN, password: env.YIZHAN_MANAGER_PASSWORD, station: Number(env.YIZHAN_MANAGER_STATION) };
const ADMIN = { login: env.YIZHAN_ADMIN_LOGIN, password: env.YIZHAN_ADMIN_PASSWORD };
const SKIP_MANAGER = SKIP || (MANAGER.login && MANAGER.password && MANAGER.station > 0
  ? false : 'YIZHAN_MANAGER_LOGIN, YIZHAN_MANAGER_PASSWORD and YIZHAN_MANAGER_STATION are not set');
const SKIP_ADMIN = SKIP_MANAGER || (ADMIN.login && ADMIN.password ? false : 'YIZHAN_ADMIN_LOGIN and YIZHAN_ADMIN_PASSWORD are not set');
/** What the rider writes; unique per run so the manager finds exactly this report. */
const NOTE = `热水器不出热水了（e2e ${Date.now().toString(36)}）`;

let browser;

const it = (name, skip, fn) => test(name, { skip, timeout: 90000 }, fn);

/** "2026-12-01T18:00" in China Standard Time, `days` from now (for the datetime-local input). */
function chinaLocal(days) {
  const d = new Date(Date.now() + days * 86400000);
  const p = Object.fromEntries(new Intl.DateTimeFormat('en-CA', {
    timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(d).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
}

async function apiLogin(who) {
  const res = await api('POST', 'auth/login', { body: { login: who.login, password: who.password } });
  assert.equal(res.status, 200, `API login of ${who.login}: ${JSON.stringify(res.data)}`);
  return res.data.token;
}

async function station(id) {
  const res = await api('GET', `stations/${id}`);
  assert.equal(res.status, 200, `GET station ${id}`);
  return { props: res.data.properties, etag: res.headers.get('etag') };
}

/** Opens the manager view and logs in through the form; resolves when the account bar shows. */
async function signIn(page, who) {
  await page.goto(`${BASE}/#manager`);
  await page.locator('#login-name').fill(who.login);
  await page.locator('#login-password').fill(who.password);
  const res = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/auth/login');
  await page.locator('#login-submit').click();
  assert.equal((await res).status(), 200);
  await page.locator('#account-who').filter({ hasText: who.login.toLowerCase() }).waitFor();
}

/** Signs the manager in and waits for their one station's form. */
async function openEditor(page) {
  await signIn(page, MANAGER);
  const { props } = await station(MANAGER.station);
  await page.locator('#station-editor #ed-name').waitFor();
  assert.equal(await page.locator('#ed-name').inputValue(), props.name);
  return props;
}

const isPatchOf = (id) => (r) => r.request().method() === 'PATCH' && new URL(r.url()).pathname === `/api/v1/stations/${id}`;

describe('problem reports and the manager view (站长)', () => {
  before(async () => {
    if (SKIP) return;
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  it('a rider files a problem report from a station card', SKIP_MANAGER, async () => {
    const { context, page, seen } = await openApp(browser, { geolocation: NANCHANG });
    try {
      await page.goto(`${BASE}/`);
      await listSettled(page);
      // Whatever the hour, list closed stations too: the managed one is the nearest of all.
      const all = page.waitForResponse((r) => isNearest(r) && !r.url().includes('open_now=true'));
      await page.locator('label.switch').click();
      await all;
      await listSettled(page);
      const card = page.locator(`#results li.station[data-id="${MANAGER.station}"]`);
      await card.waitFor();

      await card.locator('.report-open').click();
      const form = card.locator('form.report-form');
      await form.waitFor();
      assert.equal(await card.getAttribute('aria-current'), null, 'opening the form does not select the card');
      const amenity = form.locator('select[name="amenity"]');
      assert.equal(await amenity.isVisible(), false, 'no amenity choice for “closed”');
      await form.locator('select[name="kind"]').selectOption('amenity_broken');
      assert.ok(await amenity.isVisible(), 'the amenity choice appears for a broken amenity');
      await amenity.selectOption('hot_water');
      assert.equal(await form.locator('textarea[name="note"]').getAttribute('maxlength'), '500');
      await form.locator('textarea[name="note"]').fill(NOTE);
      assert.match(await form.locator('.report-count').innerText(), new RegExp(`^${[...NOTE].length}/500 字$`));
      await screenshot(page, 'rider-report-form');

      const posted = page.waitForResponse((r) => r.request().method() === 'POST'
        && new URL(r.url()).pathname === `/api/v1/stations/${MANAGER.station}/reports`);
      await form.getByRole('button', { name: '提交' }).click();
      const res = await posted;
      assert.equal(res.status(), 201, `report answered ${res.status()}: ${await res.text()}`);
      const sent = res.request().postDataJSON();
      assert.equal(sent.kind, 'amenity_broken');
      assert.equal(sent.amenity, 'hot_water');
      assert.equal(sent.note, NOTE);
      assert.ok(Math.abs(sent.lat - NANCHANG.latitude) < 0.001 && Math.abs(sent.lon - NANCHANG.longitude) < 0.001,
        `approximate position sent: ${sent.lat},${sent.lon}`);
      assert.match(await card.locator('.report-sent').innerText(), /已提交，谢谢/);
      await screenshot(page, 'rider-report-sent');
      assert.deepEqual(seen.consoleErrors, [], 'no console errors');
      assert.deepEqual(seen.foreign, [], 'no request to another host');
    } finally {
      await context.close();
    }
  });

  it('a manager edits amenities, sets a closure, sees both in the history and resolves the report', SKIP_MANAGER, async () => {
    const { context, page, seen } = await openApp(browser);
    try {
      await page.goto(`${BASE}/#manager`);
      await page.locator('#login-name').waitFor();
      assert.equal(await page.locator('#nav-manager').getAttribute('aria-current'), 'page');
      await screenshot(page, 'manager-login');
      // A wrong password says so, without telling whether the login exists.
      await page.locator('#login-name').fill(MANAGER.login);
      await page.locator('#login-password').fill('not the password');
      await page.locator('#login-submit').click();
      await page.locator('#login-error').filter({ hasText: '账号或密码不正确' }).waitFor();
      assert.equal(await page.locator('#login-password').getAttribute('aria-invalid'), 'true');

      const before = await openEditor(page);
      assert.equal(await page.locator('#my-stations .pick').count(), 1, 'the manager sees their one station');
      await screenshot(page, 'manager-editor');

      // Amenities: add hot water, drop the first one the station had.
      const had = before.amenities;
      const drop = had.find((k) => k !== 'hot_water');
      const want = new Set(had);
      want.add('hot_water');
      if (drop) want.delete(drop);
      await page.locator('#ed-amenity-hot_water').check();
      if (drop) await page.locator(`#ed-amenity-${drop}`).uncheck();
      const until = chinaLocal(7);
      await page.locator('#ed-until').fill(until);
      await page.locator('#ed-reason').fill('设备检修');

      const patched = page.waitForResponse(isPatchOf(MANAGER.station));
      await page.locator('#ed-save').click();
      const res = await patched;
      assert.equal(res.status(), 200, `PATCH answered ${res.status()}: ${await res.text()}`);
      assert.equal(await res.request().headerValue('if-match'), `"${before.version}"`, 'If-Match carries the version the form was loaded at');
      assert.equal(res.headers().etag, `"${before.version + 1}"`);
      const body = res.request().postDataJSON();
      assert.deepEqual(Object.keys(body).sort(), ['amenities', 'temporary_closure'], 'only what changed is sent');
      assert.deepEqual(new Set(body.amenities), want);
      assert.equal(Date.parse(body.temporary_closure.until), Date.parse(`${until}:00+08:00`));
      assert.equal(body.temporary_closure.reason, '设备检修');

      assert.match(await page.locator('#edit-message').innerText(), /已保存/);
      assert.match(await page.locator('#closure-now').innerText(), /暂停开放至.*原因：设备检修/);
      const after1 = await station(MANAGER.station);
      assert.deepEqual(new Set(after1.props.amenities), want);
      assert.equal(after1.props.temporary_closure?.reason, '设备检修');
      assert.equal(after1.props.version, before.version + 1);
      assert.equal(await page.locator('#my-stations .pick .badge').first().innerText(), '暂停开放');

      // The history says who changed which fields.
      const newest = page.locator('#history li.history-item').first();
      await newest.filter({ hasText: '修改' }).waitFor();
      const text = await newest.innerText();
      assert.ok(text.includes(MANAGER.login.toLowerCase()), `history names the manager: ${text}`);
      assert.match(text, /设施/);
      assert.match(text, /暂停开放/);
      await screenshot(page, 'manager-saved');

      // Confirming the data sets verified_at.
      const verified = page.waitForResponse((r) => new URL(r.url()).pathname === `/api/v1/stations/${MANAGER.station}/verify`);
      await page.locator('#ed-verify').click();
      assert.equal((await verified).status(), 200);
      await page.locator('#verified-at').filter({ hasText: '上次确认信息无误' }).waitFor();
      assert.ok((await station(MANAGER.station)).props.verified_at, 'verified_at is set');
      await page.locator('#history li.history-item').first().filter({ hasText: '确认信息无误' }).waitFor();

      // The rider's report is in the inbox; resolving it takes it out.
      const item = page.locator('#inbox li.inbox-item').filter({ hasText: NOTE });
      await item.waitFor();
      assert.match(await item.innerText(), /某项设施坏了或没有/);
      assert.match(await item.innerText(), /设施：热水/);
      await screenshot(page, 'manager-inbox');
      await item.getByRole('button', { name: '标记为已处理' }).click();
      assert.match(await item.locator('.form-error').innerText(), /请写下处理结果/);
      await item.locator('input').fill('已修好热水器');
      const resolved = page.waitForResponse((r) => r.request().method() === 'PATCH' && /\/reports\/[^/]+$/.test(new URL(r.url()).pathname));
      await item.getByRole('button', { name: '标记为已处理' }).click();
      const rr = await resolved;
      assert.equal(rr.status(), 200, `resolve answered ${rr.status()}: ${await rr.text()}`);
      assert.deepEqual(rr.request().postDataJSON(), { status: 'resolved', resolution: '已修好热水器' });
      await page.locator('#inbox li.inbox-item').filter({ hasText: NOTE }).waitFor({ state: 'detached' });
      assert.match(await page.locator('#inbox .card-status').innerText(), /已处理/);
      const token = await apiLogin(MANAGER);
      const open = await api('GET', 'reports?status=open', { token });
      assert.equal(open.status, 200);
      assert.ok(!open.data.items.some((r) => r.note === NOTE), 'the report is no longer open');

      // Ending the closure reopens the station.
      const ended = page.waitForResponse(isPatchOf(MANAGER.station));
      await page.locator('#ed-end-closure').click();
      assert.equal((await ended).status(), 200);
      await page.locator('#closure-now').filter({ hasText: '目前正常开放' }).waitFor();
      assert.equal((await station(MANAGER.station)).props.temporary_closure, null);

      await page.locator('#logout').click();
      await page.locator('#login-name').waitFor();
      assert.match(await page.locator('.notice').innerText(), /已退出登录/);
      assert.equal((await api('GET', 'auth/me')).status, 401);
      assert.deepEqual(seen.consoleErrors.filter((e) => !/401|Unauthorized/.test(e)), [], 'no console errors');
      assert.deepEqual(seen.foreign, [], 'no request to another host');
    } finally {
      await context.close();
    }
  });

  it('a stale edit (412) keeps what was typed, shows what the other session changed, and saves with the new ETag', SKIP_MANAGER, async () => {
    // Two sessions of the same station's managers (here: the same account on two phones).
    const a = await openApp(browser);
    const b = await openApp(browser);
    try {
      const loaded = await openEditor(a.page);
      await openEditor(b.page);
      const stamp = String(Date.now()).slice(-8);
      const phone = `0791-${stamp}`;
      const theirNotes = `B 的备注 ${stamp}`;
      const myNotes = `A 的备注，基于旧数据 ${stamp}`;
      const myAddress = `${loaded.address ?? ''}（A 补充：东门进）`;

      // Session B changes phone and notes first, and saves.
      await b.page.locator('#ed-phone').fill(phone);
      await b.page.locator('#ed-notes').fill(theirNotes);
      const saved = b.page.waitForResponse(isPatchOf(MANAGER.station));
      await b.page.locator('#ed-save').click();
      assert.equal((await saved).status(), 200);

      // Session A, still on the old version, typed notes and an address meanwhile.
      await a.page.locator('#ed-notes').fill(myNotes);
      await a.page.locator('#ed-address').fill(myAddress);
      const patched = a.page.waitForResponse(isPatchOf(MANAGER.station));
      await a.page.locator('#ed-save').click();
      const res = await patched;
      assert.equal(res.status(), 412);
      assert.equal(await res.request().headerValue('if-match'), `"${loaded.version}"`);
      const msg = a.page.locator('#edit-message');
      await msg.filter({ hasText: '此驿站已被他人修改，已重新加载' }).waitFor();
      assert.equal(await msg.getAttribute('role'), 'alert');
      assert.match(await msg.innerText(), /尚未保存/);

      // Nothing typed is lost; what only they changed is taken; both sides are shown.
      assert.equal(await a.page.locator('#ed-notes').inputValue(), myNotes, 'the typed notes stay');
      assert.equal(await a.page.locator('#ed-address').inputValue(), myAddress, 'the typed address stays');
      assert.equal(await a.page.locator('#ed-phone').inputValue(), phone, 'their phone, which A did not touch');
      const conflict = a.page.locator('#edit-conflict');
      await conflict.waitFor();
      const notesRow = conflict.locator('li[data-field="notes"]');
      assert.match(await notesRow.innerText(), new RegExp(`对方（现在保存的）：${theirNotes}`));
      assert.match(await notesRow.innerText(), new RegExp(`您填写的：${myNotes}`));
      const phoneRow = conflict.locator('li[data-field="phone"]');
      assert.match(await phoneRow.innerText(), new RegExp(phone));
      assert.match(await phoneRow.innerText(), /已换成对方的/);
      assert.equal(await conflict.locator('li[data-field="address"]').count(), 0, 'they did not change the address');
      await screenshot(a.page, 'manager-stale');
      const now = await station(MANAGER.station);
      assert.equal(now.props.notes, theirNotes, 'the stale edit was not saved');

      // Saved again, the edit goes on top of theirs with the new ETag.
      const again = a.page.waitForResponse(isPatchOf(MANAGER.station));
      await a.page.locator('#ed-save').click();
      const second = await again;
      assert.equal(second.status(), 200);
      assert.equal(await second.request().headerValue('if-match'), now.etag);
      const after = await station(MANAGER.station);
      assert.equal(after.props.notes, myNotes);
      assert.equal(after.props.address, myAddress);
      assert.equal(after.props.phone, phone, 'the other edit survives');
      assert.equal(await a.page.locator('#edit-conflict').count(), 0, 'the comparison is gone once saved');

      // Taking theirs for a clashing field: B changes the notes again; A edits them too.
      await b.page.reload();
      await b.page.locator('#station-editor #ed-notes').waitFor();
      await b.page.locator('#ed-notes').fill(`B 再改 ${stamp}`);
      const bAgain = b.page.waitForResponse(isPatchOf(MANAGER.station));
      await b.page.locator('#ed-save').click();
      assert.equal((await bAgain).status(), 200);
      await a.page.locator('#ed-notes').fill(`A 再改 ${stamp}`);
      const stale = a.page.waitForResponse(isPatchOf(MANAGER.station));
      await a.page.locator('#ed-save').click();
      assert.equal((await stale).status(), 412);
      await a.page.locator('#edit-conflict li[data-field="notes"] .conflict-take').click();
      assert.equal(await a.page.locator('#ed-notes').inputValue(), `B 再改 ${stamp}`);
    } finally {
      await a.context.close();
      await b.context.close();
    }
  });

  it('invalid opening hours are shown next to the field; an ended session goes back to the login', SKIP_MANAGER, async () => {
    const { context, page } = await openApp(browser);
    try {
      const loaded = await openEditor(page);
      await page.locator('#ed-hours').fill('周一到周五 8点到6点');
      const patched = page.waitForResponse(isPatchOf(MANAGER.station));
      await page.locator('#ed-save').click();
      assert.equal((await patched).status(), 400);
      await page.locator('#ed-hours-error').waitFor();
      assert.equal(await page.locator('#ed-hours').getAttribute('aria-invalid'), 'true');
      assert.match(await page.locator('#edit-message').innerText(), /开放时间的格式不对/);
      assert.equal(await page.locator('#ed-hours').inputValue(), '周一到周五 8点到6点', 'what was typed stays');
      assert.equal((await station(MANAGER.station)).props.opening_hours, loaded.opening_hours);
      await screenshot(page, 'manager-invalid-hours');

      await page.locator('#ed-hours').fill('Mo-Fr 08:00-18:00');
      await context.clearCookies(); // the session ends (expired, or logged out elsewhere)
      await page.locator('#ed-save').click();
      await page.locator('#login-name').waitFor();
      assert.match(await page.locator('.notice').innerText(), /登录已过期/);
    } finally {
      await context.close();
    }
  });

  it('an admin finds any station by code or id and opens its form', SKIP_ADMIN, async () => {
    const { context, page } = await openApp(browser);
    try {
      await signIn(page, ADMIN);
      assert.match(await page.locator('#account-who').innerText(), /管理员/);
      const { props } = await station(MANAGER.station);
      await page.locator('#station-search').fill(props.code.toLowerCase());
      await page.locator('#station-search').press('Enter');
      const hit = page.locator('.search .pick', { hasText: props.code });
      await hit.waitFor({ timeout: 30000 });
      await screenshot(page, 'admin-search');
      await hit.click();
      await page.locator('#ed-name').waitFor();
      assert.equal(await page.locator('#ed-name').inputValue(), props.name);
      assert.equal(await page.locator('#my-stations .pick').count(), 1);

      await page.locator('#station-search').fill(String(MANAGER.station));
      await page.locator('#station-search').press('Enter');
      await page.locator('.search .card-status').filter({ hasText: '找到 1 个驿站' }).waitFor();
      await page.locator('#station-search').fill('JX-NO-SUCH-CODE');
      await page.locator('#station-search').press('Enter');
      await page.locator('.search .card-status').filter({ hasText: '没有找到' }).waitFor();
    } finally {
      await context.close();
    }
  });
});
