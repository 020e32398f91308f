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
source "$(dirname "$0")/suite.sh"
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
# rather than skipping verification. Node reads NODE_EXTRA_CA_CERTS (one
# file) when it starts: it is set below, once `confab up` made the
# certificate, to a bundle of it and of any file the environment already
# named there (machines may set it to their own CA bundle).
TLS_CERT="$RUN_DIR/tls/cert.pem"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export PLAYWRIGHT_BROWSERS_PATH=0

say() { printf '\033[1m[web-e2e]\033[0m %s\n' "$*" >&2; }

# --- what the test needs -------------------------------------------------------

ensure_node

export CHROMIUM_PATH=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM_PATH" ]; then
  apt_install chromium
  [ -x "$CHROMIUM_PATH" ] || die "no Chromium at $CHROMIUM_PATH after installing Debian's chromium"
fi

npm_ci web

# --- the cluster ---------------------------------------------------------------

suite_cluster_up

if [ -n "$GATEWAY_TLS_ADDR" ]; then
  bundle="$RUN_DIR/tls/node-extra-ca.pem"
  { [ -r "${NODE_EXTRA_CA_CERTS:-}" ] && [ "${NODE_EXTRA_CA_CERTS:-}" != "$bundle" ] && cat "$NODE_EXTRA_CA_CERTS"; cat "$TLS_CERT"; } > "$bundle"
  export NODE_EXTRA_CA_CERTS="$bundle"
fi

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
status=0
run_node_tests web-e2e web/e2e/*.test.mjs || status=$?
say "screenshots: web/e2e/artifacts/"
exit "$status"
