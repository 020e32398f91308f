#!/usr/bin/env bash
# The JavaScript SDK's tests (clients/js/test/, Node's built-in test runner):
# unit tests of its pure parts, the AsyncAPI document's validation
# (@asyncapi/parser, ajv), and the SDK against the local cluster (reconnect
# across a node restart, re-send after a dropped socket, history paging, …).
#
#   scripts/sdk-test.sh
#
# Installs what is missing (Node.js from Debian, clients/js/node_modules with
# `npm ci`), starts the cluster (`scripts/confab up`, in the dev profile
# unless CONFAB_PROFILE says otherwise), runs the tests against
# http://127.0.0.1:8080 and stops the cluster again if it started it. Fails
# if any test fails or is skipped. Safe without a TTY (CI=true).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$CONFAB_ROOT"

export CONFAB_PROFILE=${CONFAB_PROFILE:-dev}
GATEWAY_ADDR=${CONFAB_GATEWAY_ADDR:-127.0.0.1:8080}
export CONFAB_URL=${CONFAB_URL:-http://$GATEWAY_ADDR}
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

say() { printf '\033[1m[sdk-test]\033[0m %s\n' "$*" >&2; }

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  apt_install nodejs npm
fi
[ "$(node_major)" -ge 20 ] || die "Node.js 20 or newer is needed (found $(node --version 2>/dev/null || echo none))"

# npm ci only when the lock file changed since the last install.
stamp=clients/js/node_modules/.confab-lock
if ! cmp -s clients/js/package-lock.json "$stamp" 2>/dev/null; then
  say "npm ci (clients/js/)"
  (cd clients/js && npm ci --no-audit --no-fund --loglevel=error)
  cp clients/js/package-lock.json "$stamp"
fi

running_before=""
summary=""
if [ -f "$RUN_DIR/gateway.pid" ] && kill -0 "$(cat "$RUN_DIR/gateway.pid")" 2>/dev/null; then
  running_before=1
fi

cleanup() {
  local status=$?
  if [ "$status" -ne 0 ]; then
    say "the cluster's last log lines"
    scripts/confab logs >&2 || true
  fi
  if [ -z "$running_before" ]; then
    say "stopping the cluster"
    scripts/confab down || status=1
  else
    say "the cluster was already running before this script: left running"
  fi
  [ -z "$summary" ] || echo "$summary"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "starting the cluster ($CONFAB_PROFILE)"
scripts/confab up

# Node 20 has WebSocket behind a flag; from 22 on it is there by default.
flags=()
[ "$(node_major)" -ge 22 ] || flags=(--experimental-websocket)

say "node --test clients/js/test/*.test.mjs against $CONFAB_URL (Node $(node --version))"
tap=$(mktemp)
status=0
(cd clients/js && node "${flags[@]}" --test --test-reporter=spec \
  --test-reporter-destination=stdout --test-reporter=tap --test-reporter-destination="$tap" test/*.test.mjs) || status=$?

count() { awk -v k="# $1" '$0 ~ "^"k" " {n=$3} END {print n+0}' "$tap"; }
pass=$(count pass) fail=$(count fail) skipped=$(count skipped) cancelled=$(count cancelled)
rm -f "$tap"
summary="sdk-test: $pass passed, $((fail + cancelled)) failed, $skipped skipped"
if [ "$status" -eq 0 ] && { [ "$pass" -eq 0 ] || [ "$skipped" -ne 0 ]; }; then
  say "no test may be skipped here (is CONFAB_URL reaching the cluster?)"
  status=1
fi
exit "$status"
