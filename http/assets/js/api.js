// The pages' one way to the JSON API (`/api/v1`): adds the user's bearer
// token, a queue token or an Idempotency-Key when asked, refreshes the
// access token before it runs out (so a page never shows a 401 the user did
// not cause), and turns an error answer into an `ApiError` carrying the
// API's own code. Pages show those with `words.js`, never raw.

import { accessSecondsLeft, clearSession, getSession, saveSession } from './session.js';

const BASE = '/api/v1';
/** Refresh this long before the access token's expiry. */
const REFRESH_MARGIN_S = 60;

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

let refreshing = null;

/** A fresh session, refreshing once across concurrent callers; null if signed out. */
async function freshSession() {
  const session = getSession();
  if (!session || accessSecondsLeft(session) > REFRESH_MARGIN_S) return session;
  if (!refreshing) {
    refreshing = (async () => {
      try {
        const tokens = await send('/auth/refresh', {
          method: 'POST',
          body: { refreshToken: session.refreshToken },
          auth: false,
        });
        saveSession(tokens);
        return getSession();
      } catch {
        // A refresh token that expired or was revoked: signed out.
        clearSession();
        return null;
      } finally {
        refreshing = null;
      }
    })();
  }
  return refreshing;
}

async function send(path, { method = 'GET', body, queueToken, idempotencyKey, auth = true, signal, as = 'json' } = {}) {
  const headers = { Accept: as === 'blob' ? '*/*' : 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (auth) {
    const session = await freshSession();
    if (session) headers.Authorization = `Bearer ${session.accessToken}`;
  }
  if (queueToken) headers['Queue-Token'] = queueToken;
  if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
  const response = await fetch(BASE + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  if (response.status === 204) return null;
  if (as === 'blob' && response.ok) return response.blob();
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (!response.ok) {
    const error = (payload && payload.error) || {};
    if (response.status === 401 && auth) clearSession();
    throw new ApiError(response.status, error.code || `HTTP_${response.status}`, error.message, error.details);
  }
  return payload;
}

/**
 * Calls the API: `api('/concerts')`, `api('/reservations', {method: 'POST',
 * body, queueToken, idempotencyKey})`. Resolves to the parsed body (null
 * for 204; a Blob with `as: 'blob'`, for an image behind the bearer token);
 * rejects with an ApiError, or a TypeError when the server
 * cannot be reached.
 */
export function api(path, options = {}) {
  return send(path, options);
}

/** A new Idempotency-Key: one per user action, reused only to retry that action. */
export function newIdempotencyKey() {
  // randomUUID exists only in secure contexts (https, localhost); a box
  // office tried out over plain http on a LAN address still needs keys.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Builds `?a=1&b=2` from the defined, non-empty entries of an object. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** The API's largest pageSize. */
export const MAX_PAGE_SIZE = 100;

/**
 * Every item of a paged list (`path` without a query; `params` its
 * filters), fetched `MAX_PAGE_SIZE` at a time, at most `maxPages` pages.
 */
export async function allItems(path, params = {}, maxPages = 100) {
  const items = [];
  for (let page = 1; page <= maxPages; page += 1) {
    const answer = await api(`${path}${query({ ...params, page, pageSize: MAX_PAGE_SIZE })}`);
    items.push(...answer.items);
    if (items.length >= answer.total || answer.items.length === 0) break;
  }
  return items;
}
