// Buying tickets in the browser (issue 19): checkout with the wallet (a
// top-up on the spot when it is short), a card checkout through the built-in
// test provider's page (in the same tab: the provider sends the payer back,
// and a declined card's page links back), my tickets with their QR codes,
// the wallet, a hold that runs out on the page, cancelling, the purchase at
// phone width and by keyboard alone, and the tickets in print. Each page is
// checked with axe and must log no console error or failed request (the
// harness's rule).
//
// The seat map and waiting room pages are another helper's: until they are
// on main, the holds here are made through the API (under an ACTIVE queue
// token for the gated date, kept where the waiting room keeps it) and the
// fan starts at /checkout/<reservationId>.

import assert from "node:assert/strict";
import {
  activeQueueToken,
  apiExpect,
  checkAxe,
  checkTouchTargets,
  DEMO,
  demoSchedules,
  hold,
  logIn,
  registerUser,
  scenario,
  screenshot,
  topUp,
} from "./harness.mjs";

/** How long a page may take to show what a scenario waits for. */
const SHOW_MS = 10_000;
/** The hold time of the date made for the expiry scenario. */
const SHORT_HOLD_S = 4;

let schedulesCache;
async function schedules() {
  schedulesCache ??= await demoSchedules();
  return schedulesCache;
}

/** The demo concert whose dates these scenarios buy on: on sale, ungated, 2,000 seats each. */
const DEMO_CONCERT = "Midnight Orchestra";

/**
 * One of the demo concert's dates (each scenario takes a few seats, best
 * available, so other files' scenarios on the same server do not collide).
 * Not any ungated date: other files add dates of their own, some not on sale.
 */
async function openDate(index = 0) {
  const open = (await schedules()).filter((s) => s.title === DEMO_CONCERT && !s.gated && s.availableSeats > 20);
  assert.ok(open.length > index, `the demo's ${DEMO_CONCERT} has ungated dates with seats`);
  return open[index];
}

/** Waits until the tickets page shows `count` tickets whose QR images have loaded. */
async function expectTicketsWithQr(page, count) {
  await page.getByRole("heading", { name: "My tickets" }).waitFor();
  await page.waitForFunction(
    (n) => {
      const images = [...document.querySelectorAll("article.ticket img.qr")];
      return images.length === n && images.every((img) => img.complete && img.naturalWidth > 0);
    },
    count,
    { timeout: SHOW_MS },
  );
  const alts = await page.locator("article.ticket img.qr").evaluateAll((imgs) => imgs.map((img) => img.alt));
  for (const alt of alts) assert.match(alt, /^QR code of the ticket for .+, section .+, row .+, seat \d+$/i);
}

scenario("a fan registers, waits their turn for the gated date, picks a seat on the map, tops up, pays and sees the QR", async (s) => {
  const page = await s.open("/account");
  const id = Math.random().toString(36).slice(2, 10);
  await page.locator("#register-name").fill("Browser Fan");
  await page.locator("#register-email").fill(`fan-${id}@browser.test`);
  await page.locator("#register-password").fill(`browser-pass-${id}`);
  await page.getByRole("button", { name: "Register" }).click();
  await page.waitForURL((url) => url.pathname === "/");
  const session = await page.evaluate(() => JSON.parse(localStorage.getItem("boxoffice.session")));
  assert.ok(session.accessToken, "registering signed the fan in");

  const gated = (await schedules()).find((d) => d.gated && d.title === "Aurora Live 2027");
  assert.ok(gated, "the demo has a gated date");
  // The concert's date behind the waiting room: the room moves the fan to the seat map when it is their turn.
  await page.goto(`/schedules/${gated.scheduleId}/queue`);
  await page.waitForURL((url) => url.pathname === `/schedules/${gated.scheduleId}`, { timeout: 30_000 });
  const free = page.locator('[data-seat-id][data-status="AVAILABLE"]').first();
  await free.waitFor();
  const seatId = await free.getAttribute("data-seat-id");
  await free.click();
  const held = page.waitForResponse((r) => r.url().endsWith("/api/v1/reservations") && r.request().method() === "POST");
  await page.getByRole("button", { name: "Hold selected seats" }).click();
  const answer = await held;
  assert.equal(answer.status(), 201, await answer.text());
  const reservation = await answer.json();
  assert.deepEqual(reservation.seats.map((seat) => seat.seatId), [seatId]);
  await page.getByRole("link", { name: "Pay now" }).click();
  await page.waitForURL((url) => url.pathname === `/checkout/${reservation.reservationId}`);
  await page.getByRole("heading", { name: `Checkout ${reservation.reservationNumber}` }).waitFor();
  await page.getByText(/Your seats are held for \d+:\d\d/).waitFor();
  await page.getByRole("table").getByText(reservation.seats[0].seatId).waitFor();
  // A new fan's wallet is empty: the page offers the top-up right there, for the shortfall.
  await page.locator("#shortfall").waitFor();
  assert.equal(await page.getByLabel("Top-up amount").inputValue(), String(reservation.totalAmount));
  await checkAxe(page);
  await screenshot(page, "checkout-topup-desktop");
  await page.getByRole("button", { name: "Top up wallet" }).click();
  const pay = page.getByRole("button", { name: /^Pay .+ from wallet$/ });
  await pay.waitFor();
  await checkAxe(page);
  await screenshot(page, "checkout-desktop");
  await pay.click();
  await page.getByText("Paid. Enjoy the show!").waitFor();
  assert.equal(
    await page.evaluate((key) => localStorage.getItem(key), `boxoffice.queue.${gated.scheduleId}`),
    null,
    "the paid queue token is forgotten",
  );
  await checkAxe(page);

  await page.getByRole("link", { name: "See my tickets" }).click();
  await expectTicketsWithQr(page, 1);
  await page.getByRole("heading", { name: new RegExp(gated.title) }).waitFor();
  await checkAxe(page);
  await screenshot(page, "tickets-desktop");

  const paid = await apiExpect(200, `/reservations/${reservation.reservationId}`, { session });
  assert.equal(paid.status, "CONFIRMED");
});

