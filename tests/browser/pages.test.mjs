// Every page, at desktop and phone width: it draws what it is for, with no
// console error, failed request or unexpected error answer, axe-core finds
// nothing serious or critical, and at phone width every control is
// touch-sized; a screenshot of each is saved.
//
// Adding a page: one entry in PAGES below. `route` is the page's path pattern
// as http/src/pages/mod.rs lists it (a scenario here fails when a served page
// has no entry), `path` the address to visit (from the fixtures), `as` who is
// signed in (null, "fan", "staff" or "admin"), `ready` what shows once the
// page has drawn its data, `expectProblems` the error answers it is meant to
// show in words (harness.mjs's `errorAnswer`), `touchExclude` a selector for
// controls not judged as touch targets at phone width.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { checkAxe, checkTouchTargets, DEMO, errorAnswer, demoSchedules, hold, logIn, registerUser, scenario, screenshot } from "./harness.mjs";

/** An id no concert or schedule has: the API's 404, shown by the page in words. */
const UNKNOWN_ID = "00000000-0000-4000-8000-000000000000";

/** Ready once seats are drawn (each carries data-seat-id). */
function seatsDrawn(page) {
  return page.locator("[data-seat-id]").first();
}

const PAGES = [
  { name: "concerts", route: "/", path: () => "/", as: null, ready: (p) => p.locator(".cards .card").first() },
  { name: "concerts-signed-in", route: "/", path: () => "/", as: "fan", ready: (p) => p.locator(".cards .card").first() },
  { name: "search", route: "/", path: () => "/?q=aurora", as: null, ready: (p) => p.locator(".cards .card").first() },
  {
    name: "concert",
    route: "/concerts/{concertId}",
    path: (fx) => `/concerts/${fx.gatedConcertId}`,
    as: "fan",
    ready: (p) => p.locator(".card.date").first(),
  },
  {
    name: "concert-unknown",
    route: "/concerts/{concertId}",
    path: () => `/concerts/${UNKNOWN_ID}`,
    as: null,
    ready: (p) => p.getByRole("alert"),
    expectProblems: errorAnswer(404, `/api/v1/concerts/${UNKNOWN_ID}`),
  },
  { name: "account-signed-out", route: "/account", path: () => "/account", as: null, ready: (p) => p.locator("#login") },
  { name: "account", route: "/account", path: () => "/account", as: "fan", ready: (p) => p.locator("#logout") },
  // The seat map is drawn once its seats are (issue 19: each carries data-seat-id).
  // Seats are sized by the map's zoom, not checked as touch targets here.
  {
    name: "seat-map",
    route: "/schedules/{scheduleId}",
    path: (fx) => `/schedules/${fx.openSchedule.scheduleId}`,
    as: "fan",
    ready: seatsDrawn,
    touchExclude: "[data-seat-id]",
  },
  // The demo's gated date admits a fan at once, so its waiting room moves on
  // to the seat map (issue 19); the waiting itself is seats.test.mjs's.
  {
    name: "waiting-room",
    route: "/schedules/{scheduleId}/queue",
    path: (fx) => `/schedules/${fx.gatedSchedule.scheduleId}/queue`,
    as: "fan",
    ready: seatsDrawn,
    touchExclude: "[data-seat-id]",
  },
  // The fan's own pages, ready once their data is drawn (purchase.test.mjs has their scenarios).
  { name: "checkout", route: "/checkout/{reservationId}", path: (fx) => `/checkout/${fx.heldReservationId}`, as: "fan", ready: (page) => page.getByRole("heading", { level: 1, name: /^Checkout BX-/ }) },
  { name: "wallet", route: "/wallet", path: () => "/wallet", as: "fan", ready: (p) => p.locator("#balance") },
  { name: "tickets", route: "/tickets", path: () => "/tickets", as: "fan", ready: (p) => p.getByRole("status").filter({ hasText: /tickets? yet|\d+ tickets?/ }).first() },
  // The staff and admin pages, ready once their data is drawn (staff.test.mjs has their scenarios).
  { name: "door", route: "/door", path: () => "/door", as: "staff", ready: (p) => p.getByLabel("Concert") },
  { name: "admin", route: "/admin", path: () => "/admin", as: "admin", ready: (p) => p.getByRole("region", { name: "Dates and sales" }) },
  { name: "admin-venues", route: "/admin/venues", path: () => "/admin/venues", as: "admin", ready: (p) => p.getByRole("list", { name: "Venues" }) },
  { name: "admin-concerts", route: "/admin/concerts", path: () => "/admin/concerts", as: "admin", ready: (p) => p.locator("#concert-form") },
  {
    name: "admin-schedule",
    route: "/admin/schedules/{scheduleId}",
    path: (fx) => `/admin/schedules/${fx.openSchedule.scheduleId}?concert=${fx.openSchedule.concertId}`,
    as: "admin",
    ready: (p) => p.getByRole("region", { name: "Reservations" }),
  },
  { name: "admin-users", route: "/admin/users", path: () => "/admin/users", as: "admin", ready: (p) => p.getByRole("region", { name: "Accounts" }) },
  { name: "admin-webhooks", route: "/admin/webhooks", path: () => "/admin/webhooks", as: "admin", ready: (p) => p.getByText(/^No webhooks yet\.$|^Deliveries$/).first() },
  {
    name: "not-found",
    route: null,
    path: () => "/no-such-page",
    as: null,
    ready: (p) => p.getByRole("heading", { name: "Page not found" }),
    expectProblems: errorAnswer(404, "/no-such-page"),
  },
];

