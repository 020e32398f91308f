#!/usr/bin/env bash
# A RabbitMQ cluster of three extra nodes of Debian's rabbitmq-server, beside
# the machine's own broker (rabbit@localhost on 5672, which this script never
# touches): confab-c1@localhost, confab-c2@localhost and confab-c3@localhost,
# AMQP on 127.0.0.1:5673, 5674 and 5675, distribution on 127.0.0.1:25673,
# 25674 and 25675, no plugins. Each node has its configuration, data, logs
# and pid file under DIR/cN/.
#
#   scripts/rabbitmq-cluster.sh start DIR         start what is not running and cluster the three
#                                                 (a second start with all up does nothing)
#   scripts/rabbitmq-cluster.sh start-node DIR N  start node N (1-3) again, e.g. after a kill -9;
#                                                 it rejoins the cluster
#   scripts/rabbitmq-cluster.sh stop DIR          stop the three nodes, and only them (DIR is kept:
#                                                 the next start brings the same cluster back)
#   scripts/rabbitmq-cluster.sh status DIR        each node (pid, RSS), the running members, and
#                                                 every quorum queue's leader and members
#   scripts/rabbitmq-cluster.sh pid DIR N         the OS pid of node N's beam.smp (exit 1 if it
#                                                 is not running); RabbitMQ also writes it to DIR/cN/pid
#   scripts/rabbitmq-cluster.sh urls DIR          the nodes' AMQP URLs, comma-separated (guest, loopback)
#
# At the first start of a DIR, RABBITMQ_CLUSTER_NAME (confab-c),
# RABBITMQ_CLUSTER_PORT (5673) and RABBITMQ_CLUSTER_DIST_PORT (25673) choose
# other node names and first ports; DIR/cluster.env remembers them.
#
# Runs as root. The nodes run as the rabbitmq user, as Debian's
# rabbitmq-server runs the machine's broker, with that user's Erlang cookie,
# so `rabbitmqctl -n confab-c2@localhost ...` works from root.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SIZE=3
HOST=localhost
RABBITMQ_USER=rabbitmq

usage() {
  sed -n '2,27p' "$0" >&2
  exit 2
}

# DIR (absolute) and the cluster's names and ports: from DIR/cluster.env,
# else (first start) from the environment, written there.
load() { # dir [create]
  [ -n "${1:-}" ] || usage
  if [ "${2:-}" = create ]; then
    mkdir -p "$1"
  else
    [ -f "$1/cluster.env" ] || die "no RabbitMQ cluster in $1 (no $1/cluster.env; start one first)"
  fi
  DIR=$(cd "$1" && pwd)
  if [ -f "$DIR/cluster.env" ]; then
    # shellcheck source=/dev/null
    source "$DIR/cluster.env"
  else
    NAME=${RABBITMQ_CLUSTER_NAME:-confab-c}
    PORT=${RABBITMQ_CLUSTER_PORT:-5673}
    DIST_PORT=${RABBITMQ_CLUSTER_DIST_PORT:-25673}
    printf '# Written by scripts/rabbitmq-cluster.sh at the first start.\nNAME=%s\nPORT=%s\nDIST_PORT=%s\n' \
      "$NAME" "$PORT" "$DIST_PORT" >"$DIR/cluster.env"
  fi
}

node_name() { echo "$NAME$1@$HOST"; }
node_dir() { echo "$DIR/c$1"; }
amqp_port() { echo $((PORT + $1 - 1)); }
check_n() { [[ "${1:-}" =~ ^[1-3]$ ]] || die "no node '${1:-}' (1, 2 or 3)"; }

# rabbitmqctl as root goes through Debian's wrapper, which runs it as the
# rabbitmq user (its home holds the cookie the nodes share).
ctl() { rabbitmqctl -q "$@"; }

