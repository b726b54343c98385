// The README's whole flow through the TypeScript client: types generated from
// Boxoffice's OpenAPI document by openapi-typescript (schema.ts), calls
// made with openapi-fetch. Against a running server: register, log in,
// browse, queue (poll until ACTIVE), hold, top up, pay, ticket, check in
// (staff), cancel with a refund, and an admin's venue and concert. Each step
// prints what it got; a failed step stops the run there with its status and
// body. Run by scripts/clients/run.sh (which generates schema.ts first);
// type-checked with `tsc --noEmit` (strict).
//
// Usage: node out/flow.js BASE_URL   (e.g. http://127.0.0.1:8080)

import createClient from "openapi-fetch";
import { randomUUID } from "node:crypto";
import type { components, paths } from "./schema.js";

type Schemas = components["schemas"];

/** The longest the flow waits for the waiting room to admit it. */
const QUEUE_WAIT_MS = 60_000;
const RUN = randomUUID().replaceAll("-", "").slice(0, 12);
let steps = 0;

function fail(step: string, why: string): never {
  console.error(`FAIL ${step}: ${why}`);
  process.exit(1);
}

/** The body of a step's answer, or the run stops at this step. */
async function expect<T>(
  step: string,
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
  status: number,
): Promise<T> {
  const { data, error, response } = await call;
  if (response.status !== status || data === undefined) {
    fail(step, `expected ${status}, got ${response.status}: ${JSON.stringify(error ?? data)}`);
  }
  steps += 1;
  return data;
}

/** The error body of a step that must fail with this status and code. */
async function expectError(
  step: string,
  call: Promise<{ error?: Schemas["ErrorBody"]; response: Response }>,
  status: number,
  code: string,
): Promise<void> {
  const { error, response } = await call;
  if (response.status !== status || error?.error.code !== code) {
    fail(step, `expected ${status} ${code}, got ${response.status}: ${JSON.stringify(error)}`);
  }
  steps += 1;
}

