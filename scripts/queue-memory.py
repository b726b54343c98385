#!/usr/bin/env python3
"""The waiting room's memory in the server alone (issue 13, item 5): the RSS
of a real `boxoffice serve` before a crowd joins and with the crowd in line,
measured from outside, so that no client shares the process (the harness's
stadium run serves HTTP from its own process, next to its 100,000 clients).

One gated schedule whose room admits one user a minute (`maxActive` 1,
`batchSize` 1, `intervalMs` 60,000), so that every joiner stays WAITING.
The users are not signed up: their access tokens are minted here with the
server's configured `BOXOFFICE_JWT_SECRET` (the server checks an access token's
signature and expiry, not a login), which keeps 100,000 argon2 sign-ups out of
the run. Then:
- RSS before the crowd (after a warm-up of WARMUP_JOINS joins and their polls,
  so the server's own start-up allocations are already made);
- every user joins (`POST /queue/tokens`), from --processes client processes
  over keep-alive connections; RSS with the crowd in line;
- every user polls once (`GET /queue/tokens/current`); RSS again;
- the growth per waiting user, and every answer's status (each must be 2xx).

Usage (release binary, fresh temp data dir, stopped with SIGTERM at the end):
    cargo build --release
    python3 scripts/queue-memory.py target/release/boxoffice [--users 100000]

Standard library only. The RSS is read from /proc/<pid>/status (VmRSS).
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import http.client
import json
import multiprocessing
import signal
import sys
import tempfile
import time
import uuid

from local_server import rss_kib, start_server

ADMIN_EMAIL = "admin@queue-memory.test"
ADMIN_PASSWORD = "queue-memory-admin-password-31"
JWT_SECRET = "queue-memory-jwt-secret-0123456789abcdef"
WARMUP_JOINS = 10_000
TOKEN_LIFETIME_S = 3_600
# RSS is read once it stops moving: two reads STABLE_S apart that differ by
# less than STABLE_KIB (the server gives freed pages back a little later),
# at most SETTLE_MAX_S.
STABLE_S = 1.0
STABLE_KIB = 512
SETTLE_MAX_S = 30.0
ENV = {
    "BOXOFFICE_JWT_SECRET": JWT_SECRET,
    # Harmless where unknown; lifts the per-address limits where known
    # (every client here is 127.0.0.1).
    "BOXOFFICE_RATE_LIMITS": "off",
}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def access_token(user_id, now_s):
    """An HS256 access token as the server mints them (http/src/auth.rs, `Claims`)."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {
        "sub": user_id,
        "role": "USER",
        "typ": "access",
        "iat": now_s,
        "exp": now_s + TOKEN_LIFETIME_S,
        "jti": str(uuid.uuid4()),
    }
    payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = hmac.new(JWT_SECRET.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(signature)}"


def call(conn, method, path, body=None, headers=None):
    all_headers = {"Content-Type": "application/json"}
    all_headers.update(headers or {})
    data = None if body is None else json.dumps(body)
    conn.request(method, "/api/v1" + path, body=data, headers=all_headers)
    reply = conn.getresponse()
    return reply.status, reply.read()