# The pid of node N's beam.smp: the one started with N's environment file
# (the pid file first, which RabbitMQ writes once it boots, then any
# beam.smp, which covers a node still booting and a stale pid file).
node_pid() { # n
  local want pid
  want="RABBITMQ_CONF_ENV_FILE=$(node_dir "$1")/rabbitmq-env.conf"
  for pid in $(cat "$(node_dir "$1")/pid" 2>/dev/null) $(pgrep -x beam.smp); do
    { tr '\0' '\n' <"/proc/$pid/environ"; } 2>/dev/null | grep -qxF "$want" && { echo "$pid"; return 0; }
  done
  return 1
}

rss_mib() { # pid
  local kib
  kib=$(ps -o rss= -p "$1" 2>/dev/null | tr -d ' ')
  [ -n "$kib" ] && echo "$((kib / 1024)) MiB" || echo "?"
}

need_root() {
  [ "$(id -u)" = 0 ] || die "run as root (the nodes run as the $RABBITMQ_USER user, through Debian's rabbitmq-server)"
  command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
  command -v jq >/dev/null || apt_install jq
}

# The Erlang cookie of the rabbitmq user, which the machine's broker, these
# nodes and rabbitmqctl share. Made if missing (the machine's broker never
# started), before the nodes start together and could race to make it.
ensure_cookie() {
  local home
  home=$(getent passwd "$RABBITMQ_USER" | cut -d: -f6)
  [ -s "$home/.erlang.cookie" ] && return 0
  log "making the Erlang cookie $home/.erlang.cookie"
  (umask 077 && LC_ALL=C tr -dc '[:upper:]' </dev/urandom | head -c 20 >"$home/.erlang.cookie")
  chown "$RABBITMQ_USER:" "$home/.erlang.cookie"
  chmod 400 "$home/.erlang.cookie"
}

# Node N's files, rewritten at every start (the same content each time):
# rabbitmq-env.conf (everything that makes it this node, instead of
# /etc/rabbitmq/rabbitmq-env.conf), rabbitmq.conf (instead of
# /etc/rabbitmq/rabbitmq.conf), enabled_plugins (none); mnesia/ and log/.
write_node_files() { # n
  local d name
  d=$(node_dir "$1")
  name=$(node_name "$1")
  mkdir -p "$d/mnesia" "$d/log"
  cat >"$d/rabbitmq-env.conf" <<EOF
# Written by scripts/rabbitmq-cluster.sh: node $1 of the cluster in $DIR.
RABBITMQ_NODENAME=$name
RABBITMQ_CONFIG_FILE=$d/rabbitmq.conf
RABBITMQ_CONFIG_FILES=$d/conf.d
RABBITMQ_ADVANCED_CONFIG_FILE=$d/advanced.config
RABBITMQ_ENABLED_PLUGINS_FILE=$d/enabled_plugins
RABBITMQ_DIST_PORT=$((DIST_PORT + $1 - 1))
RABBITMQ_MNESIA_BASE=$d/mnesia
RABBITMQ_MNESIA_DIR=$d/mnesia/$name
RABBITMQ_LOG_BASE=$d/log
RABBITMQ_PID_FILE=$d/pid
# Distribution and epmd on loopback only, as the machine's broker.
export ERL_EPMD_ADDRESS=127.0.0.1
export ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}"
EOF
  cat >"$d/rabbitmq.conf" <<EOF
# Written by scripts/rabbitmq-cluster.sh: node $1 of the cluster in $DIR.
listeners.tcp.local = 127.0.0.1:$(amqp_port "$1")
EOF
  echo '[].' >"$d/enabled_plugins"
  chown -R "$RABBITMQ_USER:" "$d"
  # shellcheck disable=SC2016
  su "$RABBITMQ_USER" -s /bin/sh -c 'test -w "$1/mnesia"' confab "$d" ||
    die "the $RABBITMQ_USER user cannot reach $d (a directory on the way is closed to it): choose another DIR"
}

