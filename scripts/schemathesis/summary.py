"""Per-operation status counts of a fuzz pass, from schemathesis' HAR report.

    python3 scripts/schemathesis/summary.py PASS.har

scripts/fuzz.sh prints this when FUZZ_REPORT_DIR is set, to show how far the
generated requests got (2xx = the success body was checked too). Requests
with methods the document does not list (schemathesis probes them for 405)
are counted together on one line.
"""

import collections
import json
import re
import sys
import urllib.parse

# A path segment after one of these is an id.
ID_AFTER = {"reservations", "payments", "tickets", "venues", "concerts", "schedules", "users"}
DOCUMENTED_METHODS = {"GET", "POST", "PUT"}


def template(url):
    path = urllib.parse.urlsplit(url).path
    parts = path.split("/")
    for i in range(1, len(parts)):
        if parts[i - 1] in ID_AFTER and parts[i] not in ("", "cancel", "seats", "schedules", "role", "qr.svg"):
            parts[i] = "{id}"
    return "/".join(parts)


def main():
    with open(sys.argv[1]) as f:
        entries = json.load(f)["log"]["entries"]
    counts = collections.defaultdict(collections.Counter)
    probes = collections.Counter()
    for entry in entries:
        method = entry["request"]["method"]
        status = entry["response"]["status"]
        key = (template(entry["request"]["url"]), method)
        if status == 405:
            probes[status] += 1
        else:
            counts[key][status] += 1
    print(f"{len(entries)} requests; {sum(probes.values())} answered 405 to undocumented methods")
    for (path, method), statuses in sorted(counts.items()):
        ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
        shown = " ".join(f"{s}:{n}" for s, n in sorted(statuses.items()))
        print(f"  {method:5} {path:48} {sum(statuses.values()):6} requests, {ok:5} 2xx  ({shown})")


if __name__ == "__main__":
    main()
