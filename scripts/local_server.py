"""What the measuring scripts share (charge-storm, history-reads, limits-hammer,
login-storm): a `boxoffice serve` started on a free loopback port with a fresh
data dir and a configured admin, and the figures they read off it (its RSS,
its data dir's size). Standard library only; imported from the scripts' own
directory."""

import os
import re
import subprocess
import sys
import threading
import time

START_TIMEOUT_S = 60


def start_server(binary, data_dir, admin, env_extra=None, args=()):
    """Starts `binary serve` with `admin` = (email, password) as its admin;
    returns (process, port). Exits the script if it does not start."""
    env = dict(os.environ)
    env.update(
        {
            "BOXOFFICE_ADMIN_EMAIL": admin[0],
            "BOXOFFICE_ADMIN_PASSWORD": admin[1],
            "RUST_LOG": "warn",
        }
    )
    env.update(env_extra or {})
    proc = subprocess.Popen(
        [binary, "serve", "--bind", "127.0.0.1:0", "--data-dir", data_dir, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    deadline = time.time() + START_TIMEOUT_S
    for line in proc.stdout:
        match = re.match(r"boxoffice listening on http://([\d.]+):(\d+)", line)
        if match:
            # Keep draining stdout so the server never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, int(match.group(2))
        if time.time() > deadline:
            break
    proc.kill()
    sys.exit("the server did not start")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total