let fixtures;
/** Made once per file: the demo's dates and a signed-in session for each role. */
async function fx() {
  fixtures ??= (async () => {
    const schedules = await demoSchedules();
    const gatedSchedule = schedules.find((s) => s.gated);
    const openSchedule = schedules.find((s) => !s.gated && s.availableSeats > 0);
    assert.ok(gatedSchedule && openSchedule, "the demo has a date behind the waiting room and one without");
    const fan = (await registerUser({ name: "Page Tour Fan" })).session;
    const held = await hold(fan, openSchedule.scheduleId, { quantity: 1 });
    return {
      schedules,
      gatedSchedule,
      openSchedule,
      gatedConcertId: gatedSchedule.concertId,
      heldReservationId: held.reservationId,
      sessions: { fan, staff: await logIn(DEMO.staff), admin: await logIn(DEMO.admin) },
    };
  })();
  return fixtures;
}

for (const entry of PAGES) {
  for (const device of ["desktop", "phone"]) {
    scenario(`${entry.name} at ${device} width`, async (s) => {
      const f = await fx();
      const page = await s.open(entry.path(f), {
        device,
        session: entry.as ? f.sessions[entry.as] : undefined,
        expectProblems: entry.expectProblems ?? [],
        allowProblems: entry.allowProblems ?? [],
      });
      await entry.ready(page).waitFor();
      await checkAxe(page);
      if (device === "phone") await checkTouchTargets(page, { exclude: entry.touchExclude });
      await screenshot(page, `${entry.name}-${device}`);
    });
  }
}

test("every page the server serves is in the list above", () => {
  // run.sh passes the checkout; the list of pages is http/src/pages/mod.rs's PAGES.
  const source = readFileSync(`${process.env.BOXOFFICE_REPO}/http/src/pages/mod.rs`, "utf8");
  const served = [...source.matchAll(/path: "([^"]+)"/g)].map((m) => m[1]);
  assert.ok(served.length > 0, "found the pages in http/src/pages/mod.rs");
  const covered = new Set(PAGES.map((p) => p.route));
  assert.deepEqual(served.filter((route) => !covered.has(route)), [], "pages without an entry in PAGES");
});
