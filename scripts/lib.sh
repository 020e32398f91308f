# Shared by scripts/confab and scripts/test.sh: make sure Postgres, Redis and
# RabbitMQ are installed and running on this machine, starting (and, if need
# be, installing from Debian) only what is missing, and remembering what we
# started so that `confab down` stops that and nothing else.
#
# Source it; it defines functions only.

CONFAB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN_DIR="$CONFAB_ROOT/.run"
STARTED_FILE="$RUN_DIR/started-services"
PG_URL_BASE=${PG_URL_BASE:-postgres://postgres@127.0.0.1:5432}
# Appended to the services' database URL. On loopback, no TLS: it costs CPU
# on every statement and, with Nagle and delayed ACKs, stalled statements
# over 16 KiB by ~40 ms (BENCHMARKS.md). A remote PG_URL_BASE keeps the
# driver's default (TLS when the server offers it); set PG_URL_QUERY to
# choose, e.g. `?sslmode=require`.
case "$PG_URL_BASE" in
  *@127.0.0.1:* | *@localhost:* | *@\[::1\]:*) PG_URL_QUERY=${PG_URL_QUERY-?sslmode=disable} ;;
  *) PG_URL_QUERY=${PG_URL_QUERY-} ;;
esac

log() { printf '\033[1m[confab]\033[0m %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    apt_updated=1
  fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

remember_started() {
  mkdir -p "$RUN_DIR"
  grep -qx "$1" "$STARTED_FILE" 2>/dev/null || echo "$1" >>"$STARTED_FILE"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for_port() { # port seconds what
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    port_open "$1" && return 0
    sleep 0.1
  done
  die "$3 is not listening on 127.0.0.1:$1 after $2 s"
}

ensure_postgres() {
  if ! command -v pg_ctlcluster >/dev/null; then
    apt_install postgresql postgresql-client
    local hba
    hba=$(ls /etc/postgresql/*/main/pg_hba.conf | head -n1)
    # Local development only: trust connections from this machine, as the
    # machines this project runs on are set up.
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\nlocal all all trust' "$hba"
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n1)
    log "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    remember_started postgres
    wait_for_port 5432 30 PostgreSQL
    local i
    for ((i = 0; i < 100; i++)); do pg_isready -q -h 127.0.0.1 && break; sleep 0.1; done
  fi
}

ensure_redis() {
  command -v redis-server >/dev/null || apt_install redis-server
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    log "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/confab.log
    remember_started redis
    wait_for_port 6379 15 Redis
  fi
}

ensure_rabbitmq() {
  command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
  if ! port_open 5672; then
    log "starting RabbitMQ (this takes a few seconds)"
    rabbitmq-server -detached
    remember_started rabbitmq
    rabbitmqctl -q await_startup >/dev/null
    wait_for_port 5672 60 RabbitMQ
  fi
}

# Debian's nginx, for the gateway. Installing it must not start Debian's own
# nginx service (it would take port 80): a policy-rc.d forbids that during
# the install, if none exists.
ensure_nginx() {
  command -v nginx >/dev/null && return 0
  local policy=/usr/sbin/policy-rc.d made_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
  fi
  apt_install nginx
  [ -n "$made_policy" ] && rm -f "$policy"
  return 0
}

# Debian's docker-compose, used to validate docker-compose.yml (no Docker
# engine runs on these machines, so nothing is started with it).
ensure_docker_compose() {
  command -v docker-compose >/dev/null || apt_install docker-compose
}

ensure_services() {
  ensure_postgres
  ensure_redis
  ensure_rabbitmq
}

# Creates database $1 if it does not exist.
ensure_database() {
  local exists
  exists=$(psql "$PG_URL_BASE/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = '$1'")
  if [ "$exists" != 1 ]; then
    log "creating database $1"
    psql "$PG_URL_BASE/postgres" -qc "CREATE DATABASE \"$1\"" >/dev/null
  fi
}

# Stops the services this project started (and only those).
stop_started_services() {
  [ -f "$STARTED_FILE" ] || return 0
  local service
  while read -r service; do
    case "$service" in
      postgres)
        log "stopping PostgreSQL (started by confab)"
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main stop || true
        ;;
      redis)
        log "stopping Redis (started by confab)"
        redis-cli -h 127.0.0.1 -p 6379 shutdown nosave >/dev/null 2>&1 || true
        ;;
      rabbitmq)
        log "stopping RabbitMQ (started by confab)"
        rabbitmqctl -q stop >/dev/null 2>&1 || true
        ;;
    esac
  done <"$STARTED_FILE"
  rm -f "$STARTED_FILE"
}
