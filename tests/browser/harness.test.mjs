// The harness can fail: each check that scenarios rely on is shown catching
// what it is for (an error answer, a console error, an uncaught exception, an
// axe violation), so a green scenario means something.
import assert from "node:assert/strict";
import { api, apiExpect, buyTickets, checkAxe, checkTouchTargets, DEMO, demoSchedules, errorAnswer, logIn, registerUser, scenario, signIn, SESSION_KEY } from "./harness.mjs";

scenario("an error answer of our origin is a problem unless expected", async (s) => {
  const page = await s.open("/docs/");
  await page.evaluate(() => fetch("/api/v1/no-such-thing"));
  assert.throws(() => s.checkProblems(), /HTTP 404: GET .*\/api\/v1\/no-such-thing/);
  s.pages.length = 0; // the assertion above consumed these pages' problems
  const expected = await s.open("/docs/", { expectProblems: errorAnswer(404, "/api/v1/no-such-thing") });
  await expected.evaluate(() => fetch("/api/v1/no-such-thing"));
  s.checkProblems();
  const other = await s.open("/docs/", { expectProblems: errorAnswer(404, "/api/v1/elsewhere") });
  await other.evaluate(() => fetch("/api/v1/no-such-thing"));
  assert.throws(() => s.checkProblems(), (err) => /HTTP 404: GET .*no-such-thing/.test(err.message) && /expected problem .*elsewhere.* did not happen/.test(err.message));
  s.pages.length = 0;
});

scenario("an allowed problem may happen or not", async (s) => {
  const page = await s.open("/docs/", { allowProblems: errorAnswer(404, "/api/v1/maybe") });
  await page.evaluate(() => fetch("/api/v1/maybe"));
  await s.open("/docs/", { allowProblems: errorAnswer(404, "/api/v1/maybe") });
});

scenario("console errors and uncaught exceptions are problems", async (s) => {
  const page = await s.open("/docs/");
  await page.setContent("<p>plain</p>");
  await page.evaluate(() => console.error("boom in the console"));
  await page.evaluate(() => setTimeout(() => { throw new Error("boom uncaught"); }));
  await page.waitForTimeout(100);
  assert.throws(() => s.checkProblems(), (err) => /console error: boom in the console/.test(err.message) && /page error: Error: boom uncaught/.test(err.message));
  s.pages.length = 0;
});

scenario("an expected problem that does not happen fails", async (s) => {
  await s.open("/docs/", { expectProblems: [/HTTP 500/] });
  assert.throws(() => s.checkProblems(), /expected problem \/HTTP 500\/ did not happen/);
  s.pages.length = 0;
});

scenario("checkAxe fails on serious and critical violations", async (s) => {
  const page = await s.open("/docs/");
  await page.setContent(`<html><body><main><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="><button></button></main></body></html>`);
  await assert.rejects(checkAxe(page), (err) => /critical image-alt/.test(err.message) && /critical button-name/.test(err.message));
  await page.setContent(`<html lang="en"><head><title>ok</title></head><body><main><h1>Fine</h1><button>Buy</button></main></body></html>`);
  assert.deepEqual(await checkAxe(page), []);
});

scenario("checkTouchTargets fails on small controls, not on links in a line of text", async (s) => {
  const page = await s.open("/docs/", { device: "phone" });
  await page.setContent(`<main><p>Read <a href="/">the terms</a>.</p><button style="min-height:44px;min-width:44px">Pay</button><a href="/" style="display:inline-block;padding:4px">Seats</a><input type="checkbox" aria-label="Agree"></main>`);
  await assert.rejects(checkTouchTargets(page), (err) => /a "Seats" \d+x\d+/.test(err.message) && /input "Agree"/.test(err.message) && !/terms|Pay/.test(err.message));
  assert.equal(await checkTouchTargets(page, { exclude: "a, input" }), 1);
});

scenario("the API helpers: a whole purchase behind the waiting room", async () => {
  const gated = (await demoSchedules()).find((d) => d.gated);
  assert.ok(gated, "the demo has a gated date");
  const fan = await registerUser();
  const tickets = await buyTickets(fan.session, gated.scheduleId, { quantity: 2 });
  assert.equal(tickets.length, 2);
  assert.ok(tickets.every((t) => t.status === "ISSUED" && t.qrCode && t.schedule.scheduleId === gated.scheduleId));
  const staff = await logIn(DEMO.staff);
  const checkin = await apiExpect(200, "/checkins", { session: staff, body: { qrCode: tickets[0].qrCode, scheduleId: gated.scheduleId } });
  assert.equal(checkin.valid, true);
});

scenario("the API helpers: a fresh user, the demo accounts, a seeded session", async (s) => {
  const fan = await registerUser();
  assert.equal((await apiExpect(200, "/auth/me", { session: fan.session })).email, fan.email);
  const admin = await logIn(DEMO.admin);
  assert.equal(admin.user.role, "ADMIN");
  assert.equal((await api("/auth/me")).status, 401);
  const page = await s.open("/docs/", { session: fan.session });
  assert.deepEqual(JSON.parse(await page.evaluate((k) => localStorage.getItem(k), SESSION_KEY)), fan.session);
  const tab = await s.open("/docs/", { beside: page });
  assert.equal(tab.context(), page.context());
  assert.deepEqual(JSON.parse(await tab.evaluate((k) => localStorage.getItem(k), SESSION_KEY)), fan.session);
  const other = await s.open("/docs/");
  assert.notEqual(other.context(), page.context());
  assert.equal(await other.evaluate((k) => localStorage.getItem(k), SESSION_KEY), null);
  await signIn(other, admin);
  await other.reload();
  assert.equal(JSON.parse(await other.evaluate((k) => localStorage.getItem(k), SESSION_KEY)).user.role, "ADMIN");
});
