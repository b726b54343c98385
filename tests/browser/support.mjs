// What the browser scenarios (through harness.mjs) and the measuring scripts
// (seat_map_perf.mjs) share, without node's test runner: the server's address
// (BOXOFFICE_BASE_URL, set by scripts/browser/run.sh), starting Debian's
// Chromium, the viewport presets, the demo accounts, and API calls for
// set-up (users, sessions, demo schedules) made from Node, not the page.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { chromium } from "playwright-core";

if (!process.env.BOXOFFICE_BASE_URL) {
  throw new Error("BOXOFFICE_BASE_URL is not set: run the scenarios through scripts/browser/run.sh");
}
/** The running server, without a trailing slash (e.g. http://127.0.0.1:41234). */
export const BASE_URL = process.env.BOXOFFICE_BASE_URL.replace(/\/+$/, "");
/** The server's origin: answers >= 400 from it are a page's problems. */
export const ORIGIN = new URL(BASE_URL).origin;
const CHROMIUM = process.env.BOXOFFICE_CHROMIUM || "/usr/bin/chromium";
// Without the background-networking flags Chromium keeps trying Google's hosts,
// which this machine's closed network refuses (slow starts, noise in logs).
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
/** What the API helpers wait for an answer. */
const API_TIMEOUT_MS = 15_000;
/** How often, and after how long a pause at least, set-up retries a 503. */
const SHED_RETRIES = 5;
const SHED_PAUSE_MS = 250;

/** The two viewports every page is checked at. */
export const DEVICES = {
  desktop: { viewport: { width: 1280, height: 800 } },
  phone: { viewport: { width: 375, height: 812 }, hasTouch: true, isMobile: true, deviceScaleFactor: 2 },
};

/** The accounts `serve --demo` creates (printed at start; see http/src/demo.rs). */
export const DEMO = {
  admin: { email: "admin@demo.boxoffice", password: "demo-admin-pass" },
  staff: { email: "staff@demo.boxoffice", password: "demo-staff-pass" },
  user: { email: "user@demo.boxoffice", password: "demo-user-pass" },
};

/** The localStorage key the pages keep their session under ({accessToken, refreshToken, user}). */
export const SESSION_KEY = "boxoffice.session";

/** Starts Debian's Chromium headless through playwright-core; close it when done. */
export function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/**
 * One API call for set-up: `path` under /api/v1 (or a full /… path), JSON
 * `body`, `session` (or `token`) for the Authorization header. POSTs get a
 * fresh Idempotency-Key unless `headers` carry one. Returns
 * `{ status, body, headers }` without judging the status.
 */