# Starts node N's Erlang VM (returns at once; -detached), as Debian's
# rabbitmq-server does it: as the rabbitmq user, from its home. The
# environment is only what the node needs.
launch() { # n
  local d
  d=$(node_dir "$1")
  # Another node on these ports (or of this name: its distribution port)
  # would make this one fail at boot; say so now.
  local port
  for port in "$(amqp_port "$1")" $((DIST_PORT + $1 - 1)); do
    port_open "$port" && die "127.0.0.1:$port is taken, not by $(node_name "$1") of $DIR (another cluster of these names and ports runs? RABBITMQ_CLUSTER_NAME, _PORT and _DIST_PORT choose others for a new DIR)"
  done
  log "starting $(node_name "$1") (amqp 127.0.0.1:$(amqp_port "$1"), logs in $d/log)"
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 LC_ALL=C.UTF-8 \
    RABBITMQ_CONF_ENV_FILE="$d/rabbitmq-env.conf" \
    rabbitmq-server -detached >>"$d/log/startup.log" 2>&1 ||
    die "rabbitmq-server did not start $(node_name "$1") (see $d/log/startup.log)"
}

# Waits (3 minutes at most) until node N's rabbit application runs.
# await_startup cannot reach a VM that has not yet registered with epmd; it
# is asked again while the VM lives.
await_node() { # n
  local deadline=$((SECONDS + 180))
  while ((SECONDS < deadline)); do
    ctl -n "$(node_name "$1")" await_startup --timeout $((deadline - SECONDS + 1)) >/dev/null 2>&1 && return 0
    node_pid "$1" >/dev/null || break
  done
  tail -n 30 "$(node_dir "$1")/log/$(node_name "$1").log" >&2 2>/dev/null || true
  die "$(node_name "$1") did not start (logs in $(node_dir "$1")/log)"
}

# Node N's cluster_status as JSON (disk_nodes, running_nodes, ...).
cluster_json() { ctl -n "$(node_name "$1")" cluster_status --formatter json; }

# Makes node N a member of seed's cluster: it leaves its own (a node that
# runs alone is reset by join_cluster), and if the seed still lists a node of
# that name (its data was lost), the seed forgets it first, and the quorum
# queues get a member on it again.
join() { # n seed
  local node seed forgot=""
  node=$(node_name "$1")
  seed=$(node_name "$2")
  log "$node joins $seed's cluster"
  ctl -n "$node" stop_app
  if cluster_json "$2" | jq -e --arg n "$node" '.disk_nodes | index($n)' >/dev/null; then
    log "$seed still lists $node: forgetting it first"
    ctl -n "$seed" forget_cluster_node "$node"
    forgot=1
  fi
  # join_cluster logs errors about tables of the node it is resetting,
  # which are harmless: shown only if it fails.
  local out
  out=$(ctl -n "$node" join_cluster "$seed" 2>&1) || { echo "$out" >&2; die "$node could not join $seed"; }
  ctl -n "$node" start_app
  await_node "$1"
  if [ -n "$forgot" ]; then
    rabbitmq-queues -q -n "$seed" grow "$node" all >/dev/null || true
  fi
}

# Clusters the running nodes: the seed is the running node whose cluster has
# the most members (the first on a tie); each running node the seed does not
# list as running, and that runs alone, joins it. Then every running node
# must be one of the seed's running nodes.
form_cluster() {
  local n seed="" best=0 size up=() statuses=()
  for ((n = 1; n <= SIZE; n++)); do
    node_pid "$n" >/dev/null || continue
    up+=("$n")
    statuses[n]=$(cluster_json "$n")
    size=$(jq '.disk_nodes | length' <<<"${statuses[n]}")
    if [ "$size" -gt "$best" ]; then best=$size seed=$n; fi
  done
  [ -n "$seed" ] || die "no node of the cluster in $DIR runs"
  for n in "${up[@]}"; do
    [ "$n" = "$seed" ] && continue
    jq -e --arg n "$(node_name "$n")" '.running_nodes | index($n)' <<<"${statuses[seed]}" >/dev/null && continue
    if [ "$(jq -c '.disk_nodes' <<<"${statuses[n]}")" = "[\"$(node_name "$n")\"]" ]; then
      join "$n" "$seed"
    fi
  done
  local json
  json=$(cluster_json "$seed")
  for n in "${up[@]}"; do
    jq -e --arg n "$(node_name "$n")" '.running_nodes | index($n)' <<<"$json" >/dev/null ||
      die "$(node_name "$n") runs but is not in $(node_name "$seed")'s cluster: $(jq -c '{disk_nodes, running_nodes}' <<<"$json")"
  done
}

