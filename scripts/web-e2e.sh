#!/usr/bin/env bash
# The web client's end-to-end test in a real browser: Debian's Chromium driven
# by playwright-core (web/e2e/chat.test.mjs, Node's built-in test runner),
# against the local cluster's gateway.
#
#   scripts/web-e2e.sh
#
# Installs what is missing (Chromium from Debian, web/node_modules with
# `npm ci`), starts the cluster (`scripts/confab up`, in the dev profile
# unless CONFAB_PROFILE says otherwise), checks that the gateway's TLS server
# sends Strict-Transport-Security and its plain http server does not, runs
# the test over TLS against https://127.0.0.1:8443 (the page, REST and wss;
# the cluster's self-signed certificate, .run/tls/cert.pem: the browser
# contexts ignore certificate errors, Node and curl trust that file) and
# stops the cluster again if it started it. Exits with the test's status.
# Screenshots land in web/e2e/artifacts/.
#
# Safe without a TTY (CI=true). Never downloads a browser: Playwright uses
# /usr/bin/chromium (CHROMIUM_PATH).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$CONFAB_ROOT"

export CONFAB_PROFILE=${CONFAB_PROFILE:-dev}
GATEWAY_ADDR=${CONFAB_GATEWAY_ADDR:-127.0.0.1:8080}
GATEWAY_TLS_ADDR=${CONFAB_GATEWAY_TLS_ADDR:-127.0.0.1:8443}
[ "$GATEWAY_TLS_ADDR" = off ] && GATEWAY_TLS_ADDR=""
if [ -n "$GATEWAY_TLS_ADDR" ]; then
  export CONFAB_URL=${CONFAB_URL:-https://$GATEWAY_TLS_ADDR}
else
  export CONFAB_URL=${CONFAB_URL:-http://$GATEWAY_ADDR}
fi
# The certificate scripts/confab makes (self-signed): curl and Node trust it
# (NODE_EXTRA_CA_CERTS, read when node starts, after `confab up` made it)
# rather than skipping verification.
TLS_CERT="$RUN_DIR/tls/cert.pem"
export NODE_EXTRA_CA_CERTS=${NODE_EXTRA_CA_CERTS:-$TLS_CERT}
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export PLAYWRIGHT_BROWSERS_PATH=0
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

say() { printf '\033[1m[web-e2e]\033[0m %s\n' "$*" >&2; }

# --- what the test needs -------------------------------------------------------

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  apt_install nodejs npm
fi
[ "$(node_major)" -ge 20 ] || die "Node.js 20 or newer is needed (found $(node --version 2>/dev/null || echo none))"

export CHROMIUM_PATH=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM_PATH" ]; then
  apt_install chromium
  [ -x "$CHROMIUM_PATH" ] || die "no Chromium at $CHROMIUM_PATH after installing Debian's chromium"
fi

# npm ci only when the lock file changed since the last install.
stamp=web/node_modules/.confab-lock
if ! cmp -s web/package-lock.json "$stamp" 2>/dev/null; then
  say "npm ci (web/)"
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
  cp web/package-lock.json "$stamp"
fi

# --- the cluster ---------------------------------------------------------------

running_before=""
summary=""
cluster_up=""
if [ -f "$RUN_DIR/gateway.pid" ] && kill -0 "$(cat "$RUN_DIR/gateway.pid")" 2>/dev/null; then
  running_before=1
fi

cleanup() {
  local status=$?
  if [ "$status" -ne 0 ] && [ -n "$cluster_up" ]; then
    say "the cluster's last log lines"
    scripts/confab logs >&2 || true
  fi
  if [ -z "$running_before" ]; then
    say "stopping the cluster"
    scripts/confab down || status=1
  else
    say "the cluster was already running before this script: left running"
  fi
  # The runner's counts, last, alone on their line.
  [ -z "$summary" ] || echo "$summary"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "starting the cluster ($CONFAB_PROFILE)"
scripts/confab up
cluster_up=1

# The page must be served through the gateway (verifying its certificate).
page=$(curl -fsS --cacert "$TLS_CERT" "$CONFAB_URL/" 2>/dev/null || true)
[[ "$page" == *'<title>Confab</title>'* ]] ||
  die "$CONFAB_URL/ does not serve the web client (is / proxied to the nodes? is the certificate $TLS_CERT?)"

# HSTS on the TLS server only: on a page, on nginx's own error answers, never
# on plain http.
if [ -n "$GATEWAY_TLS_ADDR" ]; then
  header() { # url header [curl option...]
    curl -sS -o /dev/null -D - "${@:3}" "$1" | tr -d '\r' | grep -i "^$2:" || true
  }
  for path in / /metrics; do
    hsts=$(header "https://$GATEWAY_TLS_ADDR$path" strict-transport-security --cacert "$TLS_CERT")
    [[ "$hsts" =~ max-age=[1-9][0-9]* ]] ||
      die "https://$GATEWAY_TLS_ADDR$path sends no Strict-Transport-Security with a max-age (got '$hsts')"
    hsts=$(header "http://$GATEWAY_ADDR$path" strict-transport-security)
    [ -z "$hsts" ] || die "plain http://$GATEWAY_ADDR$path sends '$hsts': HSTS belongs on https only"
  done
  say "HSTS: https sends '$(header "https://$GATEWAY_TLS_ADDR/" strict-transport-security --cacert "$TLS_CERT" | cut -d' ' -f2-)', http sends none"
fi

# --- the test ------------------------------------------------------------------

say "node --test web/e2e/ against $CONFAB_URL (Chromium $("$CHROMIUM_PATH" --version 2>/dev/null | awk '{print $2}'))"
tap=$(mktemp)
status=0
node --test --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$tap" web/e2e/ || status=$?

count() { awk -v k="# $1" '$0 ~ "^"k" " {n=$3} END {print n+0}' "$tap"; }
pass=$(count pass) fail=$(count fail) skipped=$(count skipped) cancelled=$(count cancelled)
rm -f "$tap"
say "screenshots: web/e2e/artifacts/"
summary="web-e2e: $pass passed, $((fail + cancelled)) failed, $skipped skipped"
if [ "$status" -eq 0 ] && [ "$pass" -eq 0 ]; then
  say "no test ran"
  status=1
fi
exit "$status"