scenario("a card checkout through the test provider's page: declined once, then paid, ends with tickets", async (s) => {
  const fan = await registerUser();
  const date = await openDate(0);
  const reservation = await hold(fan.session, date.scheduleId, { quantity: 2 });
  const checkout = `/checkout/${reservation.reservationId}`;
  const page = await s.open(checkout, { session: fan.session });
  const cardButton = page.getByRole("button", { name: "Pay by card" });

  // The provider's page opens in this tab; a declined card links back here.
  await cardButton.click();
  await page.waitForURL(/\/mock-provider\/checkout\/pi_/);
  assert.match(await page.textContent("body"), new RegExp(String(reservation.totalAmount)));
  await page.getByRole("button", { name: "Decline" }).click();
  await page.getByText("Payment declined").waitFor();
  await page.getByRole("link", { name: "Back to the shop" }).click();
  await page.waitForURL((url) => url.pathname === checkout);
  await page.getByText(/The card payment did not go through/).waitFor({ timeout: SHOW_MS });
  await checkAxe(page);
  await screenshot(page, "checkout-card-declined-desktop");

  // Paid: the provider sends the payer back, and the page shows the tickets.
  await cardButton.click();
  await page.waitForURL(/\/mock-provider\/checkout\/pi_/);
  await page.getByRole("button", { name: "Pay" }).click();
  await page.waitForURL((url) => url.pathname === checkout);
  await page.getByText("Paid. Enjoy the show!").waitFor({ timeout: SHOW_MS });
  await checkAxe(page);
  await screenshot(page, "checkout-card-paid-desktop");

  await page.getByRole("link", { name: "See my tickets" }).click();
  await expectTicketsWithQr(page, 2);
  const paid = await apiExpect(200, `/reservations/${reservation.reservationId}`, { session: fan.session });
  assert.equal(paid.status, "CONFIRMED");
});

scenario("back from the provider's page without paying, the checkout waits for the payment and can still cancel", async (s) => {
  const fan = await registerUser();
  const date = await openDate(0);
  const reservation = await hold(fan.session, date.scheduleId, { quantity: 1 });
  const checkout = `/checkout/${reservation.reservationId}`;
  const page = await s.open(checkout, { session: fan.session });
  await page.getByRole("button", { name: "Pay by card" }).click();
  await page.waitForURL(/\/mock-provider\/checkout\/pi_/);
  await page.goBack();
  await page.getByText("Waiting for your card payment…").waitFor();
  await page.getByRole("link", { name: "Go to the payment page" }).waitFor();
  await checkAxe(page);
  await screenshot(page, "checkout-card-waiting-desktop");
  page.on("dialog", (dialog) => dialog.accept());
  await page.getByRole("button", { name: "Cancel hold" }).click();
  await page.getByText("This hold was cancelled and the seats were released.").waitFor();
  const payment = await apiExpect(200, `/reservations/${reservation.reservationId}`, { session: fan.session });
  assert.equal(payment.status, "CANCELLED");
});

