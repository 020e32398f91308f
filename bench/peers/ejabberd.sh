#!/usr/bin/env bash
# ejabberd as the XMPP peer of Confab's benchmarks (`confab-bench xmpp`):
# Debian's package, run with a configuration of its own, on loopback only,
# beside (never instead of) a system ejabberd. Nothing under /etc is changed:
# the configuration, the Mnesia spool and the logs live in one state dir.
#
#   bench/peers/ejabberd.sh start     install if missing, configure, start, wait for the WebSocket
#   bench/peers/ejabberd.sh users N   register b1..bN (password `bench`), skipping those that exist
#   bench/peers/ejabberd.sh status    whether it runs, and what answers
#   bench/peers/ejabberd.sh stop      stop it (the state dir stays; `clean` removes it)
#   bench/peers/ejabberd.sh clean     stop, then remove the state dir (users, logs)
#
# What the configuration sets, and why (the comparison must not measure a
# throttle): no TLS anywhere; SASL PLAIN over the plain stream; every
# shaper `none`; stanzas up to 1 MiB; offline storage on (mod_offline, up to
# 100,000 messages per user), as Confab stores for offline users; XMPP over
# WebSocket (RFC 7395) at ws://127.0.0.1:$EJABBERD_PORT/ws; an admin API at
# /api that only loopback may call, used here to register users quickly.
#
# Settings (environment):
#   EJABBERD_PORT=5280        HTTP listener: /ws (XMPP over WebSocket) and /api
#   EJABBERD_C2S_PORT=5222    plain XMPP (TCP), loopback only
#   EJABBERD_DOMAIN=bench.local
#   EJABBERD_PASSWORD=bench   every bench user's password
#   EJABBERD_STATE=.run/ejabberd   configuration, spool and logs
#   EJABBERD_MAM=0            1: archive every message (mod_mam, `default: always`,
#                             in Mnesia on disk), the durable work Confab does with
#                             its logs; the suite runs ejabberd both ways. The
#                             archive grows run after run and ejabberd slows as it
#                             does (BENCHMARKS.md); `clean` empties it
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$CONFAB_ROOT"

PORT=${EJABBERD_PORT:-5280}
C2S_PORT=${EJABBERD_C2S_PORT:-5222}
DOMAIN=${EJABBERD_DOMAIN:-bench.local}
PASSWORD=${EJABBERD_PASSWORD:-bench}
STATE=${EJABBERD_STATE:-$RUN_DIR/ejabberd}
# A node name of our own: a system ejabberd (ejabberd@localhost) may run too.
NODE=confab-bench-ejabberd@localhost
# Registrations in flight at once.
REGISTER_CONCURRENCY=16

# ejabberdctl with our configuration dir, spool, logs and node name. As root
# it runs everything as the `ejabberd` user.
ctl() {
  ejabberdctl --config-dir "$STATE/etc" --config "$STATE/etc/ejabberd.yml" \
    --spool "$STATE/spool" --logs "$STATE/log" --node "$NODE" "$@"
}

running() { command -v ejabberdctl >/dev/null && ctl status >/dev/null 2>&1; }

install() {
  command -v ejabberdctl >/dev/null && return 0
  # Installing must not start Debian's own ejabberd (system config, ports
  # 5222/5280 on every interface): a policy-rc.d forbids that during the
  # install, if none exists.
  local policy=/usr/sbin/policy-rc.d made_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
  fi
  apt_install ejabberd || {
    [ -n "$made_policy" ] && rm -f "$policy"
    die "could not install Debian's ejabberd (apt-get install ejabberd failed)"
  }
  [ -n "$made_policy" ] && rm -f "$policy"
  command -v ejabberdctl >/dev/null || die "ejabberd installed, but no ejabberdctl on PATH"
}

# The configuration: written anew on every start, so a change here applies.
configure() {
  mkdir -p "$STATE/etc" "$STATE/spool" "$STATE/log"
  cat >"$STATE/etc/ejabberd.yml" <<YAML
# Written by bench/peers/ejabberd.sh; rewritten on every start.
hosts:
  - "$DOMAIN"
loglevel: warning
log_rotate_count: 0

auth_method: internal
# Plain storage: SASL PLAIN checks it directly (no SCRAM hashing per login).
auth_password_format: plain
default_db: mnesia

listen:
  -
    port: $C2S_PORT
    ip: "127.0.0.1"
    module: ejabberd_c2s
    # The default backlog (5) drops connects when the bench opens many at once.
    backlog: 4096
    # WebSocket sessions take their limits (stanza size, shaper) from here.
    max_stanza_size: 1048576
    shaper: c2s_shaper
    access: c2s
    starttls: false
    starttls_required: false
  -
    port: $PORT
    ip: "127.0.0.1"
    module: ejabberd_http
    backlog: 4096
    request_handlers:
      /ws: ejabberd_http_ws
      /api: mod_http_api

# A stanza may wait in a session's queue before being written; no limit
# that the bench could reach.
max_fsm_queue: 1000000

acl:
  loopback:
    ip:
      - 127.0.0.0/8
      - ::1/128

access_rules:
  c2s:
    allow: all
  local:
    allow: all

api_permissions:
  "console":
    from:
      - ejabberd_ctl
    who: all
    what: "*"
  "loopback admin":
    from:
      - mod_http_api
    who:
      ip: 127.0.0.1/8
    what:
      - register
      - unregister
      - registered_users
      - connected_users_number
      - status

shaper: {}
shaper_rules:
  max_user_sessions: 100
  max_user_offline_messages: 100000
  c2s_shaper: none
  s2s_shaper: none

modules:
  mod_http_api: {}
  mod_offline:
    access_max_user_messages: max_user_offline_messages
  mod_roster: {}
  mod_disco: {}
  mod_ping: {}
YAML
  if [ "${EJABBERD_MAM:-0}" = 1 ]; then
    cat >>"$STATE/etc/ejabberd.yml" <<'YAML'
  # Every message archived (XEP-0313), as Confab logs every message.
  mod_mam:
    db_type: mnesia
    default: always
YAML
  fi
  cat >"$STATE/etc/ejabberdctl.cfg" <<CFG
# Written by bench/peers/ejabberd.sh.
ERLANG_NODE=$NODE
# Erlang distribution (ejabberdctl talks to the node through it) on loopback.
INET_DIST_INTERFACE=127.0.0.1
ERL_EPMD_ADDRESS=127.0.0.1
# Sockets and processes for thousands of sessions.
ERL_MAX_PORTS=65536
ERL_PROCESSES=1000000
ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0"
CFG
  cat >"$STATE/etc/inetrc" <<'INET'
{lookup,["file","native"]}.
{host,{127,0,0,1}, ["localhost"]}.
{file, resolv, "/etc/resolv.conf"}.
INET
  chown -R ejabberd:ejabberd "$STATE"
  chmod 700 "$STATE/spool"
}

