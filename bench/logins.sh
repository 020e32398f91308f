#!/usr/bin/env bash
# A burst of log-ins against one node of the bench cluster: registers COUNT
# users through another node, then sends COUNT log-ins to the node at once,
# and reports the answers (200, 503 busy, other), the slowest request and
# the node's RSS before and after (the password hasher's bound).
#
#   bench/logins.sh [COUNT]        default 1000; the cluster from `bench/run-local.sh start`
#
# Settings (environment): NODE=http://127.0.0.1:19001 (the node measured),
# REST=http://127.0.0.1:19002 (where users are registered), PID= (the
# measured node's pid; default: the first of `bench/run-local.sh pids`).
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT=${1:-1000}
NODE=${NODE:-http://127.0.0.1:19001}
REST=${REST:-http://127.0.0.1:19002}
PID=${PID:-$(bench/run-local.sh pids | awk '{print $1}')}
[ -n "$PID" ] || { echo "the bench cluster is not running: bench/run-local.sh start" >&2; exit 1; }
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
PREFIX="l$(date +%s)"
PASSWORD="correct-horse-battery"

rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

register() { # i
  curl -s -o /dev/null -w '%{http_code}\n' -X POST "$REST/api/auth/register" \
    -H 'Content-Type: application/json' \
    -d "{\"username\":\"${PREFIX}_$1\",\"password\":\"$PASSWORD\"}"
}
login() { # i
  curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -X POST "$NODE/api/auth/login" \
    -H 'Content-Type: application/json' \
    -d "{\"username\":\"${PREFIX}_$1\",\"password\":\"$PASSWORD\"}"
}
export -f register login
export REST NODE PREFIX PASSWORD

echo "registering $COUNT users through $REST" >&2
# 8 at a time: registration hashes too, on the other node.
seq "$COUNT" | xargs -P 8 -I{} bash -c 'register {}' | sort | uniq -c >&2

before=$(rss "$PID")
echo "node $PID RSS before: $((before / 1024)) MiB; $COUNT log-ins at once" >&2
seq "$COUNT" | xargs -P "$COUNT" -I{} bash -c 'login {}' >"$OUT/answers"
after=$(rss "$PID")
# Let the node settle (allocator and tasks), then read it again.
sleep 5
settled=$(rss "$PID")
ok=$(awk '$1 == 200' "$OUT/answers" | wc -l)
busy=$(awk '$1 == 503' "$OUT/answers" | wc -l)
other=$(awk '$1 != 200 && $1 != 503' "$OUT/answers" | wc -l)
slowest=$(awk '{print $2}' "$OUT/answers" | sort -n | tail -1)
p50=$(awk '{print $2}' "$OUT/answers" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "answers: $ok ok, $busy busy (503), $other other"
echo "time per request: p50 ${p50} s, slowest ${slowest} s"
echo "node RSS: before $((before / 1024)) MiB, right after $((after / 1024)) MiB, 5 s later $((settled / 1024)) MiB"