scenario("the purchase at phone width: touch, and every control at least 44 px", async (s) => {
  const fan = await registerUser();
  const date = await openDate(1);
  const reservation = await hold(fan.session, date.scheduleId, { quantity: 1 });
  const page = await s.open(`/checkout/${reservation.reservationId}`, { device: "phone", session: fan.session });
  await page.locator("#shortfall").waitFor();
  await checkAxe(page);
  await checkTouchTargets(page);
  await screenshot(page, "checkout-topup-phone");
  await page.getByRole("button", { name: "Top up wallet" }).tap();
  const pay = page.getByRole("button", { name: /^Pay .+ from wallet$/ });
  await pay.waitFor();
  await checkTouchTargets(page);
  await screenshot(page, "checkout-phone");
  await pay.tap();
  await page.getByText("Paid. Enjoy the show!").waitFor();
  await page.getByRole("link", { name: "See my tickets" }).tap();
  await expectTicketsWithQr(page, 1);
  await checkAxe(page);
  await checkTouchTargets(page);
  await screenshot(page, "tickets-phone");

  await page.goto("/wallet");
  await page.locator("#balance").waitFor();
  await page.getByRole("cell", { name: "Payment" }).waitFor();
  await checkAxe(page);
  await checkTouchTargets(page);
  await screenshot(page, "wallet-phone");
});

scenario("the wallet: balance, a top-up, and the history", async (s) => {
  const fan = await registerUser();
  // The too-large top-up below is refused on purpose (its 400 and console line).
  const page = await s.open("/wallet", { session: fan.session, expectProblems: [/wallet\/charges/] });
  await page.getByText("Nothing yet: top up to start.").waitFor();
  await page.getByLabel("Amount").fill("150000");
  await page.getByRole("button", { name: "Top up" }).click();
  await page.locator("#balance", { hasText: "150,000" }).waitFor();
  await page.getByRole("cell", { name: "Top-up" }).waitFor();
  // A refused amount is said in words, not shown as JSON.
  await page.getByLabel("Amount").fill("999999999");
  await page.getByRole("button", { name: "Top up" }).click();
  await page.getByRole("alert").waitFor();
  assert.doesNotMatch(await page.getByRole("alert").textContent(), /[{}]/);
  await checkAxe(page);
  await screenshot(page, "wallet-desktop");
});

scenario("cancelling: a hold from checkout, a paid booking from my tickets for a refund", async (s) => {
  const fan = await registerUser();
  await topUp(fan.session, 1_000_000);
  const date = await openDate(2);
  const held = await hold(fan.session, date.scheduleId, { quantity: 1 });
  const page = await s.open(`/checkout/${held.reservationId}`, { session: fan.session });
  page.on("dialog", (dialog) => dialog.accept());
  await page.getByRole("button", { name: "Cancel hold" }).click();
  await page.getByText("This hold was cancelled and the seats were released.").waitFor();
  await page.getByRole("link", { name: "Choose seats again" }).waitFor();
  assert.equal((await apiExpect(200, `/reservations/${held.reservationId}`, { session: fan.session })).status, "CANCELLED");

  const booked = await hold(fan.session, date.scheduleId, { quantity: 2 });
  await apiExpect(201, "/payments", { body: { reservationId: booked.reservationId }, session: fan.session });
  await page.goto("/tickets");
  await expectTicketsWithQr(page, 2);
  await page.getByRole("button", { name: /^Cancel booking/ }).click();
  await page.locator("article.ticket .ticket-status", { hasText: "Cancelled" }).first().waitFor();
  assert.equal(await page.locator("article.ticket.status-void").count(), 2);
  assert.equal(await page.getByRole("button", { name: /^Cancel booking/ }).count(), 0);
  const wallet = await apiExpect(200, "/wallet", { session: fan.session });
  assert.equal(wallet.balance, 1_000_000, "the booking was refunded in full");
});