/** A fresh Idempotency-Key per run and step (a fixed one would replay an earlier run). */
const key = (step: string): string => `ts-${RUN}-${step}`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(base: string): Promise<void> {
  const api = createClient<paths>({ baseUrl: base });
  const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

  async function loginAs(email: string, password: string): Promise<Record<string, string>> {
    const tokens = await expect(
      `login ${email}`,
      api.POST("/api/v1/auth/login", { body: { email, password } }),
      200,
    );
    console.log(`login ${email}: role ${tokens.user.role}`);
    return bearer(tokens.accessToken);
  }

  const email = `ts-${RUN}@example.com`;
  const password = `flow-${RUN}-password`;
  const user = await expect(
    "register",
    api.POST("/api/v1/auth/register", { body: { email, password, name: "TypeScript Flow" } }),
    201,
  );
  console.log(`register: userId ${user.userId}`);
  const auth = await loginAs(email, password);
  const me = await expect("me", api.GET("/api/v1/auth/me", { headers: auth }), 200);
  if (me.userId !== user.userId) fail("me", `${me.userId} is not ${user.userId}`);

  // browse: the gated Aurora Live date
  const concerts = await expect(
    "list concerts",
    api.GET("/api/v1/concerts", { params: { query: { q: "aurora" } } }),
    200,
  );
  const summary = concerts.items[0];
  if (summary === undefined) fail("list concerts", "no concert matches 'aurora' (is the server running with --demo?)");
  const concertId = summary.concertId;
  console.log(`browse: concertId ${concertId}`);
  const concert = await expect(
    "get concert",
    api.GET("/api/v1/concerts/{concertId}", { params: { path: { concertId } } }),
    200,
  );
  const gated = concert.schedules[0];
  if (gated === undefined) fail("get concert", "no schedules");
  const scheduleId = gated.scheduleId;
  const schedules = await expect(
    "list schedules",
    api.GET("/api/v1/concerts/{concertId}/schedules", {
      params: { path: { concertId }, query: { page: 1, pageSize: 10 } },
    }),
    200,
  );
  if (!schedules.items.some((s) => s.scheduleId === scheduleId)) fail("list schedules", `${scheduleId} not listed`);
  console.log(`browse: scheduleId ${scheduleId}`);

  // the waiting room: join, then poll until ACTIVE at the pace the server asks
  let place = await expect(
    "join queue",
    api.POST("/api/v1/queue/tokens", { headers: auth, body: { scheduleId } }),
    201,
  );
  const queueToken = place.token;
  console.log(`queue: ${place.status} at position ${place.position}`);
  const deadline = Date.now() + QUEUE_WAIT_MS;
  while (place.status !== "ACTIVE") {
    if (Date.now() > deadline) fail("queue", `not ACTIVE after ${QUEUE_WAIT_MS} ms (status ${place.status})`);
    await sleep(place.pollAfterMs);
    place = await expect(
      "poll queue",
      api.GET("/api/v1/queue/tokens/current", { headers: auth, params: { header: { "Queue-Token": queueToken } } }),
      200,
    );
    console.log(`queue: ${place.status} at position ${place.position}`);
  }

  const seats = await expect(
    "seat map",
    api.GET("/api/v1/schedules/{scheduleId}/seats", {
      headers: auth,
      params: { path: { scheduleId }, query: { section: "VIP" }, header: { "Queue-Token": queueToken } },
    }),
    200,
  );
  console.log(`seat map: ${seats.summary.available} of ${seats.summary.total} available`);

  // hold two best VIP seats, top up, pay
  const hold = await expect(
    "hold",
    api.POST("/api/v1/reservations", {
      headers: auth,
      params: { header: { "Idempotency-Key": key("hold"), "Queue-Token": queueToken } },
      body: { scheduleId, quantity: 2, grade: "VIP" },
    }),
    201,
  );
  console.log(`hold: reservationId ${hold.reservationId} (${hold.reservationNumber}), total ${hold.totalAmount}`);
  const charge = await expect(
    "charge",
    api.POST("/api/v1/wallet/charges", {
      headers: auth,
      params: { header: { "Idempotency-Key": key("charge") } },
      body: { amount: hold.totalAmount * 2 },
    }),
    201,
  );
  // The 201 (a direct top-up) or the 202 (a card one): this one is direct.
  if (!("balance" in charge)) fail("charge", "a direct top-up answered as a card one");
  console.log(`charge: transactionId ${charge.transactionId}, balance ${charge.balance}`);
  const paid = await expect(
    "pay",
    api.POST("/api/v1/payments", {
      headers: auth,
      params: { header: { "Idempotency-Key": key("pay"), "Queue-Token": queueToken } },
      body: { reservationId: hold.reservationId, amount: hold.totalAmount },
    }),
    201,
  );
  // The 201 (the wallet) or the 202 (a card payment): this one is the wallet's.
  if (!("balanceAfter" in paid)) fail("pay", "a wallet payment answered as a card one");
  // balanceAfter is required in the 201's schema: a number, no undefined check needed.
  const balanceAfter: number = paid.balanceAfter;
  console.log(`pay: paymentId ${paid.paymentId}, balanceAfter ${balanceAfter}`);
  const record = await expect(
    "get payment",
    api.GET("/api/v1/payments/{paymentId}", { headers: auth, params: { path: { paymentId: paid.paymentId } } }),
    200,
  );
  if (record.amount !== hold.totalAmount) fail("get payment", `amount ${record.amount}, expected ${hold.totalAmount}`);

  // the ticket and check-in at the door (staff)
  const line = paid.tickets[0];
  if (line === undefined) fail("pay", "no tickets issued");
  const ticketId = line.ticketId;
  const ticket = await expect(
    "get ticket",
    api.GET("/api/v1/tickets/{ticketId}", { headers: auth, params: { path: { ticketId } } }),
    200,
  );
  console.log(`ticket: ticketId ${ticket.ticketId}, seat ${ticket.seat.seatId}`);
  const tickets = await expect("list tickets", api.GET("/api/v1/tickets", { headers: auth }), 200);
  if (!tickets.items.some((t) => t.ticketId === ticketId)) fail("list tickets", `${ticketId} not listed`);
  const staff = await loginAs("staff@demo.boxoffice", "demo-staff-pass");
  const admitted = await expect(
    "check in",
    api.POST("/api/v1/checkins", { headers: staff, body: { qrCode: ticket.qrCode } }),
    200,
  );
  console.log(`check in: ticketId ${admitted.ticketId} admitted`);
  await expectError(
    "check in again",
    api.POST("/api/v1/checkins", { headers: staff, body: { qrCode: ticket.qrCode } }),
    409,
    "TICKET_ALREADY_USED",
  );

  // cancel and refund: a second paid hold on an ungated date of the same concert
  const openDate = concert.schedules.find((s) => !s.queue?.enabled);
  if (openDate === undefined) fail("cancel", "the demo concert has no ungated date");
  const second = await expect(
    "second hold",
    api.POST("/api/v1/reservations", {
      headers: auth,
      params: { header: { "Idempotency-Key": key("hold-2") } },
      body: { scheduleId: openDate.scheduleId, quantity: 1 },
    }),
    201,
  );
  console.log(`second hold: reservationId ${second.reservationId}`);
  await expect(
    "second payment",
    api.POST("/api/v1/payments", {
      headers: auth,
      params: { header: { "Idempotency-Key": key("pay-2") } },
      body: { reservationId: second.reservationId },
    }),
    201,
  );
  const before = await expect("wallet", api.GET("/api/v1/wallet", { headers: auth }), 200);
  const cancelled = await expect(
    "cancel",
    api.POST("/api/v1/reservations/{reservationId}/cancel", {
      headers: auth,
      params: { path: { reservationId: second.reservationId } },
    }),
    200,
  );
  const after = await expect("wallet after refund", api.GET("/api/v1/wallet", { headers: auth }), 200);
  if (cancelled.refundAmount !== second.totalAmount || after.balance !== before.balance + second.totalAmount) {
    fail("cancel", `refund ${cancelled.refundAmount}, balance ${before.balance} -> ${after.balance}`);
  }
  if (cancelled.status !== "CANCELLED") fail("cancel", cancelled.status);
  console.log(`cancel: refundAmount ${cancelled.refundAmount}, balance ${after.balance}`);

  // an admin creates a venue and a concert on it
  const admin = await loginAs("admin@demo.boxoffice", "demo-admin-pass");
  const venue = await expect(
    "create venue",
    api.POST("/api/v1/venues", {
      headers: admin,
      body: {
        name: `TypeScript Hall ${RUN}`,
        address: "1 River Road, Seoul",
        sections: [{ sectionId: "A", name: "Stalls", rows: [{ row: "1", seats: 10 }, { row: "2", seats: 10 }] }],
      },
    }),
    201,
  );
  console.log(`create venue: venueId ${venue.venueId}, capacity ${venue.capacity}`);
  const day = 24 * 3600 * 1000;
  const startsAt = new Date(Math.floor(Date.now() / 1000) * 1000 + 30 * day);
  const iso = (at: Date) => at.toISOString().replace(".000Z", "Z");
  const created = await expect(
    "create concert",
    api.POST("/api/v1/concerts", {
      headers: admin,
      body: {
        title: `TypeScript Quartet ${RUN}`,
        description: "made by the generated TypeScript client",
        category: "CLASSICAL",
        venueId: venue.venueId,
        priceGrades: [{ grade: "R", price: 50_000, sectionIds: ["A"] }],
        schedules: [
          {
            startsAt: iso(startsAt),
            endsAt: iso(new Date(startsAt.getTime() + 2 * 3600 * 1000)),
            bookingOpensAt: iso(new Date(startsAt.getTime() - 29 * day)),
            bookingClosesAt: iso(new Date(startsAt.getTime() - 3600 * 1000)),
          },
        ],
      },
    }),
    201,
  );
  console.log(`create concert: concertId ${created.concertId}, scheduleId ${created.schedules[0]?.scheduleId}`);
  console.log(`typescript client: all ${steps} steps passed`);
}

const base = process.argv[2];
if (base === undefined) fail("usage", "node out/flow.js BASE_URL");
await main(base);
