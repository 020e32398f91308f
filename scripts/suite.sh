# Shared by the Node.js suites that run against the local cluster
# (sdk-test.sh, web-e2e.sh): Node.js and the npm packages, the cluster for
# the suite's length, and Node's test runner with its counts. Source it after
# lib.sh; it defines functions only.

export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

# Node.js 20 or newer (Debian's, installed if missing).
ensure_node() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    apt_install nodejs npm
  fi
  [ "$(node_major)" -ge 20 ] || die "Node.js 20 or newer is needed (found $(node --version 2>/dev/null || echo none))"
}

# `npm ci` in DIR, only when its lock file changed since the last install.
npm_ci() { # dir
  local stamp="$1/node_modules/.confab-lock"
  cmp -s "$1/package-lock.json" "$stamp" 2>/dev/null && return 0
  log "npm ci ($1/)"
  (cd "$1" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$1/package-lock.json" "$stamp"
}

# Starts the local cluster for this suite, unless it already runs. On exit:
# the cluster's last log lines after a failure, the cluster stopped if the
# suite started it, and SUITE_SUMMARY printed last, alone on its line.
suite_cluster_up() {
  SUITE_CLUSTER_BEFORE="" SUITE_CLUSTER_UP="" SUITE_SUMMARY=""
  if [ -f "$RUN_DIR/gateway.pid" ] && kill -0 "$(cat "$RUN_DIR/gateway.pid")" 2>/dev/null; then
    SUITE_CLUSTER_BEFORE=1
  fi
  trap suite_cleanup EXIT
  trap 'exit 130' INT TERM
  log "starting the cluster (${CONFAB_PROFILE:-release})"
  "$CONFAB_ROOT/scripts/confab" up
  SUITE_CLUSTER_UP=1
}

suite_cleanup() {
  local status=$?
  if [ "$status" -ne 0 ] && [ -n "$SUITE_CLUSTER_UP" ]; then
    log "the cluster's last log lines"
    "$CONFAB_ROOT/scripts/confab" logs >&2 || true
  fi
  if [ -z "$SUITE_CLUSTER_BEFORE" ]; then
    log "stopping the cluster"
    "$CONFAB_ROOT/scripts/confab" down || status=1
  else
    log "the cluster was already running before this suite: left running"
  fi
  [ -z "$SUITE_SUMMARY" ] || echo "$SUITE_SUMMARY"
  exit "$status"
}

# Runs Node's test runner (`node --test ARGS…`: node options, then test
# files), the spec reporter on stdout, and sets SUITE_SUMMARY to
# "LABEL: N passed, N failed, N skipped". Returns non-zero when a test failed
# or was cancelled, when none passed, or when any was skipped (a suite run by
# its script has everything it needs).
run_node_tests() { # label args...
  local label=$1 tap status=0
  shift
  tap=$(mktemp)
  node --test --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$tap" "$@" || status=$?
  local pass fail skipped cancelled
  count() { awk -v k="# $1" '$0 ~ "^"k" " {n=$3} END {print n+0}' "$tap"; }
  pass=$(count pass) fail=$(count fail) skipped=$(count skipped) cancelled=$(count cancelled)
  rm -f "$tap"
  SUITE_SUMMARY="$label: $pass passed, $((fail + cancelled)) failed, $skipped skipped"
  if [ "$status" -eq 0 ] && { [ "$pass" -eq 0 ] || [ "$skipped" -ne 0 ]; }; then
    log "$label: no test may be skipped, and some must run"
    status=1
  fi
  return "$status"
}
