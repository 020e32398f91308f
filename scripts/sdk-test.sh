#!/usr/bin/env bash
# The JavaScript SDK's tests (clients/js/test/, Node's built-in test runner):
# unit tests of its pure parts, the AsyncAPI document's validation
# (@asyncapi/parser, ajv), the TypeScript declarations (tsc --strict), and
# the SDK against the local cluster (reconnect across a node restart,
# re-send after a dropped socket, history paging, …).
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
source "$(dirname "$0")/suite.sh"
cd "$CONFAB_ROOT"

export CONFAB_PROFILE=${CONFAB_PROFILE:-dev}
export CONFAB_URL=${CONFAB_URL:-http://${CONFAB_GATEWAY_ADDR:-127.0.0.1:8080}}

ensure_node
npm_ci clients/js
suite_cluster_up

# Node 20 has WebSocket behind a flag; from 22 on it is there by default.
flags=()
[ "$(node_major)" -ge 22 ] || flags=(--experimental-websocket)

log "node --test clients/js/test/*.test.mjs against $CONFAB_URL (Node $(node --version))"
run_node_tests sdk-test "${flags[@]}" clients/js/test/*.test.mjs
