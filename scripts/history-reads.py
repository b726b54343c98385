#!/usr/bin/env python3
"""History reads (issue 20, item 7): what one page of a list costs as history grows,
measured from outside against a real `boxoffice serve` on loopback.

Two figures, each as latency percentiles of sequential GETs (one client, keep-alive):
- a user's lists, `GET /reservations?pageSize=20` and `GET /tickets?pageSize=20`, after
  a short history (CYCLES_SMALL hold-and-cancel cycles) and after a long one (--cycles);
  every tenth cycle pays before cancelling, so tickets (void after the refund) exist;
- the anonymous catalogue, `GET /concerts?pageSize=100`, over --concerts concerts of
  --dates dates each.

Usage (release binary, fresh temp data dir, stopped with SIGTERM at the end):
    cargo build --release
    python3 scripts/history-reads.py target/release/boxoffice [--cycles 6000] [--concerts 100]

Run it on two binaries back to back to compare builds (the machine drifts; compare
within one invocation of each). Standard library only.
"""

import argparse
import datetime
import http.client
import json
import signal
import statistics
import sys
import tempfile
import time
import uuid

from local_server import start_server

ADMIN_EMAIL = "admin@history.test"
ADMIN_PASSWORD = "history-admin-password-77"
USER_PASSWORD = "violet-harbour-4711"
NO_LIMITS = {
    # Harmless where unknown; lifts the per-user limits where known.
    "BOXOFFICE_RATE_LIMITS": "off",
    "BOXOFFICE_MAX_CHARGES_PER_DAY": "4294967295",
    "BOXOFFICE_MAX_NEW_IDEMPOTENCY_KEYS_PER_DAY": "0",
}
CYCLES_SMALL = 10
PAY_EVERY = 10
READS = 200


class Client:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.token = None

    def call(self, method, path, body=None, key=False, expect=(200, 201)):
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if key:
            headers["Idempotency-Key"] = str(uuid.uuid4())
        data = None if body is None else json.dumps(body)
        self.conn.request(method, "/api/v1" + path, body=data, headers=headers)
        reply = self.conn.getresponse()
        text = reply.read()
        if reply.status not in expect:
            sys.exit(f"{method} {path}: {reply.status} {text[:300]!r}")
        return json.loads(text) if text else None

    def login(self, email, password):
        self.token = self.call("POST", "/auth/login", {"email": email, "password": password})[
            "accessToken"
        ]


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def set_up_catalogue(admin, concerts, dates):
    venue = admin.call(
        "POST",
        "/venues",
        {
            "name": "History Hall",
            "address": "1 Archive Road",
            "sections": [
                {"sectionId": "A", "name": "Stalls", "rows": [{"row": str(r), "seats": 50} for r in range(1, 5)]}
            ],
        },
    )
    now = datetime.datetime.now(datetime.timezone.utc)
    schedule_ids = []
    for c in range(concerts):
        schedules = []
        for d in range(dates):
            starts = now + datetime.timedelta(days=30 + d)
            schedules.append(
                {
                    "startsAt": iso(starts),
                    "endsAt": iso(starts + datetime.timedelta(hours=3)),
                    "bookingOpensAt": iso(now - datetime.timedelta(days=1)),
                    "bookingClosesAt": iso(starts - datetime.timedelta(hours=1)),
                }
            )
        concert = admin.call(
            "POST",
            "/concerts",
            {
                "title": f"History concert {c}",
                "description": "a concert of the history-reads script",
                "category": "CONCERT",
                "venueId": venue["venueId"],
                "priceGrades": [{"grade": "R", "price": 1000, "sectionIds": ["A"]}],
                "schedules": schedules,
                "maxSeatsPerUser": 4,
            },
        )
        schedule_ids.extend(s["scheduleId"] for s in concert["schedules"])
    return schedule_ids


def cycles(user, schedule_id, count, start):
    for n in range(start, start + count):
        hold = user.call("POST", "/reservations", {"scheduleId": schedule_id, "quantity": 1}, key=True)
        if n % PAY_EVERY == 0:
            user.call("POST", "/payments", {"reservationId": hold["reservationId"]}, key=True)
        user.call("POST", f"/reservations/{hold['reservationId']}/cancel")


def percentiles(samples_ms):
    ordered = sorted(samples_ms)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]
    return f"p50 {statistics.median(ordered):.2f} ms, p99 {pick(0.99):.2f} ms"


def time_reads(client, path):
    samples = []
    for _ in range(READS):
        began = time.perf_counter()
        client.call("GET", path)
        samples.append((time.perf_counter() - began) * 1000)
    return percentiles(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary")
    parser.add_argument("--cycles", type=int, default=6000)
    parser.add_argument("--concerts", type=int, default=100)
    parser.add_argument("--dates", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="history-reads-") as data_dir:
        proc, port = start_server(args.binary, data_dir, (ADMIN_EMAIL, ADMIN_PASSWORD), NO_LIMITS)
        try:
            admin = Client(port)
            admin.login(ADMIN_EMAIL, ADMIN_PASSWORD)
            began = time.time()
            schedule_ids = set_up_catalogue(admin, args.concerts, args.dates)
            print(f"catalogue: {args.concerts} concerts x {args.dates} dates in {time.time() - began:.1f} s")
            anonymous = Client(port)
            print(f"GET /concerts?pageSize=100, anonymous: {time_reads(anonymous, '/concerts?pageSize=100')}")

            user = Client(port)
            user.call("POST", "/auth/register", {"email": "fan@history.test", "password": USER_PASSWORD, "name": "Fan"})
            user.login("fan@history.test", USER_PASSWORD)
            user.call("POST", "/wallet/charges", {"amount": 10_000_000}, key=True)
            cycles(user, schedule_ids[0], CYCLES_SMALL, 0)
            for path in ("/reservations?pageSize=20", "/tickets?pageSize=20"):
                print(f"after {CYCLES_SMALL} cycles, GET {path}: {time_reads(user, path)}")
            began = time.time()
            cycles(user, schedule_ids[0], args.cycles - CYCLES_SMALL, CYCLES_SMALL)
            print(f"{args.cycles} cycles in all ({time.time() - began:.1f} s for the rest)")
            for path in ("/reservations?pageSize=20", "/tickets?pageSize=20"):
                print(f"after {args.cycles} cycles, GET {path}: {time_reads(user, path)}")
            total = user.call("GET", "/reservations?pageSize=1")
            print(f"reservations listed in all: {total.get('total')}")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
