#!/usr/bin/env bash
# Generated clients, end to end (issue 12): generates a Python client
# (openapi-python-client) and a TypeScript client (openapi-typescript types,
# schema.ts, for openapi-fetch) from the OpenAPI document a running debug server serves,
# type-checks them with their flows (`mypy --strict`, `tsc --noEmit`), then
# runs the README's whole flow (flow.py, flow.ts) through each against that
# server. Tools are installed at their pinned versions (requirements.txt,
# package-lock.json) into a temp dir each run: nothing is cached, nothing
# generated is written to the repository.
#
# Usage: bash scripts/clients/run.sh [path/to/boxoffice]   (default target/debug/boxoffice)
# Needs python3 (3.10+), node 20 and npm, and network access to PyPI and npm.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="$(realpath "${1:-target/debug/boxoffice}")"
work="$(mktemp -d)"
# shellcheck source=scripts/demo_server.sh
. "$here/../demo_server.sh"
cleanup() {
  demo_server_stop
  rm -rf "$work"
}
trap cleanup EXIT
started=$SECONDS
phase() { echo "-- clients: $1 (${SECONDS}s)"; }

phase "installing the pinned tools (pip, npm) in $work"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir -r "$here/requirements.txt" &
pip_pid=$!
mkdir "$work/ts"
cp "$here/package.json" "$here/package-lock.json" "$here/tsconfig.json" "$here/flow.ts" "$work/ts/"
(cd "$work/ts" && npm ci --no-audit --no-fund --silent --cache "$work/npm-cache")
wait "$pip_pid"

phase "starting $bin serve --demo"
demo_server_start "$bin" "$work"
base="$demo_server_base"
curl -fsS "$base/api/v1/openapi.json" -o "$work/openapi.json"

phase "generating the Python client"
"$work/venv/bin/openapi-python-client" generate --path "$work/openapi.json" \
  --config "$here/openapi-python-client.yaml" --meta none \
  --output-path "$work/py/boxoffice_client" 2>&1 | grep -v '^$' || true
test -f "$work/py/boxoffice_client/client.py" || { echo "the Python client was not generated"; exit 1; }
cp "$here/flow.py" "$work/py/"

phase "generating the TypeScript types"
(cd "$work/ts" && npx --no-install openapi-typescript "$work/openapi.json" -o schema.ts)

phase "type-checking: mypy --strict (client and flow.py)"
(cd "$work/py" && "$work/venv/bin/mypy" --strict --no-incremental boxoffice_client flow.py)
phase "type-checking: tsc --noEmit (client types and flow.ts)"
(cd "$work/ts" && npx --no-install tsc -p tsconfig.json --noEmit)
# node 20 cannot run TypeScript itself: compile the checked flow to JavaScript.
(cd "$work/ts" && npx --no-install tsc -p tsconfig.json --noEmit false --outDir out)

phase "the flow through the Python client"
(cd "$work/py" && "$work/venv/bin/python" flow.py "$base")
phase "the flow through the TypeScript client"
(cd "$work/ts" && node out/flow.js "$base")

phase "done in $((SECONDS - started)) s"