start() {
  install
  if running; then
    log "ejabberd already runs (node $NODE)"
  else
    port_open "$PORT" && die "127.0.0.1:$PORT is taken by something else (EJABBERD_PORT picks another port)"
    port_open "$C2S_PORT" && die "127.0.0.1:$C2S_PORT is taken by something else (EJABBERD_C2S_PORT picks another port)"
    configure
    log "starting ejabberd $(dpkg-query -W -f '${Version}' ejabberd 2>/dev/null) (node $NODE, state $STATE)"
    ctl start
    if ! ctl started >/dev/null 2>&1; then
      tail -n 30 "$STATE/log/ejabberd.log" >&2 2>/dev/null || true
      die "ejabberd did not start (log: $STATE/log/ejabberd.log)"
    fi
  fi
  wait_for_port "$PORT" 30 "ejabberd's WebSocket listener"
  # The HTTP listener answers before its handlers are ready on a cold start.
  local i
  for ((i = 0; i < 100; i++)); do
    api status '{}' >/dev/null 2>&1 && break
    sleep 0.1
  done
  log "ejabberd up: ws://127.0.0.1:$PORT/ws, domain $DOMAIN"
}

# POSTs JSON $2 to the admin API command $1.
api() {
  curl -fsS -m 10 -H 'content-type: application/json' -d "$2" "http://127.0.0.1:$PORT/api/$1"
}

# Registers b1..bN; users that exist already are left as they are.
users() {
  local n=${1:-}
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] || die "usage: $0 users N (N >= 1)"
  running || die "ejabberd is not running: $0 start"
  local existing
  existing=$(api registered_users "{\"host\":\"$DOMAIN\"}") || die "the admin API at 127.0.0.1:$PORT/api did not answer"
  local missing
  missing=$(seq 1 "$n" | sed 's/^/b/' | grep -vxF -f <(tr -d '[]" ' <<<"$existing" | tr ',' '\n') || true)
  if [ -z "$missing" ]; then
    log "users b1..b$n already registered"
    return 0
  fi
  log "registering $(wc -l <<<"$missing") users (of b1..b$n) on $DOMAIN"
  # xargs exits 123 when any registration failed.
  export PORT DOMAIN PASSWORD
  xargs -P "$REGISTER_CONCURRENCY" -I{} sh -c \
    'curl -fsS -m 10 -o /dev/null -H "content-type: application/json" \
       -d "{\"user\":\"$1\",\"host\":\"$DOMAIN\",\"password\":\"$PASSWORD\"}" \
       "http://127.0.0.1:$PORT/api/register" || { echo "registering $1 failed" >&2; exit 1; }' _ {} \
    <<<"$missing" || die "some registrations failed"
  log "users b1..b$n registered (password $PASSWORD)"
}

status() {
  if running; then
    echo "ejabberd: running (node $NODE, state $STATE)"
    echo "ws://127.0.0.1:$PORT/ws: $(port_open "$PORT" && echo open || echo closed)"
    echo "registered users on $DOMAIN: $(api registered_users "{\"host\":\"$DOMAIN\"}" | grep -o '"[^"]*"' | wc -l)"
    echo "connected sessions: $(api connected_users_number '{}' || echo '?')"
  else
    echo "ejabberd: stopped"
  fi
}

stop() {
  if ! running; then
    log "ejabberd is not running (node $NODE)"
    return 0
  fi
  log "stopping ejabberd (node $NODE)"
  ctl stop >/dev/null
  ctl stopped >/dev/null 2>&1 || die "ejabberd did not stop within 60 s"
}

clean() {
  stop
  log "removing $STATE"
  rm -rf "$STATE"
}

case "${1:-}" in
  start) start ;;
  users) users "${2:-}" ;;
  status) status ;;
  stop) stop ;;
  clean) clean ;;
  *)
    sed -n '2,11p' "$0" >&2
    exit 2
    ;;
esac