# Starts the given nodes that are not running (together: a node of an
# existing cluster waits for its peers to boot), waits for each, then forms
# the cluster.
start_nodes() { # n...
  local n started=()
  ensure_cookie
  for n in "$@"; do
    write_node_files "$n"
    if node_pid "$n" >/dev/null; then
      continue
    fi
    launch "$n"
    started+=("$n")
  done
  for n in "$@"; do
    await_node "$n"
  done
  form_cluster
  if [ ${#started[@]} -gt 0 ]; then
    log "RabbitMQ cluster up: $(urls)"
  else
    log "RabbitMQ cluster already up: $(urls)"
  fi
}

urls() {
  local n out=()
  for ((n = 1; n <= SIZE; n++)); do
    out+=("amqp://guest:guest@127.0.0.1:$(amqp_port "$n")/%2f")
  done
  (IFS=,; echo "${out[*]}")
}

# Stops node N: rabbitmqctl stop waits for its VM to exit (the pid file);
# one that does not answer gets SIGTERM, then SIGKILL.
stop_node() { # n
  local pid node i
  node=$(node_name "$1")
  pid=$(node_pid "$1") || { log "$node is not running"; return 0; }
  log "stopping $node (pid $pid)"
  ctl -n "$node" stop "$(node_dir "$1")/pid" >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  log "$node did not stop in 30 s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}

status() {
  local n pid any=""
  for ((n = 1; n <= SIZE; n++)); do
    if pid=$(node_pid "$n"); then
      echo "$(node_name "$n"): running (pid $pid, RSS $(rss_mib "$pid"), amqp 127.0.0.1:$(amqp_port "$n"))"
      [ -n "$any" ] || any=$n
    else
      echo "$(node_name "$n"): stopped (amqp 127.0.0.1:$(amqp_port "$n"))"
    fi
  done
  [ -n "$any" ] || return 0
  local json
  if ! json=$(cluster_json "$any" 2>&1); then
    echo "cluster: $(node_name "$any") does not answer: $json"
    return 0
  fi
  echo "members: $(jq -r '.disk_nodes | sort | join(", ")' <<<"$json")"
  echo "running: $(jq -r '.running_nodes | sort | join(", ")' <<<"$json")"
  jq -e '.alarms | length > 0' <<<"$json" >/dev/null && echo "alarms: $(jq -c '.alarms' <<<"$json")"
  local queues
  if ! queues=$(ctl -n "$(node_name "$any")" list_queues name type leader members online messages --formatter json 2>&1); then
    echo "quorum queues: cannot list ($queues)"
    return 0
  fi
  jq -r '[.[] | select(.type == "quorum")] |
    if length == 0 then "quorum queues: none"
    else "quorum queues:",
      (sort_by(.name)[] | .online as $on
        | [.members[] | select(. as $m | $on | index($m) | not)] as $off
        | "  \(.name): leader \(.leader); members \(.members | sort | join(", "))"
          + (if ($off | length) > 0 then "; offline \($off | sort | join(", "))" else "" end)
          + "; \(.messages) messages")
    end' <<<"$queues"
}

cmd=${1:-}
[ $# -ge 2 ] || usage
case "$cmd" in
  start)
    need_root
    load "$2" create
    start_nodes 1 2 3
    ;;
  start-node)
    check_n "${3:-}"
    need_root
    load "$2"
    start_nodes "$3"
    ;;
  stop)
    need_root
    load "$2"
    # One by one; the next start boots the three together, so each finds
    # the peers it waits for whatever the order.
    stop_node 3
    stop_node 2
    stop_node 1
    ;;
  status)
    need_root
    load "$2"
    status
    ;;
  pid)
    check_n "${3:-}"
    load "$2"
    node_pid "$3"
    ;;
  urls)
    load "$2"
    urls
    ;;
  *) usage ;;
esac
