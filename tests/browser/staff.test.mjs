// The pages for the box office's own people (issue 19): door staff check
// tickets in on /door, and an admin sets up a venue and a concert, publishes
// it, and cancels a date, all through the pages, with the outcomes checked
// through the API and on the fans' pages. Each scenario makes its own fans,
// concert and dates, so it does not depend on what other files took.

import assert from "node:assert/strict";
import {
  apiExpect, buyTickets, checkAxe, checkTouchTargets, DEMO, errorAnswer, hold, logIn,
  registerUser, scenario, screenshot,
} from "./harness.mjs";

const DAY_MS = 24 * 60 * 60 * 1000;

/** `Date` as a datetime-local field's value (the browser's time zone: the scenarios' Chromium runs in UTC, as Node here). */
function localValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** RFC 3339 without milliseconds. */
function rfc3339(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** A demo venue, for concerts made through the API. */
async function demoVenue(name = "Riverside Hall") {
  const venues = await apiExpect(200, "/venues?pageSize=100");
  const venue = venues.items.find((v) => v.name === name);
  assert.ok(venue, `the demo has ${name}`);
  return venue;
}

/** A new published concert on `venue` with `dates` dates open for booking now (through the API): its body. */
async function concertWithDates(admin, venue, title, dates) {
  const now = Date.now();
  return apiExpect(201, "/concerts", {
    session: admin,
    body: {
      title,
      description: "Made by a browser scenario.",
      category: "TEST",
      venueId: venue.venueId,
      priceGrades: venue.sections.map((s, i) => ({ grade: s.sectionId, price: 50_000 + 10_000 * i, sectionIds: [s.sectionId] })),
      schedules: Array.from({ length: dates }, (_, i) => ({
        startsAt: rfc3339(now + (40 + i) * DAY_MS),
        endsAt: rfc3339(now + (40 + i) * DAY_MS + 2 * 60 * 60 * 1000),
        bookingOpensAt: rfc3339(now - 60_000),
        bookingClosesAt: rfc3339(now + (40 + i) * DAY_MS),
      })),
    },
  });
}

function seatWords(seat) {
  return `Section ${seat.sectionId} · Row ${seat.row} · Seat ${seat.number}`;
}

/** Opens /door and picks the concert and date of `schedule` (`{concertId, scheduleId}`). */
async function doorFor(s, staff, schedule, options = {}) {
  const page = await s.open("/door", { session: staff, ...options });
  await page.getByLabel("Concert").selectOption(schedule.concertId);
  await page.locator(`#door-date option[value="${schedule.scheduleId}"]`).waitFor({ state: "attached" });
  await page.getByLabel("Date").selectOption(schedule.scheduleId);
  await page.getByLabel("Ticket code").waitFor();
  assert.ok(await page.getByLabel("Ticket code").isEnabled(), "the code field opens once the show is picked");
  return page;
}

/** Types `code` into the door's field, submits with Enter, and returns the answer's text once it changed. */
async function checkIn(page, code) {
  const answer = page.locator(".door-answer");
  const before = (await answer.count()) ? await answer.textContent() : null;
  const field = page.getByLabel("Ticket code");
  await field.fill(code);
  await field.press("Enter");
  await page.waitForFunction(
    (previous) => {
      const box = document.querySelector(".door-answer");
      return box && !document.querySelector("form.door-form[aria-busy]") && box.textContent !== previous;
    },
    before,
  );
  assert.equal(await field.inputValue(), "", "the code field is cleared for the next guest");
  assert.ok(await field.evaluate((el) => el === document.activeElement), "the code field has the focus for the next guest");
  return answer.textContent();
}

scenario("door staff check a ticket in, then again (already used); a forged code and another show's ticket are explained", async (s) => {
  const admin = await logIn(DEMO.admin);
  const staff = await logIn(DEMO.staff);
  const concert = await concertWithDates(admin, await demoVenue(), `Door Night ${Date.now()}`, 2);
  const [first, second] = concert.schedules.map((d) => ({ concertId: concert.concertId, scheduleId: d.scheduleId, startsAt: d.startsAt }));
  const fan = (await registerUser()).session;
  const [ticket] = await buyTickets(fan, first.scheduleId);
  const [otherShow] = await buyTickets(fan, second.scheduleId);

  const page = await doorFor(s, staff, first, {
    expectProblems: [...errorAnswer(409, "/api/v1/checkins"), ...errorAnswer(400, "/api/v1/checkins")],
  });
  const admitted = await checkIn(page, ticket.qrCode);
  assert.match(admitted, /Admitted/);
  assert.ok(admitted.includes(seatWords(ticket.seat)), `the seat is shown: ${admitted}`);
  assert.equal(await page.locator(".door-answer.good").count(), 1, "a green answer");
  await checkAxe(page);
  await screenshot(page, "door-admitted-desktop");

  const again = await checkIn(page, ticket.qrCode);
  assert.match(again, /Already used/);
  assert.match(again, /already checked in at .*\d{1,2}:\d{2}:\d{2}/, "when it was used, to the second");
  assert.equal(await page.locator(".door-answer.bad").count(), 1, "a red answer");
  await checkAxe(page);
  await screenshot(page, "door-already-used-desktop");

  // One character changed: the signature no longer matches.
  const last = ticket.qrCode.at(-1);
  const forged = await checkIn(page, ticket.qrCode.slice(0, -1) + (last === "A" ? "B" : "A"));
  assert.match(forged, /Not a valid ticket/);
  assert.match(forged, /forged, cancelled \(refunded\) or unknown/);

  const wrong = await checkIn(page, otherShow.qrCode);
  assert.match(wrong, /Wrong show/);
  assert.ok(wrong.includes(concert.title), `names the ticket's concert: ${wrong}`);
  assert.match(wrong, /It was not used/);
  await screenshot(page, "door-wrong-show-desktop");
  const untouched = await apiExpect(200, `/tickets/${otherShow.ticketId}`, { session: fan });
  assert.equal(untouched.status, "ISSUED", "a ticket refused at the wrong door stays unused");
  assert.equal((await apiExpect(200, `/tickets/${ticket.ticketId}`, { session: fan })).status, "USED");

  // The same desk at phone width: a guest for the second date, admitted, then turned away.
  const phone = await doorFor(s, staff, second, { device: "phone", expectProblems: errorAnswer(409, "/api/v1/checkins") });
  assert.match(await checkIn(phone, otherShow.qrCode), /Admitted/);
  await checkAxe(phone);
  await checkTouchTargets(phone);
  await screenshot(phone, "door-admitted-phone");
  assert.match(await checkIn(phone, otherShow.qrCode), /Already used/);
  await screenshot(phone, "door-already-used-phone");
});

scenario("the door is for staff: a fan is told so, and no staff endpoint is called", async (s) => {
  const fan = (await registerUser()).session;
  const page = await s.open("/door", { session: fan });
  await page.getByText("The door check-in is for box office staff.").waitFor();
  assert.equal(await page.getByLabel("Ticket code").count(), 0);
});

scenario("an admin creates a venue and a concert through the pages; published, it appears on the fans' list", async (s) => {
  const admin = await logIn(DEMO.admin);
  const stamp = Date.now();
  const venueName = `Scenario Hall ${stamp}`;
  const page = await s.open("/admin/venues", {
    session: admin,
    expectProblems: errorAnswer(400, "/api/v1/venues"),
  });
  await page.getByLabel("Name", { exact: true }).fill(venueName);
  await page.getByLabel("Address (one line)").fill("7 Scenario Street, Seoul");
  const stalls = page.locator(".venue-section").nth(0);
  await stalls.getByLabel("Section id (letters and digits)").fill("ST");
  await stalls.getByLabel("Section name").fill("Stalls");
  await stalls.getByLabel("Number of rows").fill("4");
  await stalls.getByLabel("Seats per row").fill("12");
  await stalls.getByRole("button", { name: "Fill rows 1, 2, 3…" }).click();
  await page.getByRole("button", { name: "Add a section" }).click();
  const balcony = page.locator(".venue-section").nth(1);
  await balcony.getByLabel("Section id (letters and digits)").fill("BAL-1");
  await balcony.getByLabel("Section name").fill("Balcony");
  await balcony.getByLabel("Row", { exact: true }).fill("A");
  await balcony.getByLabel("Seats in the row").fill("10");
  await page.getByRole("button", { name: "Create venue" }).click();
  // The API's refusal, in words next to the form (a section id with a dash).
  await page.locator("#venue-form .error").getByText(/Please check what you entered: .*BAL-1/).waitFor();
  await balcony.getByLabel("Section id (letters and digits)").fill("BAL");
  await page.getByRole("button", { name: "Create venue" }).click();
  await page.locator(".card h3", { hasText: venueName }).waitFor();
  await checkAxe(page);
  await screenshot(page, "admin-venues-desktop");
  const venue = (await apiExpect(200, "/venues?pageSize=100")).items.find((v) => v.name === venueName);
  assert.equal(venue.capacity, 4 * 12 + 10);
  assert.deepEqual(venue.sections.map((sec) => [sec.sectionId, sec.rows.length]), [["ST", 4], ["BAL", 1]]);

  // The concert, as a draft first: its date opens soon enough to lead the fans' list.
  const title = `Scenario Concert ${stamp}`;
  const concerts = await s.open("/admin/concerts", { session: admin });
  const form = concerts.locator("#concert-form");
  await form.getByLabel("Title", { exact: true }).fill(title);
  await form.getByLabel("Description").fill("Strings and a balcony.");
  await form.getByLabel(/^Category/).fill("CLASSICAL");
  await form.getByLabel("Venue").selectOption(venue.venueId);
  const grades = form.locator(".grade-editor");
  assert.equal(await grades.count(), 2, "one grade per section to start from");
  await grades.nth(0).getByLabel("Grade").fill("R");
  await grades.nth(0).getByLabel("Price per seat (₩)").fill("80000");
  await grades.nth(1).getByLabel("Grade").fill("S");
  await grades.nth(1).getByLabel("Price per seat (₩)").fill("50000");
  const date = form.locator(".date-editor").first();
  const starts = new Date(Date.now() + 2 * DAY_MS);
  starts.setMinutes(0, 0, 0);
  await date.getByLabel("Starts").fill(localValue(starts));
  await date.getByLabel("Ends").fill(localValue(new Date(starts.getTime() + 2 * 60 * 60 * 1000)));
  await date.getByLabel("Booking closes").fill(localValue(starts));
  await form.getByRole("button", { name: "Add a date" }).click();
  assert.equal(await form.locator(".date-editor").count(), 2);
  await form.getByLabel("Visible to fans").selectOption("DRAFT");
  await form.getByRole("button", { name: "Create concert" }).click();
  const item = concerts.locator(".concert-item", { hasText: title });
  await item.waitFor();
  assert.match(await item.textContent(), /Draft/);

  const created = (await apiExpect(200, "/concerts?pageSize=100&sort=createdAt&order=desc", { session: admin })).items.find((c) => c.title === title);
  assert.equal(created.status, "DRAFT");
  const detail = await apiExpect(200, `/concerts/${created.concertId}`, { session: admin });
  assert.equal(detail.schedules.length, 2);
  assert.deepEqual(detail.priceGrades.map((g) => [g.grade, g.price, g.sectionIds]), [["R", 80000, ["ST"]], ["S", 50000, ["BAL"]]]);
  assert.equal(detail.schedules[0].startsAt, rfc3339(starts.getTime()));
  assert.equal((await apiExpect(404, `/concerts/${created.concertId}`)).error.code, "NOT_FOUND", "a draft is hidden from fans");

  await item.getByRole("button", { name: "Publish" }).click();
  await item.locator(".badge.published").waitFor();
  await checkAxe(concerts);
  await screenshot(concerts, "admin-concerts-desktop");

  const fans = await s.open("/");
  await fans.locator(".cards .card h2", { hasText: title }).waitFor();

  // Editing through PATCH: the fans' concert page follows.
  await item.locator("summary").click();
  await item.getByLabel("Category").fill("CHAMBER");
  await item.getByRole("button", { name: "Save changes" }).click();
  await concerts.locator("#notice").getByText(`Saved “${title}”.`).waitFor();
  const fanConcert = await s.open(`/concerts/${created.concertId}`);
  await fanConcert.getByText("CHAMBER").first().waitFor();
});

scenario("an admin cancels a date and sees what was released and refunded", async (s) => {
  const admin = await logIn(DEMO.admin);
  const venue = await demoVenue();
  const concert = await concertWithDates(admin, venue, `Cancelled Night ${Date.now()}`, 1);
  const scheduleId = concert.schedules[0].scheduleId;
  const buyers = [(await registerUser()).session, (await registerUser()).session];
  const bought = [await buyTickets(buyers[0], scheduleId, { quantity: 2 }), await buyTickets(buyers[1], scheduleId)];
  const paidAmount = bought.flat().reduce((sum, t) => sum + t.price, 0);
  await hold((await registerUser()).session, scheduleId, { quantity: 1 });

  const page = await s.open(`/admin/schedules/${scheduleId}?concert=${concert.concertId}`, { session: admin });
  await page.getByRole("heading", { level: 1, name: new RegExp(concert.title) }).waitFor();
  await page.locator(".stats").waitFor();
  await page.getByRole("region", { name: "Reservations" }).waitFor();
  assert.equal(await page.locator(".stats div", { hasText: "Sold" }).locator("dd").textContent(), "3");
  await checkAxe(page);
  await screenshot(page, "admin-schedule-desktop");

  await page.getByRole("button", { name: "Cancel this date…" }).click();
  const confirm = page.locator("form.confirm");
  assert.match(await confirm.textContent(), /every paid booking is refunded in full/);
  assert.match(await confirm.textContent(), /Every seat hold on this date is released/);
  await page.getByRole("button", { name: "No, keep the date" }).click();
  assert.equal(await confirm.count(), 0, "keeping the date changes nothing");
  await page.getByRole("button", { name: "Cancel this date…" }).click();
  await page.getByRole("button", { name: "Yes, cancel the date and refund everyone" }).click();
  const done = page.locator(".success");
  await done.waitFor();
  const words = await done.textContent();
  assert.ok(words.includes("1 hold released, 2 paid bookings refunded"), words);
  assert.ok(words.includes(`₩${paidAmount.toLocaleString("en")} refunded in all`), words);
  await page.locator(".stats div", { hasText: "Refunded" }).getByText(`₩${paidAmount.toLocaleString("en")}`).waitFor();
  await checkAxe(page);
  await screenshot(page, "admin-schedule-cancelled-desktop");

  const sales = await apiExpect(200, `/admin/schedules/${scheduleId}/sales`, { session: admin });
  assert.equal(sales.refunded, paidAmount);
  assert.equal(sales.sold, 0);
});

scenario("an admin finds a user, makes them staff, and is told the last admin keeps the role", async (s) => {
  const admin = await logIn(DEMO.admin);
  const fan = await registerUser({ name: "Future Steward" });
  const page = await s.open("/admin/users", { session: admin, expectProblems: errorAnswer(409, "/role") });
  await page.getByLabel("Find accounts").fill(fan.email);
  await page.getByRole("button", { name: "Search" }).click();
  await page.getByLabel(`Role of ${fan.email}`).selectOption("STAFF");
  await page.locator(`tr[data-user-id="${fan.session.user.userId}"]`).getByRole("button", { name: "Change" }).click();
  await page.locator("#notice").getByText(`${fan.email} is now STAFF.`).waitFor();
  assert.equal((await apiExpect(200, "/auth/me", { session: fan.session })).role, "STAFF");

  const admins = (await apiExpect(200, "/admin/users?pageSize=100", { session: admin })).items.filter((u) => u.role === "ADMIN");
  assert.equal(admins.length, 1, "the demo has one admin (this scenario's last-admin step needs it)");
  await page.getByLabel("Find accounts").fill(DEMO.admin.email);
  await page.getByRole("button", { name: "Search" }).click();
  await page.getByLabel(`Role of ${DEMO.admin.email}`).selectOption("USER");
  await page.locator(`tr[data-user-id="${admin.user.userId}"]`).getByRole("button", { name: "Change" }).click();
  await page.getByRole("alert").getByText("This is the last admin account").waitFor();
  await checkAxe(page);
  await screenshot(page, "admin-users-desktop");
});

scenario("an admin adds a webhook, sees its secret once and its deliveries, and deletes it", async (s) => {
  const admin = await logIn(DEMO.admin);
  const page = await s.open("/admin/webhooks", { session: admin, expectProblems: errorAnswer(400, "/api/v1/admin/webhooks") });
  const url = `http://127.0.0.1:9/scenario-${Date.now()}`;
  await page.getByLabel("URL (http or https)").fill(url);
  await page.getByRole("button", { name: "Create webhook" }).click();
  await page.locator("#webhook-form .error").getByText(/events must name at least one/).waitFor();
  await page.getByRole("checkbox", { name: /^booking\.created/ }).check();
  await page.getByRole("button", { name: "Create webhook" }).click();
  assert.match(await page.locator("#webhook-secret").textContent(), /\S{16,}/);
  const card = page.locator(".webhook", { hasText: url });
  await card.waitFor();

  // An event for it: a hold (the receiver does not answer, so the delivery waits to be retried).
  const concert = await concertWithDates(admin, await demoVenue(), `Webhook Night ${Date.now()}`, 1);
  await hold((await registerUser()).session, concert.schedules[0].scheduleId, { quantity: 1 });
  await card.locator("summary").click();
  // The sender records a delivery shortly after the event: refresh until it shows.
  const delivery = card.getByRole("region", { name: `Deliveries to ${url}` }).getByText("booking.created");
  for (let tries = 0; !(await delivery.isVisible()); tries += 1) {
    assert.ok(tries < 20, "the hold's booking.created delivery is listed within 10 s");
    await page.waitForTimeout(500);
    await card.getByRole("button", { name: "Refresh deliveries" }).click();
  }
  await checkAxe(page);
  await screenshot(page, "admin-webhooks-desktop");

  await card.getByRole("button", { name: "Delete…" }).click();
  await card.getByRole("button", { name: "Yes, delete it" }).click();
  await page.locator("#notice").getByText(`Deleted the webhook to ${url}.`).waitFor();
  const left = await apiExpect(200, "/admin/webhooks?pageSize=100", { session: admin });
  assert.ok(!left.items.some((w) => w.url === url));
});

scenario("the admin start page lists the dates with their sales", async (s) => {
  const admin = await logIn(DEMO.admin);
  const concert = await concertWithDates(admin, await demoVenue(), `Start Page Night ${Date.now()}`, 1);
  await buyTickets((await registerUser()).session, concert.schedules[0].scheduleId, { quantity: 2 });
  for (const device of ["desktop", "phone"]) {
    const page = await s.open("/admin", { session: admin, device });
    const row = page.locator("tr", { hasText: concert.title });
    await row.waitFor();
    assert.match(await row.textContent(), /2 \/ 300/);
    await checkAxe(page);
    if (device === "phone") await checkTouchTargets(page);
    await screenshot(page, `admin-${device}`);
    await row.getByRole("link", { name: concert.title }).click();
    await page.getByRole("heading", { level: 1, name: new RegExp(concert.title) }).waitFor();
  }
});

scenario("where the browser has BarcodeDetector, the door scans a ticket with the camera", async (s) => {
  // Debian's Chromium has no BarcodeDetector on Linux and this machine has no
  // camera: both are stood in for in the page (a detector that reads the code
  // the test puts up, a camera that films a canvas), so what is tested is the
  // page's part: offering the camera only where detection exists, checking
  // in what is read, once per code, and stopping the camera.
  const admin = await logIn(DEMO.admin);
  const staff = await logIn(DEMO.staff);
  const concert = await concertWithDates(admin, await demoVenue(), `Camera Night ${Date.now()}`, 1);
  const show = { concertId: concert.concertId, scheduleId: concert.schedules[0].scheduleId };
  const [ticket] = await buyTickets((await registerUser()).session, show.scheduleId);

  const plain = await doorFor(s, staff, show);
  assert.equal(await plain.getByRole("button", { name: "Scan with the camera" }).count(), 0, "no camera offered without BarcodeDetector");

  const page = await s.open(undefined, { session: staff });
  await page.addInitScript(() => {
    window.BarcodeDetector = class {
      constructor(options) { this.formats = options.formats; }
      async detect() { return window.scanned ? [{ rawValue: window.scanned, format: "qr_code" }] : []; }
    };
    navigator.mediaDevices.getUserMedia = async () => {
      const canvas = Object.assign(document.createElement("canvas"), { width: 320, height: 240 });
      const paint = canvas.getContext("2d");
      setInterval(() => { paint.fillStyle = paint.fillStyle === "#000000" ? "#ffffff" : "#000000"; paint.fillRect(0, 0, 320, 240); }, 50);
      window.cameraStream = canvas.captureStream(20);
      return window.cameraStream;
    };
  });
  await page.goto("/door");
  await page.getByLabel("Concert").selectOption(show.concertId);
  await page.locator(`#door-date option[value="${show.scheduleId}"]`).waitFor({ state: "attached" });
  await page.getByLabel("Date").selectOption(show.scheduleId);
  await page.getByRole("button", { name: "Scan with the camera" }).click();
  await page.getByRole("button", { name: "Stop the camera" }).waitFor();
  assert.ok(await page.locator("video.door-video").isVisible(), "the camera's picture is shown");
  await page.evaluate((code) => { window.scanned = code; }, ticket.qrCode);
  await page.locator(".door-answer.good").getByText(seatWords(ticket.seat)).waitFor();
  // The code stays in front of the camera: it is not checked in again at once.
  await page.waitForTimeout(1500);
  assert.equal(await page.locator(".door-recent li").count(), 1, "one answer for one code held up");
  await checkAxe(page);
  await page.getByRole("button", { name: "Stop the camera" }).click();
  assert.equal(await page.locator("video.door-video").isVisible(), false);
  assert.ok(await page.evaluate(() => window.cameraStream.getTracks().every((t) => t.readyState === "ended")), "the camera is released");
});
