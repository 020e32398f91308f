#!/usr/bin/env bash
# A throwaway Redis Cluster on this machine: six redis-server processes
# (three masters, one replica each) on PORT_BASE … PORT_BASE+5, bound to
# 127.0.0.1, keeping nothing on disk but their cluster config, for the tests
# that run against a cluster (CONFAB_TEST_REDIS_CLUSTER) and for trying
# Confab with REDIS_CLUSTER_NODES.
#
#   scripts/redis-cluster.sh start DIR PORT_BASE   # idempotent
#   scripts/redis-cluster.sh start-node DIR PORT   # one server again, after a kill: it rejoins
#   scripts/redis-cluster.sh stop DIR
#   scripts/redis-cluster.sh status DIR PORT_BASE
#   scripts/redis-cluster.sh seeds PORT_BASE       # the URLs Confab takes
#
# `start` returns once every node says cluster_state:ok. A cluster already
# up and healthy on those ports is left as it is; anything else there (a
# half-started one, stale config) is stopped and made anew: the cluster
# holds only what tests put in it.
set -euo pipefail

NODES=6
WAIT_SECS=60

usage() {
  sed -n '8,12p' "$0" >&2
  exit 2
}

ports() {
  local base=$1
  seq "$base" $((base + NODES - 1))
}

answers() {
  redis-cli -h 127.0.0.1 -p "$1" ping >/dev/null 2>&1
}

healthy() {
  redis-cli -h 127.0.0.1 -p "$1" cluster info 2>/dev/null | tr -d '\r' | grep -qx 'cluster_state:ok'
}

all_healthy() {
  local p
  for p in $(ports "$1"); do
    healthy "$p" || return 1
  done
}

# Stops every server whose cluster config is in DIR (the file names carry
# the ports), then forgets their config and whatever a replica wrote to
# disk (a replica keeps the snapshot it synced from; a fresh node must be
# empty to join a new cluster).
stop_cluster() {
  local dir=$1 conf port
  [ -d "$dir" ] || return 0
  for conf in "$dir"/nodes-*.conf; do
    [ -e "$conf" ] || continue
    port=${conf##*/nodes-}
    port=${port%.conf}
    redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
  done
  for conf in "$dir"/nodes-*.conf; do
    [ -e "$conf" ] || continue
    port=${conf##*/nodes-}
    port=${port%.conf}
    for _ in $(seq 50); do
      answers "$port" || break
      sleep 0.1
    done
    rm -f "$conf" "$dir/redis-$port.pid" "$dir/dump-$port.rdb"
  done
}

# One server of the cluster in DIR on PORT, with its cluster config there.
launch() { # dir port
  redis-server --port "$2" --bind 127.0.0.1 --daemonize yes \
    --cluster-enabled yes --cluster-config-file "$1/nodes-$2.conf" \
    --cluster-node-timeout 3000 \
    --save "" --appendonly no --dir "$1" --dbfilename "dump-$2.rdb" \
    --pidfile "$1/redis-$2.pid" --logfile "$1/redis-$2.log"
}

# Starts the server of PORT again (after a kill): its cluster config in DIR
# makes it rejoin, as a replica of whichever replica was promoted in its
# place. Returns once it answers and says the cluster is ok.
start_node() { # dir port
  local dir=$1 port=$2
  [ -f "$dir/nodes-$port.conf" ] || { echo "no server of port $port in $dir" >&2; exit 1; }
  dir=$(cd "$dir" && pwd)
  answers "$port" || launch "$dir" "$port"
  for _ in $(seq $((WAIT_SECS * 10))); do
    healthy "$port" && return 0
    sleep 0.1
  done
  echo "redis-server on port $port did not rejoin within ${WAIT_SECS}s" >&2
  exit 1
}

start_cluster() {
  local dir=$1 base=$2 p
  command -v redis-server >/dev/null || { echo "redis-server is not installed" >&2; exit 1; }
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if all_healthy "$base"; then
    echo "Redis Cluster already up on 127.0.0.1:$base-$((base + NODES - 1))"
    return 0
  fi
  stop_cluster "$dir"
  for p in $(ports "$base"); do
    # A server on the port that is not ours (no config in DIR) is stopped
    # too: the ports are this cluster's.
    redis-cli -h 127.0.0.1 -p "$p" shutdown nosave >/dev/null 2>&1 || true
  done
  for p in $(ports "$base"); do
    launch "$dir" "$p"
  done
  local addresses=()
  for p in $(ports "$base"); do
    for _ in $(seq 100); do
      answers "$p" && break
      sleep 0.1
    done
    answers "$p" || { echo "redis-server on port $p did not start (see $dir/redis-$p.log)" >&2; exit 1; }
    addresses+=("127.0.0.1:$p")
  done
  redis-cli --cluster create "${addresses[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 ||
    { cat "$dir/create.log" >&2; exit 1; }
  for _ in $(seq $((WAIT_SECS * 10))); do
    all_healthy "$base" && break
    sleep 0.1
  done
  all_healthy "$base" || { echo "the cluster did not reach cluster_state:ok in ${WAIT_SECS}s" >&2; exit 1; }
  echo "Redis Cluster up on 127.0.0.1:$base-$((base + NODES - 1))"
}

status_cluster() {
  local dir=$1 base=$2 p
  for p in $(ports "$base"); do
    if healthy "$p"; then
      echo "node 127.0.0.1:$p: cluster_state:ok"
    elif answers "$p"; then
      echo "node 127.0.0.1:$p: up, cluster not ok"
    else
      echo "node 127.0.0.1:$p: down"
    fi
  done
  for p in $(ports "$base"); do
    if answers "$p"; then
      echo "slots (from 127.0.0.1:$p; config in $dir):"
      # id address flags master ping pong epoch link slots…
      redis-cli -h 127.0.0.1 -p "$p" cluster nodes | tr -d '\r' | sort -k2 |
        awk '{ id[NR] = $1; addr[$1] = $2; line[NR] = $0 }
             END { for (n = 1; n <= NR; n++) { split(line[n], f, " ");
               if (f[3] ~ /master/) { slots = "";
                 for (i = 9; i in f; i++) slots = slots " " f[i];
                 printf "  %-22s master %s\n", f[2], slots }
               else printf "  %-22s replica of %s\n", f[2], addr[f[4]] } }'
      return 0
    fi
  done
  return 1
}

seeds() {
  local base=$1 p out=()
  for p in $(ports "$base"); do
    out+=("redis://127.0.0.1:$p")
  done
  (IFS=,; echo "${out[*]}")
}

case "${1:-}" in
  start) [ $# -eq 3 ] || usage; start_cluster "$2" "$3" ;;
  start-node) [ $# -eq 3 ] || usage; start_node "$2" "$3" ;;
  stop) [ $# -eq 2 ] || usage; stop_cluster "$2" ;;
  status) [ $# -eq 3 ] || usage; status_cluster "$2" "$3" ;;
  seeds) [ $# -eq 2 ] || usage; seeds "$2" ;;
  *) usage ;;
esac