def set_up(port):
    """An admin's venue and a concert with one gated schedule, open now."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    status, text = call(conn, "POST", "/auth/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    if status != 200:
        sys.exit(f"admin login: {status} {text[:300]!r}")
    auth = {"Authorization": f"Bearer {json.loads(text)['accessToken']}"}
    status, text = call(
        conn,
        "POST",
        "/venues",
        {
            "name": "Queue Hall",
            "address": "1 Line Street",
            "sections": [{"sectionId": "A", "name": "Floor", "rows": [{"row": "1", "seats": 10}]}],
        },
        auth,
    )
    if status != 201:
        sys.exit(f"venue: {status} {text[:300]!r}")
    venue_id = json.loads(text)["venueId"]
    now = datetime.datetime.now(datetime.timezone.utc)
    iso = lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    starts = now + datetime.timedelta(days=30)
    status, text = call(
        conn,
        "POST",
        "/concerts",
        {
            "title": "Queue memory",
            "description": "one gated schedule whose room admits one user a minute",
            "category": "CONCERT",
            "venueId": venue_id,
            "priceGrades": [{"grade": "R", "price": 1000, "sectionIds": ["A"]}],
            "schedules": [
                {
                    "startsAt": iso(starts),
                    "endsAt": iso(starts + datetime.timedelta(hours=3)),
                    "bookingOpensAt": iso(now - datetime.timedelta(hours=1)),
                    "bookingClosesAt": iso(starts - datetime.timedelta(hours=1)),
                }
            ],
            "queue": {
                "enabled": True,
                "batchSize": 1,
                "intervalMs": 60_000,
                "maxActive": 1,
                "activeSeconds": 3_600,
                "preQueueSeconds": 0,
            },
        },
        auth,
    )
    if status != 201:
        sys.exit(f"concert: {status} {text[:300]!r}")
    return json.loads(text)["schedules"][0]["scheduleId"]


def join_and_poll(args):
    """One client process: joins for `count` new users, then polls each once.
    Returns (join statuses, poll statuses, the last join answer)."""
    port, schedule_id, count, phase = args
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    now_s = int(time.time())
    users = [access_token(str(uuid.uuid4()), now_s) for _ in range(count)]
    joins, tokens, last = {}, [], None
    for token in users:
        status, text = call(conn, "POST", "/queue/tokens", {"scheduleId": schedule_id}, {"Authorization": f"Bearer {token}"})
        joins[status] = joins.get(status, 0) + 1
        if 200 <= status < 300:
            last = json.loads(text)
            tokens.append((token, last["token"]))
    if phase == "join":
        return joins, {}, last, tokens
    return joins, poll(conn, tokens), last, []


def poll(conn, tokens):
    polls = {}
    for access, queue_token in tokens:
        status, _ = call(
            conn,
            "GET",
            "/queue/tokens/current",
            headers={"Authorization": f"Bearer {access}", "Queue-Token": queue_token},
        )
        polls[status] = polls.get(status, 0) + 1
    return polls


def poll_slice(args):
    port, tokens = args
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    return poll(conn, tokens)


def merge(counts):
    total = {}
    for part in counts:
        for status, n in part.items():
            total[status] = total.get(status, 0) + n
    return total


def settled_rss_kib(pid):
    deadline = time.time() + SETTLE_MAX_S
    last = rss_kib(pid)
    while time.time() < deadline:
        time.sleep(STABLE_S)
        now = rss_kib(pid)
        if abs(now - last) < STABLE_KIB:
            return now
        last = now
    return last


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("binary")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=WARMUP_JOINS, help="users who join (and poll) before the baseline")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="boxoffice-queue-memory-") as data_dir:
        proc, port = start_server(args.binary, data_dir, (ADMIN_EMAIL, ADMIN_PASSWORD), ENV)
        try:
            schedule_id = set_up(port)
            with multiprocessing.Pool(args.processes) as pool:
                warm = pool.map(join_and_poll, [(port, schedule_id, args.warmup // args.processes, "both")] * args.processes)
                before = settled_rss_kib(proc.pid)
                share = args.users // args.processes
                started = time.perf_counter()
                parts = pool.map(join_and_poll, [(port, schedule_id, share, "join")] * args.processes)
                join_s = time.perf_counter() - started
                in_line = settled_rss_kib(proc.pid)
                started = time.perf_counter()
                polls = pool.map(poll_slice, [(port, p[3]) for p in parts])
                poll_s = time.perf_counter() - started
                after_polls = settled_rss_kib(proc.pid)
            joins = merge(p[0] for p in parts)
            polled = merge(polls)
            waiting = share * args.processes
            last = [p[2] for p in parts if p[2]]
            print(f"server pid {proc.pid}, {waiting} users joined in {join_s:.1f} s, polled once each in {poll_s:.1f} s")
            print(f"warm-up ({args.warmup} joins and polls) answers: {merge(w[0] for w in warm)} / {merge(w[1] for w in warm)}")
            print(f"join answers: {joins}; poll answers: {polled}")
            if last:
                print(f"a last joiner's answer: position {last[-1].get('position')}, status {last[-1].get('status')}, pollAfterMs {last[-1].get('pollAfterMs')}")
            print(f"server RSS before the crowd: {before / 1024:.1f} MiB")
            print(f"server RSS with the crowd in line: {in_line / 1024:.1f} MiB (+{(in_line - before) / 1024:.1f} MiB, {(in_line - before) * 1024 / waiting:.0f} B per waiting user)")
            print(f"server RSS after one poll each: {after_polls / 1024:.1f} MiB (+{(after_polls - before) / 1024:.1f} MiB, {(after_polls - before) * 1024 / waiting:.0f} B per waiting user)")
            ok = all(200 <= s < 300 for s in list(joins) + list(polled))
            ok = ok and sum(joins.values()) == waiting and sum(polled.values()) == waiting
            print("every join and poll 2xx" if ok else "NOT every join and poll 2xx")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
