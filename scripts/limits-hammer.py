#!/usr/bin/env python3
"""Charge hammer (issue 20, item 3): one user sends N wallet charges of 1, each
under a fresh Idempotency-Key, against a real `boxoffice serve` on loopback,
once per configuration in the same run, and the server's memory (RSS, from
/proc) and data dir size are read before and after.

Configurations (each on a fresh temp data dir):
- unlimited: no rate limits, no key quota, no daily charge count (what the
  server did before these limits: every charge a permanent ledger entry,
  every key a stored record);
- quotas: rate limits off (as benchmarks run), the daily key quota and the
  daily charge count at their defaults;
- defaults: everything at its default (rate limits on).

Usage (fresh temp data dirs, each server stopped with SIGTERM at the end):
    cargo build --bin boxoffice
    python3 scripts/limits-hammer.py target/debug/boxoffice [--requests 20000] [--threads 4]

Prints one line per configuration. Standard library only.
"""

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

from local_server import dir_bytes, rss_kib, start_server

ADMIN_EMAIL = "admin@hammer.test"
ADMIN_PASSWORD = "hammer-admin-password-77"
SETTLE_S = 1.0
U32_MAX = str(2**32 - 1)

CONFIGURATIONS = [
    (
        "unlimited",
        {
            "BOXOFFICE_RATE_LIMITS": "off",
            "BOXOFFICE_MAX_NEW_IDEMPOTENCY_KEYS_PER_DAY": "0",
            "BOXOFFICE_MAX_CHARGES_PER_DAY": U32_MAX,
        },
    ),
    ("quotas", {"BOXOFFICE_RATE_LIMITS": "off"}),
    ("defaults", {}),
]


def post(conn, path, body, headers):
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json", **headers})
    response = conn.getresponse()
    data = response.read()
    return response.status, data


def run(binary, name, env_extra, requests, threads):
    with tempfile.TemporaryDirectory() as work:
        data_dir = os.path.join(work, "data")
        proc, port = start_server(binary, data_dir, (ADMIN_EMAIL, ADMIN_PASSWORD), env_extra)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            status, data = post(conn, "/api/v1/auth/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}, {})
            if status != 200:
                sys.exit(f"login: {status} {data[:200]!r}")
            token = json.loads(data)["accessToken"]
            time.sleep(SETTLE_S)
            rss_before, disk_before = rss_kib(proc.pid), dir_bytes(data_dir)
            statuses = {}
            lock = threading.Lock()

            def hammer(first, count):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                mine = {}
                for n in range(first, first + count):
                    status, _ = post(
                        conn,
                        "/api/v1/wallet/charges",
                        {"amount": 1},
                        {"Authorization": f"Bearer {token}", "Idempotency-Key": f"hammer-{n}"},
                    )
                    mine[status] = mine.get(status, 0) + 1
                with lock:
                    for status, seen in mine.items():
                        statuses[status] = statuses.get(status, 0) + seen

            share = requests // threads
            workers = [threading.Thread(target=hammer, args=(i * share, share)) for i in range(threads)]
            started = time.perf_counter()
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            took = time.perf_counter() - started
            time.sleep(SETTLE_S)
            rss_after, disk_after = rss_kib(proc.pid), dir_bytes(data_dir)
            print(
                f"{name:>9}: {share * threads} charges in {took:.1f} s; answers {dict(sorted(statuses.items()))}; "
                f"RSS {rss_before / 1024:.1f} -> {rss_after / 1024:.1f} MiB (+{(rss_after - rss_before) / 1024:.1f}); "
                f"data dir {disk_before / 2**20:.1f} -> {disk_after / 2**20:.1f} MiB (+{(disk_after - disk_before) / 2**20:.1f})",
                flush=True,
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    print(f"binary: {args.binary}; one user, fresh key per charge", flush=True)
    for name, env_extra in CONFIGURATIONS:
        run(args.binary, name, env_extra, args.requests, args.threads)


if __name__ == "__main__":
    main()
