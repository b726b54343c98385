#!/usr/bin/env python3
"""Charge storm (issue 20, item 3): one user charges 1 N times, each under a
fresh Idempotency-Key, against a real `boxoffice serve` on loopback; prints
the server's memory (VmRSS from /proc) before and after, the data dir's
size, and the latency of `GET /wallet/transactions` pages at the end.

Before ledgers were archived every charge stayed in memory (and in every
wallet snapshot) for ever; now a wallet keeps its newest entries and a
snapshot moves the rest to the store (actors/src/wallet_ledger.rs), so a
page costs at most a page of point reads whatever the history.

Usage (fresh temp data dir, stopped with SIGTERM at the end):
    cargo build --release --bin boxoffice
    python3 scripts/charge-storm.py target/release/boxoffice [--charges 260000] [--store-cache-mb 8] [-- extra serve flags]
Run it on an older binary to compare. Standard library only.
"""

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from local_server import dir_bytes, rss_kib, start_server

ADMIN_EMAIL = "admin@storm.test"
ADMIN_PASSWORD = "storm-admin-password-77"
NO_LIMITS = {
    # Harmless where unknown; lifts the per-user limits where known.
    "BOXOFFICE_RATE_LIMITS": "off",
    "BOXOFFICE_MAX_CHARGES_PER_DAY": "4294967295",
    "BOXOFFICE_MAX_NEW_IDEMPOTENCY_KEYS_PER_DAY": "0",
}
REQUEST_TIMEOUT_S = 120
PAGE_SIZE = 100
# GETs timed per page position at the end.
PAGE_SAMPLES = 200


class Client:
    """One keep-alive connection."""

    def __init__(self, port, token=None):
        self.port, self.token = port, token
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)

    def call(self, method, path, body=None, key=None):
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if key:
            headers["Idempotency-Key"] = key
        started = time.perf_counter()
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                return response.status, data, time.perf_counter() - started
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT_S)
        return 0, b"", time.perf_counter() - started


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--charges", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--store-cache-mb", type=int, default=None, help="BOXOFFICE_STORE_CACHE_MB for the server"
    )
    # Everything after `--` goes to `serve` as it is.
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: len(argv) - len(extra) - (1 if "--" in argv else 0)])
    args.extra = extra
    if args.store_cache_mb is not None:
        os.environ["BOXOFFICE_STORE_CACHE_MB"] = str(args.store_cache_mb)

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = os.path.join(tmp, "data")
        proc, port = start_server(
            args.binary, data_dir, (ADMIN_EMAIL, ADMIN_PASSWORD), NO_LIMITS, args.extra
        )
        try:
            status, body, _ = Client(port).call(
                "POST", "/api/v1/auth/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
            )
            if status != 200:
                sys.exit(f"admin login: {status} {body[:200]!r}")
            token = json.loads(body)["accessToken"]
            status, body, _ = Client(port, token).call("POST", "/api/v1/wallet/charges", {"amount": 1}, "warm-up")
            if status != 201:
                sys.exit(f"warm-up charge: {status} {body[:200]!r}")
            time.sleep(0.5)
            rss_before, bytes_before = rss_kib(proc.pid), dir_bytes(data_dir)

            counter = iter(range(1, args.charges))
            lock = threading.Lock()
            statuses = {}

            def lane():
                client = Client(port, token)
                while True:
                    with lock:
                        n = next(counter, None)
                    if n is None:
                        return
                    status, _, _ = client.call("POST", "/api/v1/wallet/charges", {"amount": 1}, f"storm-{n}")
                    with lock:
                        statuses[status] = statuses.get(status, 0) + 1

            started = time.perf_counter()
            lanes = [threading.Thread(target=lane) for _ in range(args.concurrency)]
            for t in lanes:
                t.start()
            for t in lanes:
                t.join()
            took = time.perf_counter() - started
            time.sleep(1.0)
            rss_after, bytes_after = rss_kib(proc.pid), dir_bytes(data_dir)

            reader = Client(port, token)
            status, body, _ = reader.call("GET", f"/api/v1/wallet/transactions?page=1&pageSize={PAGE_SIZE}")
            total = json.loads(body).get("total") if status == 200 else None
            pages = max(1, -(-(total or 1) // PAGE_SIZE))
            timings = {}
            for name, page in (("first", 1), ("middle", pages // 2 + 1), ("last", pages)):
                took_ms = []
                for _ in range(PAGE_SAMPLES):
                    status, _, seconds = reader.call(
                        "GET", f"/api/v1/wallet/transactions?page={page}&pageSize={PAGE_SIZE}"
                    )
                    if status != 200:
                        sys.exit(f"GET page {page}: {status}")
                    took_ms.append(seconds * 1000)
                timings[name] = took_ms

            print(
                f"binary: {args.binary} {' '.join(args.extra)} "
                f"(BOXOFFICE_STORE_CACHE_MB={os.environ.get('BOXOFFICE_STORE_CACHE_MB', 'default')})"
            )
            print(
                f"charges: {args.charges} of 1 by one user, {args.concurrency} in flight, unique keys; "
                f"took {took:.1f} s ({args.charges / took:.0f}/s); answers {dict(sorted(statuses.items()))}"
            )
            print(
                f"memory: RSS {rss_before / 1024:.1f} MiB before, {rss_after / 1024:.1f} MiB after "
                f"(+{(rss_after - rss_before) / 1024:.1f} MiB)"
            )
            print(
                f"data dir: {bytes_before / 2**20:.1f} MiB before, {bytes_after / 2**20:.1f} MiB after"
            )
            print(f"ledger total: {total}")
            for name, took_ms in timings.items():
                print(
                    f"GET /wallet/transactions {name} page (pageSize {PAGE_SIZE}), {PAGE_SAMPLES} calls: "
                    f"p50 {statistics.median(took_ms):.2f} ms, p99 {percentile(took_ms, 0.99):.2f} ms"
                )
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
