#!/usr/bin/env python3
"""Attributes perf samples of chosen threads to the components of the HTTP
hold path. Input: `perf script -F tid,ip,sym` output (with call graphs).
Each sample goes to the innermost frame that names a known component, so a
malloc called by the JSON parser counts as JSON; generic frames (allocator,
memcpy, kernel) are reported separately as 'where the time is spent'.
Usage: attribute.py <script-file> <tid>[,<tid>...]"""
import collections
import sys

COMPONENTS = [
    ("JWT verification", ["jsonwebtoken", "JwtKeys", "AuthUser"]),
    ("JSON request parsing", ["StrictJson", "JsonBody", "serde_json::de", "serde_json::read"]),
    ("JSON response writing", ["serde_json::ser", "serde_json::value::ser", "HttpResponseBuilder::json"]),
    ("idempotency index", ["idempotency::", "idempotency_key"]),
    ("metrics middleware", ["boxoffice_http::metrics", "prometheus"]),
    ("request id / tracing", ["request_id", "tracing::", "tracing_core", "tracing_subscriber"]),
    ("route handler + views", ["boxoffice_http::routes", "boxoffice_http::views"]),
    ("actor messaging (send/await reply)", ["actix::address", "oneshot", "AddressSender", "actix::handler"]),
    ("engine (schedule actor)", ["boxoffice_engine", "schedule_actor"]),
    ("journal / storage / sled", ["boxoffice_actors::journal", "boxoffice_storage", "sled::"]),
    ("actix routing/middleware", ["actix_web::", "actix_service", "actix_router"]),
    ("HTTP/1 parse + dispatch", ["actix_http", "httparse", "actix_codec"]),
    ("socket send/recv/epoll", ["__libc_send", "__libc_recv", "epoll_wait", "mio::", "PollEvented"]),
    ("runtime (tokio/actix scheduling)", ["tokio::", "actix_rt", "actix::"]),
]
GENERIC = [("allocator", ["malloc", "_int_free", "cfree", "realloc", "__rdl_", "__rust_alloc", "__rust_dealloc"]),
           ("memcpy/memset", ["memmove", "memcpy", "memset"])]


def read(path):
    samples, cur = [], None
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        if not line.strip():
            if cur:
                samples.append(cur)
            cur = None
            continue
        if not line.startswith("\t"):
            cur = (line.split()[0], [])
        elif cur is not None:
            parts = line.strip().split(" ", 1)
            cur[1].append(parts[1] if len(parts) > 1 else "")
    if cur:
        samples.append(cur)
    return samples


def main():
    path, tids = sys.argv[1], set(sys.argv[2].split(","))
    samples = [s for s in read(path) if s[0] in tids]
    comp, generic, kernel = collections.Counter(), collections.Counter(), 0
    for _, frames in samples:
        if frames and frames[0].endswith("([kernel.kallsyms])") or (frames and "[k]" in frames[0]):
            kernel += 1
        for name, pats in GENERIC:
            if frames and any(p in frames[0] for p in pats):
                generic[name] += 1
        for frame in frames:
            hit = next((name for name, pats in COMPONENTS if any(p in frame for p in pats)), None)
            if hit:
                comp[hit] += 1
                break
        else:
            comp["other/unresolved"] += 1
    n = len(samples)
    print(f"{n} samples on threads {sorted(tids)}")
    for name, c in comp.most_common():
        print(f"  {100*c/n:5.1f}%  {name}")
    for name, c in generic.most_common():
        print(f"  (leaf in {name}: {100*c/n:.1f}%)")


if __name__ == "__main__":
    main()
