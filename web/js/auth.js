// The manager's session. The session itself is the HttpOnly `yizhan_session` cookie the browser
// keeps and sends (scripts never see the token); this module only knows whose session it is.
import { ApiError, request } from './api.js';

let account = null; // {id, login, role: 'admin'|'manager', stations: [ids]} or null
const listeners = new Set();

function set(next, reason) {
  account = next;
  for (const fn of listeners) fn(account, reason);
}

/** The logged-in account, or null. */
export function currentAccount() {
  return account;
}

/** `fn(account, reason)` runs whenever the session starts or ends; reason is 'login', 'logout' or 'expired'. */
export function onAuthChange(fn) {
  listeners.add(fn);
}

/** Logs in; rejects with an ApiError (401 bad credentials, 429 with retryAfter). */
export async function login(name, password) {
  const { data } = await request('POST', 'auth/login', { body: { login: name, password } });
  set(data.account, 'login');
  return data.account;
}

/** Ends the session on the server (best effort) and here. */
export async function logout() {
  try {
    await request('POST', 'auth/logout');
  } finally {
    set(null, 'logout');
  }
}

/** Asks the server whose session the cookie is; null when there is none. */
export async function whoAmI() {
  try {
    const { data } = await request('GET', 'auth/me', { cache: 'no-store' });
    account = data;
    return data;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      account = null;
      return null;
    }
    throw e;
  }
}

/** A request answered 401: the session ended (expired, or logged out elsewhere). */
export function sessionExpired() {
  if (account) set(null, 'expired');
}
