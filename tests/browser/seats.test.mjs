// The seat map and the waiting room in Chromium (issue 19): a hold in one
// browser turns the seat in another within a second; a hold that runs out
// frees its seats in both; the waiting room moves a fan to the seat map when
// their turn comes; and a seat can be picked and held without a mouse. Every
// page is checked with axe and must end without console errors; screenshots
// of both pages at desktop and phone width.
//
// The demo server is shared with the other scenario files, so each scenario
// makes its own fans and picks seats that are free when it starts (at random,
// so that two runs on one server do not collide).

import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import {
  apiExpect,
  checkAxe,
  checkTouchTargets,
  demoSchedules,
  DEMO,
  errorAnswer,
  logIn,
  registerUser,
  scenario,
  screenshot,
} from "./harness.mjs";

/** Issue 19: a hold in one browser shows in another within this long. */
const LIVE_WITHIN_MS = 1_000;
/** The short hold of the expiry scenario's concert, and how long freeing may take after it (API.md: within 1 s, plus the page's own time). */
const SHORT_HOLD_S = 2;
const FREED_WITHIN_MS = 4_000;

/** The ungated 2,000-seat demo date with the most free seats. */
async function openDate() {
  const dates = (await demoSchedules()).filter((s) => !s.gated && s.availableSeats > 100);
  assert.ok(dates.length > 0, "the demo has an ungated date with free seats");
  return dates.sort((a, b) => b.availableSeats - a.availableSeats)[0];
}

/** `n` seats free now on `scheduleId`, chosen at random. */
async function freeSeats(scheduleId, n) {
  const map = await apiExpect(200, `/schedules/${scheduleId}/seats`);
  const free = map.sections.flatMap((s) => s.rows.flatMap((r) => r.seats.filter((x) => x.status === "AVAILABLE").map((x) => x.seatId)));
  assert.ok(free.length >= n, `${n} free seats on ${scheduleId}`);
  const picked = [];
  while (picked.length < n) picked.push(free.splice(randomInt(free.length), 1)[0]);
  return picked;
}

/**
 * A concert of its own with one date on a demo venue (the one of
 * `venueCapacity` seats, or the first): a grade per section, its sale open
 * from `opensAt` (default: a minute ago), `holdSeconds`, and behind a waiting
 * room when `queue` is given (its fields over quick defaults). The date is
 * 300 days ahead, after every demo date, so scenarios that take the demo's
 * first dates never get it. Returns its scheduleId.
 */
async function ownDate(title, { venueCapacity, holdSeconds, queue, opensAt } = {}) {
  const admin = await logIn(DEMO.admin);
  const venues = (await apiExpect(200, "/venues?pageSize=100", { session: admin })).items;
  const venue = venueCapacity ? venues.find((v) => v.capacity === venueCapacity) : venues[0];
  assert.ok(venue, `a demo venue${venueCapacity ? ` of ${venueCapacity} seats` : ""}`);
  const now = Date.now();
  const iso = (ms) => new Date(ms).toISOString();
  const startsAt = now + 300 * 86_400_000;
  const concert = await apiExpect(201, "/concerts", {
    session: admin,
    body: {
      title: `${title} ${now}`,
      description: "A browser scenario's own date",
      category: "ROCK",
      venueId: venue.venueId,
      priceGrades: venue.sections.map((section, i) => ({ grade: section.sectionId, price: 10_000 * (venue.sections.length - i), sectionIds: [section.sectionId] })),
      schedules: [{ startsAt: iso(startsAt), endsAt: iso(startsAt + 3_600_000), bookingOpensAt: iso(opensAt ?? now - 60_000), bookingClosesAt: iso(startsAt - 86_400_000) }],
      ...(holdSeconds ? { holdSeconds } : {}),
      ...(queue ? { queue: { enabled: true, batchSize: 10, intervalMs: 100, maxActive: 100, activeSeconds: 600, ...queue } } : {}),
    },
  });
  return concert.schedules[0].scheduleId;
}

const seat = (page, seatId) => page.locator(`[data-seat-id="${seatId}"]`);

/** Opens the seat map and waits until its seats are drawn. */
async function seatMap(s, scheduleId, options) {
  const page = await s.open(`/schedules/${scheduleId}`, options);
  await page.locator("[data-seat-id]").first().waitFor();
  return page;
}

/** Clicks the seats and "Hold selected seats"; returns the hold's answer (201). */
async function holdByClicks(page, seatIds) {
  for (const id of seatIds) await seat(page, id).click();
  const answered = page.waitForResponse((r) => r.url().endsWith("/api/v1/reservations") && r.request().method() === "POST");
  await page.getByRole("button", { name: "Hold selected seats" }).click();
  const response = await answered;
  assert.equal(response.status(), 201, `the hold: ${await response.text()}`);
  return response.json();
}

