#!/usr/bin/env python3
"""Login storm (issue 20, item 4): N concurrent logins for unknown emails
against a real `boxoffice serve` on loopback, measuring the server's memory
and threads (from /proc) and /healthz latency during the storm.

Each login of an unknown email costs one argon2 verification (against the
decoy hash, so the answer takes as long as for a real account): 19 MiB and
tens of milliseconds each. Without a bound they all run at once; with the
hashing semaphore at most `--password-hashing-permits` do, and the rest are
answered 503 with Retry-After after a short wait.

Usage (release binary, fresh temp data dir, stopped with SIGTERM at the end):
    cargo build --release
    python3 scripts/login-storm.py target/release/boxoffice [--logins 500] [-- extra serve flags]

Prints one summary block; figures are recorded in RELIABILITY.md.
Standard library only.
"""

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import tempfile
import threading
import time

from local_server import start_server

ADMIN_EMAIL = "admin@storm.test"
ADMIN_PASSWORD = "storm-admin-password-77"
# How often the sampler reads /proc and the prober asks /healthz.
SAMPLE_EVERY_S = 0.02
PROBE_EVERY_S = 0.05
REQUEST_TIMEOUT_S = 120


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    kb = lambda key: int(fields[key].split()[0])
    return kb("VmRSS"), kb("VmHWM"), int(fields["Threads"])


def request(port, method, path, body=None):
    """(status, seconds); status 0 when no answer came."""
    started = time.perf_counter()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = conn.getresponse()
        response.read()
        status = response.status
        retry_after = response.getheader("Retry-After")
        conn.close()
    except OSError:
        return 0, time.perf_counter() - started, None
    return status, time.perf_counter() - started, retry_after


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--logins", type=int, default=500)
    parser.add_argument("extra", nargs="*", help="extra `serve` flags (after --)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as data_dir:
        proc, port = start_server(
            args.binary,
            os.path.join(data_dir, "data"),
            (ADMIN_EMAIL, ADMIN_PASSWORD),
            # It measures argon2 under a storm, not the rate limits.
            {"BOXOFFICE_RATE_LIMITS": "off"},
            args.extra,
        )
        try:
            time.sleep(0.5)
            idle_rss, _, idle_threads = proc_status(proc.pid)
            idle_health = [request(port, "GET", "/healthz")[1] for _ in range(20)]

            stop = threading.Event()
            samples, probes = [], []

            def sampler():
                while not stop.is_set():
                    samples.append(proc_status(proc.pid))
                    time.sleep(SAMPLE_EVERY_S)

            def prober():
                while not stop.is_set():
                    status, took, _ = request(port, "GET", "/healthz")
                    probes.append((status, took))
                    time.sleep(PROBE_EVERY_S)

            barrier = threading.Barrier(args.logins + 1)
            results = [None] * args.logins

            def login(i):
                body = {"email": f"storm-{i}@storm.test", "password": "not-the-password-1"}
                barrier.wait()
                results[i] = request(port, "POST", "/api/v1/auth/login", body)

            workers = [threading.Thread(target=login, args=(i,)) for i in range(args.logins)]
            for worker in workers:
                worker.start()
            watchers = [threading.Thread(target=sampler), threading.Thread(target=prober)]
            for watcher in watchers:
                watcher.start()
            storm_started = time.perf_counter()
            barrier.wait()
            for worker in workers:
                worker.join()
            storm_took = time.perf_counter() - storm_started
            stop.set()
            for watcher in watchers:
                watcher.join()
            after_rss, hwm, _ = proc_status(proc.pid)
            after = request(
                port, "POST", "/api/v1/auth/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
            )

            statuses = {}
            for status, _, _ in results:
                statuses[status] = statuses.get(status, 0) + 1
            retry_after_ok = all(r is not None for s, _, r in results if s == 503)
            health_ms = [took * 1000 for status, took in probes]
            health_bad = sum(1 for status, _ in probes if status != 200)
            peak_rss = max(rss for rss, _, _ in samples)
            peak_threads = max(threads for _, _, threads in samples)
            print(f"binary: {args.binary} {' '.join(args.extra)}")
            print(f"logins: {args.logins} concurrent, unknown emails; took {storm_took:.2f} s")
            print(f"answers: {dict(sorted(statuses.items()))}; every 503 has Retry-After: {retry_after_ok}")
            print(
                f"memory: idle RSS {idle_rss / 1024:.0f} MiB, peak RSS during the storm "
                f"{peak_rss / 1024:.0f} MiB (VmHWM {hwm / 1024:.0f} MiB), after {after_rss / 1024:.0f} MiB"
            )
            print(f"threads: idle {idle_threads}, peak {peak_threads}")
            print(
                f"/healthz idle: p50 {statistics.median(idle_health) * 1000:.1f} ms; during the storm: "
                f"{len(health_ms)} probes, p50 {statistics.median(health_ms):.1f} ms, "
                f"p99 {percentile(health_ms, 0.99):.1f} ms, max {max(health_ms):.1f} ms, non-200 {health_bad}"
            )
            print(f"admin login after the storm: {after[0]} in {after[1] * 1000:.0f} ms")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