export async function api(path, { method, body, session, token, headers = {} } = {}) {
  const url = BASE_URL + (path.startsWith("/api/") || path.startsWith("/docs") ? path : `/api/v1${path}`);
  method ??= body === undefined ? "GET" : "POST";
  const all = { Accept: "application/json", ...headers };
  if (body !== undefined) all["Content-Type"] = "application/json";
  const bearer = token ?? session?.accessToken;
  if (bearer) all.Authorization = `Bearer ${bearer}`;
  if (method === "POST" && !Object.keys(all).some((k) => k.toLowerCase() === "idempotency-key")) {
    all["Idempotency-Key"] = randomUUID();
  }
  const send = () =>
    fetch(url, {
      method,
      headers: all,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(API_TIMEOUT_MS),
    });
  let res = await send();
  // A 503 is the server shedding a burst (set-up registers several fans, each
  // a slow password hash): it did nothing, so the same request (same
  // Idempotency-Key) is sent again after a pause.
  for (let retry = 0; res.status === 503 && retry < SHED_RETRIES; retry++) {
    await res.arrayBuffer();
    const afterS = Number(res.headers.get("retry-after")) || 0;
    await new Promise((r) => setTimeout(r, Math.max(afterS * 1000, SHED_PAUSE_MS)));
    res = await send();
  }
  const text = await res.text();
  let parsed = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // Not JSON (it should be under /api/v1): the caller sees the text.
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** `api`, failing unless the answer has `status`; returns the body. */
export async function apiExpect(status, path, options) {
  const res = await api(path, options);
  assert.equal(res.status, status, `${options?.method ?? (options?.body ? "POST" : "GET")} ${path}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Logs in; returns the session the pages keep: `{ accessToken, refreshToken, user }`. */
export async function logIn({ email, password }) {
  const body = await apiExpect(200, "/auth/login", { body: { email, password } });
  return { accessToken: body.accessToken, refreshToken: body.refreshToken, user: body.user };
}

/** Registers a new USER with a unique e-mail and logs in: `{ email, password, name, session }`. */
export async function registerUser({ name = "Browser Fan" } = {}) {
  const id = randomUUID().replaceAll("-", "").slice(0, 12);
  const account = { email: `fan-${id}@browser.test`, password: `browser-pass-${id}`, name };
  await apiExpect(201, "/auth/register", { body: account });
  return { ...account, session: await logIn(account) };
}

/** How long `activeQueueToken` waits for the waiting room to admit a fan. */
const QUEUE_WAIT_MS = 60_000;

/** Tops up `session`'s wallet by `amount` (KRW); returns the new balance. */
export async function topUp(session, amount) {
  return (await apiExpect(201, "/wallet/charges", { session, body: { amount } })).balance;
}

/**
 * Joins `scheduleId`'s waiting room and polls (at the server's pollAfterMs)
 * until ACTIVE; returns the token. Ungated schedules answer ACTIVE at once.
 */
export async function activeQueueToken(session, scheduleId) {
  const joined = await api("/queue/tokens", { session, body: { scheduleId } });
  // 201 a new place; 200 the same place again for one who had joined.
  assert.ok(joined.status === 201 || joined.status === 200, `joining the waiting room: ${joined.status} ${JSON.stringify(joined.body)}`);
  let answer = joined.body;
  const deadline = Date.now() + QUEUE_WAIT_MS;
  while (answer.status !== "ACTIVE") {
    assert.ok(Date.now() < deadline, `not admitted within ${QUEUE_WAIT_MS} ms: ${JSON.stringify(answer)}`);
    await new Promise((r) => setTimeout(r, answer.pollAfterMs ?? 1000));
    answer = await apiExpect(200, "/queue/tokens/current", { session, headers: { "Queue-Token": answer.token } });
  }
  return answer.token;
}

/**
 * Holds seats for `session`: `{ seatIds }` or `{ quantity, grade?, sectionId? }`
 * (best available), with `queueToken` on a gated schedule. Returns the reservation.
 */
export async function hold(session, scheduleId, { queueToken, ...seats }) {
  const headers = queueToken ? { "Queue-Token": queueToken } : {};
  return apiExpect(201, "/reservations", { session, headers, body: { scheduleId, ...seats } });
}

/** Pays a held reservation from the wallet; returns the payment (with its `tickets`). */
export async function pay(session, reservation, { queueToken } = {}) {
  const headers = queueToken ? { "Queue-Token": queueToken } : {};
  return apiExpect(201, "/payments", { session, headers, body: { reservationId: reservation.reservationId } });
}

/**
 * A fan's whole purchase through the API, for scenarios that start after it
 * (my tickets, the door): through the waiting room if the date has one, the
 * best `quantity` seats, a top-up of exactly their price, payment. Returns the
 * tickets as GET /tickets/{ticketId} answers them (with `qrCode`).
 */
export async function buyTickets(session, scheduleId, { quantity = 1, grade } = {}) {
  const queueToken = await activeQueueToken(session, scheduleId);
  const reservation = await hold(session, scheduleId, { queueToken, quantity, ...(grade ? { grade } : {}) });
  await topUp(session, reservation.totalAmount);
  const payment = await pay(session, reservation, { queueToken });
  return Promise.all(payment.tickets.map((t) => apiExpect(200, `/tickets/${t.ticketId}`, { session })));
}

/** A context's `storageState` with `session` signed in. */
export function sessionState(session) {
  return {
    cookies: [],
    origins: [{ origin: ORIGIN, localStorage: [{ name: SESSION_KEY, value: JSON.stringify(session) }] }],
  };
}

/**
 * Signs an already open page in: seeds localStorage before the page's next
 * navigation (once, so a later log-out in the page sticks) and, when the page
 * is on our origin already, at once. Reload or navigate afterwards.
 */
export async function signIn(page, session) {
  const value = JSON.stringify(session);
  await page.addInitScript(
    ({ key, value, origin }) => {
      if (location.origin !== origin || sessionStorage.getItem("boxoffice.test.seeded")) return;
      localStorage.setItem(key, value);
      sessionStorage.setItem("boxoffice.test.seeded", "1");
    },
    { key: SESSION_KEY, value, origin: ORIGIN },
  );
  if (page.url().startsWith(ORIGIN)) {
    await page.evaluate(({ key, value }) => localStorage.setItem(key, value), { key: SESSION_KEY, value });
  }
}

/**
 * The demo's schedules with their seat counts: `{ concertId, title,
 * scheduleId, startsAt, totalSeats, availableSeats, gated }`, for scenarios
 * that need a date (gated = behind the waiting room).
 */
export async function demoSchedules() {
  const list = await apiExpect(200, "/concerts?pageSize=100");
  const out = [];
  for (const concert of list.items) {
    const details = await apiExpect(200, `/concerts/${concert.concertId}`);
    for (const s of details.schedules) {
      out.push({
        concertId: concert.concertId,
        title: concert.title,
        scheduleId: s.scheduleId,
        startsAt: s.startsAt,
        totalSeats: s.totalSeats,
        availableSeats: s.availableSeats,
        gated: Boolean((s.queue ?? details.queue)?.enabled),
      });
    }
  }
  return out;
}