scenario("a hold in one browser turns the seat in another within 1 s", async (s) => {
  const date = await openDate();
  const seatIds = await freeSeats(date.scheduleId, 2);
  const [holder, watcher] = [await registerUser({ name: "Seat Holder" }), await registerUser({ name: "Seat Watcher" })];
  const holderPage = await seatMap(s, date.scheduleId, { session: holder.session });
  const watcherPage = await seatMap(s, date.scheduleId, { session: watcher.session });
  for (const id of seatIds) assert.equal(await seat(watcherPage, id).getAttribute("data-status"), "AVAILABLE");

  await seat(holderPage, seatIds[0]).click();
  await seat(holderPage, seatIds[1]).click();
  const summary = await holderPage.locator(".picked-total").textContent();
  assert.match(summary, /^2 seats picked · Total /);
  await checkAxe(holderPage);

  const reservation = await holdByClicks(holderPage, []);
  const heldAt = Date.now();
  for (const id of seatIds) {
    await watcherPage.locator(`[data-seat-id="${id}"][data-status="HELD"]`).waitFor({ timeout: Math.max(1, LIVE_WITHIN_MS - (Date.now() - heldAt)) });
  }
  const seenAfterMs = Date.now() - heldAt;
  assert.ok(seenAfterMs <= LIVE_WITHIN_MS, `the other browser saw the hold after ${seenAfterMs} ms`);

  // The holder sees the hold: its seats, a running countdown and the way to pay.
  const hold = holderPage.locator(".hold");
  await hold.getByText(reservation.reservationNumber).waitFor();
  const pay = hold.getByRole("link", { name: "Pay now" });
  assert.equal(await pay.getAttribute("href"), `/checkout/${reservation.reservationId}`);
  const first = await hold.locator(".countdown").textContent();
  assert.match(first, /^\d+:\d\d$/);
  await holderPage.waitForFunction((before) => document.querySelector(".hold .countdown").textContent !== before, first, { timeout: 3_000 });
  for (const id of seatIds) assert.equal(await seat(holderPage, id).getAttribute("data-status"), "HELD");

  // The other fan is told, in words, that a held seat cannot be picked.
  await seat(watcherPage, seatIds[0]).click();
  await watcherPage.locator("#notice").getByText("is held by someone else").waitFor();
  await checkAxe(holderPage);
  await checkAxe(watcherPage);
  await screenshot(holderPage, "seat-map-hold-desktop");
});

scenario("a hold that runs out frees its seat in both browsers", async (s) => {
  // A date of its own on the demo's 2,000-seat venue, holding seats for SHORT_HOLD_S.
  const scheduleId = await ownDate("Short Hold Test", { holdSeconds: SHORT_HOLD_S, venueCapacity: 2_000 });
  const [seatId] = await freeSeats(scheduleId, 1);
  const holderPage = await seatMap(s, scheduleId, { session: (await registerUser({ name: "Short Holder" })).session });
  const watcherPage = await seatMap(s, scheduleId, {});

  await holdByClicks(holderPage, [seatId]);
  for (const page of [holderPage, watcherPage]) {
    await page.locator(`[data-seat-id="${seatId}"][data-status="HELD"]`).waitFor({ timeout: LIVE_WITHIN_MS });
  }
  for (const page of [holderPage, watcherPage]) {
    await page.locator(`[data-seat-id="${seatId}"][data-status="AVAILABLE"]`).waitFor({ timeout: SHORT_HOLD_S * 1_000 + FREED_WITHIN_MS });
  }
  // The holder's countdown says so, and offers no payment any more.
  await holderPage.locator(".hold.expired").getByText("has expired").waitFor();
  assert.equal(await holderPage.locator(".hold").getByRole("link", { name: "Pay now" }).count(), 0);
  await checkAxe(holderPage);
  await checkAxe(watcherPage);
});

scenario("the waiting room moves a fan to the seat map when their turn comes", async (s) => {
  const gated = (await demoSchedules()).find((d) => d.gated);
  assert.ok(gated, "the demo has a date behind the waiting room");
  const fan = await registerUser({ name: "Queue Fan" });
  const page = await s.open(`/schedules/${gated.scheduleId}/queue`, { session: fan.session });
  await page.waitForURL(`**/schedules/${gated.scheduleId}`, { timeout: 30_000 });
  await page.locator("[data-seat-id]").first().waitFor();
  const token = await page.evaluate((key) => localStorage.getItem(key), `boxoffice.queue.${gated.scheduleId}`);
  assert.ok(token, "the waiting room kept the token for the seat map");
  const current = await apiExpect(200, "/queue/tokens/current", { session: fan.session, headers: { "Queue-Token": token } });
  assert.equal(current.status, "ACTIVE");
  await checkAxe(page);
  for (const device of ["desktop", "phone"]) {
    const map = await seatMap(s, gated.scheduleId, { session: fan.session, device });
    if (device === "phone") await checkTouchTargets(map, { exclude: "[data-seat-id]" });
    await screenshot(map, `seat-map-${device}`);
  }
});