scenario("a hold that runs out on the checkout page says so and offers the seats again", async (s) => {
  const admin = await logIn(DEMO.admin);
  const venues = await apiExpect(200, "/venues", { session: admin });
  const venue = venues.items.find((v) => v.name === "Riverside Hall") || venues.items[0];
  const details = await apiExpect(200, `/venues/${venue.venueId}`, { session: admin });
  const sectionIds = details.sections.map((section) => section.sectionId);
  const day = 24 * 3600 * 1000;
  const now = Date.now();
  const iso = (ms) => new Date(ms).toISOString();
  const concert = await apiExpect(201, "/concerts", {
    session: admin,
    body: {
      title: `Short hold ${Math.random().toString(36).slice(2, 8)}`,
      description: "A date whose holds last seconds (browser tests).",
      category: "TEST",
      venueId: venue.venueId,
      priceGrades: [{ grade: "ALL", price: 10_000, sectionIds }],
      schedules: [{ startsAt: iso(now + 9 * day), endsAt: iso(now + 9 * day + 7_200_000), bookingOpensAt: iso(now - 3_600_000), bookingClosesAt: iso(now + 8 * day) }],
      holdSeconds: SHORT_HOLD_S,
    },
  });
  const fan = await registerUser();
  const reservation = await hold(fan.session, concert.schedules[0].scheduleId, { quantity: 1 });
  const page = await s.open(`/checkout/${reservation.reservationId}`, { session: fan.session });
  await page.getByText(/Your seats are held for 0:0\d/).waitFor();
  await page.getByText("Your hold expired and the seats were released.").waitFor({ timeout: SHOW_MS + SHORT_HOLD_S * 1000 });
  await page.getByRole("link", { name: "Choose seats again" }).waitFor();
  await checkAxe(page);
  assert.equal(await page.getByRole("button", { name: /Pay/ }).count(), 0, "nothing to pay once the hold is gone");
});

scenario("keyboard only: top up and pay from the checkout, then print the tickets", async (s) => {
  const fan = await registerUser();
  const date = await openDate(1);
  const reservation = await hold(fan.session, date.scheduleId, { quantity: 1 });
  const page = await s.open(`/checkout/${reservation.reservationId}`, { session: fan.session });
  await page.locator("#shortfall").waitFor();
  // Tab from the top of the page to the top-up field: every stop on the way is a labelled control.
  let focused = "";
  for (let i = 0; i < 15 && focused !== "topup-amount"; i++) {
    await page.keyboard.press("Tab");
    focused = await page.evaluate(() => document.activeElement?.id || "");
  }
  assert.equal(focused, "topup-amount", "the top-up field is reachable by Tab");
  await page.keyboard.press("Enter");
  // After the top-up, focus moves to the pay button.
  await page.waitForFunction(() => document.activeElement?.id === "pay-wallet");
  await page.keyboard.press("Enter");
  await page.getByText("Paid. Enjoy the show!").waitFor();

  await page.goto("/tickets");
  await expectTicketsWithQr(page, 1);
  await page.emulateMedia({ media: "print" });
  for (const selector of ["header.site", "#print", ".cancel-booking"]) {
    assert.equal(await page.locator(selector).count(), 1, selector);
    assert.equal(await page.locator(selector).isVisible(), false, `${selector} is not printed`);
  }
  assert.equal(await page.locator("article.ticket img.qr").isVisible(), true, "the QR code prints");
  await screenshot(page, "tickets-print");
});

scenario("paying for a gated date's hold without the waiting room's token is refused in words, with the way back", async (s) => {
  const fan = await registerUser();
  await topUp(fan.session, 1_000_000);
  const gated = (await schedules()).find((d) => d.gated && d.title === "Aurora Live 2027");
  const token = await activeQueueToken(fan.session, gated.scheduleId);
  const reservation = await hold(fan.session, gated.scheduleId, { quantity: 1, queueToken: token });
  // This browser never went through the waiting room: it has no token to send.
  const page = await s.open(`/checkout/${reservation.reservationId}`, {
    session: fan.session,
    expectProblems: [/\/api\/v1\/payments/],
  });
  await page.getByRole("button", { name: /^Pay .+ from wallet$/ }).click();
  await page.getByRole("alert").getByText("It is not your turn yet. Please wait in the waiting room.").waitFor();
  const back = page.getByRole("link", { name: "Go to the waiting room" });
  assert.equal(await back.getAttribute("href"), `/schedules/${gated.scheduleId}/queue`);
  await checkAxe(page);
  assert.equal((await apiExpect(200, `/reservations/${reservation.reservationId}`, { session: fan.session })).status, "HELD");
});