scenario("the waiting room shows the place in line and the wait, at both widths", async (s) => {
  // A date that admits one fan a minute, with someone ahead: the fan waits.
  const scheduleId = await ownDate("Slow Queue Test", { queue: { batchSize: 1, intervalMs: 60_000, maxActive: 1 } });
  for (let i = 0; i < 2; i++) {
    const ahead = await registerUser({ name: "Ahead" });
    await apiExpect(201, "/queue/tokens", { session: ahead.session, body: { scheduleId } });
  }
  const fan = await registerUser({ name: "Waiting Fan" });
  for (const device of ["desktop", "phone"]) {
    const page = await s.open(`/schedules/${scheduleId}/queue`, { session: fan.session, device });
    const card = page.getByRole("region", { name: "Your place" });
    await card.getByText(/^You are number \d+ in line\.$/).waitFor();
    await card.getByText(/^Expected wait: /).waitFor();
    await checkAxe(page);
    if (device === "phone") await checkTouchTargets(page);
    await screenshot(page, `waiting-room-${device}`);
  }
});

scenario("the waiting room before the sale: the pre-queue explained, then the seats at opening", async (s) => {
  const opensInMs = 6_000;
  const scheduleId = await ownDate("Pre-queue Test", { queue: { preQueueSeconds: 3_600 }, opensAt: Date.now() + opensInMs });
  const fan = await registerUser({ name: "Early Fan" });
  const page = await s.open(`/schedules/${scheduleId}/queue`, { session: fan.session });
  const card = page.getByRole("region", { name: "Your place" });
  await card.getByText(/^The sale opens /).waitFor();
  await card.getByText(/order drawn at random/).waitFor();
  await checkAxe(page);
  await screenshot(page, "waiting-room-pre-queue-desktop");
  await page.waitForURL(`**/schedules/${scheduleId}`, { timeout: opensInMs + 20_000 });
  await page.locator("[data-seat-id]").first().waitFor();
});

scenario("a waiting room that has not opened yet says when it opens", async (s) => {
  const scheduleId = await ownDate("Not Open Test", { queue: { preQueueSeconds: 60 }, opensAt: Date.now() + 86_400_000 });
  const fan = await registerUser({ name: "Too Early Fan" });
  const page = await s.open(`/schedules/${scheduleId}/queue`, {
    session: fan.session,
    expectProblems: errorAnswer(409, "/api/v1/queue/tokens"),
  });
  const alert = page.getByRole("alert");
  await alert.getByText("The waiting room for this date is not open yet.").waitFor();
  await alert.getByText(/^It opens .*: come back then\.$/).waitFor();
  await checkAxe(page);
});

scenario("a seat is picked and held with the keyboard alone", async (s) => {
  const date = await openDate();
  const fan = await registerUser({ name: "Keyboard Fan" });
  const page = await seatMap(s, date.scheduleId, { session: fan.session });
  const focused = () => page.evaluate(() => {
    const el = document.activeElement;
    return { seatId: el?.getAttribute("data-seat-id") ?? null, text: el?.textContent ?? "", pressed: el?.getAttribute("aria-pressed") ?? null, label: el?.getAttribute("aria-label") ?? null };
  });
  // Tab reaches the map (one stop), on a free seat.
  for (let i = 0; i < 30 && !(await focused()).seatId; i++) await page.keyboard.press("Tab");
  let at = await focused();
  assert.ok(at.seatId, "Tab reaches a seat");
  // Arrow keys move; find a free seat to the right or below.
  for (let i = 0; i < 40 && !/: available/.test(at.label ?? ""); i++) {
    await page.keyboard.press(i % 10 === 9 ? "ArrowDown" : "ArrowRight");
    at = await focused();
  }
  assert.match(at.label, /: available/, "a free seat within reach");
  const before = at.seatId;
  await page.keyboard.press("ArrowRight");
  at = await focused();
  assert.notEqual(at.seatId, before, "ArrowRight moved");
  await page.keyboard.press("ArrowLeft");
  at = await focused();
  assert.equal(at.seatId, before, "ArrowLeft came back");
  await page.keyboard.press("Enter");
  at = await focused();
  assert.equal(at.pressed, "true", "Enter picked the seat");
  assert.match(at.label, /picked by you/);
  assert.match(await page.locator(".picked-total").textContent(), /^1 seat picked/);
  // On to the hold button, and Enter.
  for (let i = 0; i < 30 && (await focused()).text !== "Hold selected seats"; i++) await page.keyboard.press("Tab");
  assert.equal((await focused()).text, "Hold selected seats", "Tab reaches the hold button");
  const answered = page.waitForResponse((r) => r.url().endsWith("/api/v1/reservations") && r.request().method() === "POST");
  await page.keyboard.press("Enter");
  assert.equal((await answered).status(), 201);
  await page.locator(".hold").getByRole("link", { name: "Pay now" }).waitFor();
  await page.locator(`[data-seat-id="${before}"][data-status="HELD"]`).waitFor({ timeout: LIVE_WITHIN_MS });
  await checkAxe(page);
});
