#!/usr/bin/env bash
# Renders a runnable configuration of the gateway for Debian's nginx, from the
# same nginx/confab.conf the Docker gateway uses, with a static upstream of
# the given nodes instead of the one consul-template renders.
#
#   scripts/gateway.sh render DIR LISTEN NODE...
#     DIR     where nginx.conf, confab.conf, upstream.conf, logs and temp
#             files go (created)
#     LISTEN  the address nginx listens on, e.g. 127.0.0.1:8080
#     NODE    host:port of each node
#
# Then run: nginx -c DIR/nginx.conf -p DIR -g 'daemon off;'
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

render() {
  local dir=$1 listen=$2
  shift 2
  [ "$#" -gt 0 ] || { echo "gateway.sh: at least one node" >&2; exit 2; }
  mkdir -p "$dir/tmp"
  dir=$(cd "$dir" && pwd)
  # The shared server block listens on :8080 everywhere; here, on LISTEN.
  sed -E "s/^([[:space:]]*)listen 8080;/\1listen $listen;/" "$ROOT/nginx/confab.conf" >"$dir/confab.conf"
  grep -q "listen $listen;" "$dir/confab.conf" || { echo "gateway.sh: no 'listen 8080;' in confab.conf" >&2; exit 1; }
  {
    echo "# Written by scripts/gateway.sh: the running nodes, fewest connections first."
    echo "upstream confab_nodes {"
    echo "    least_conn;"
    local node
    for node in "$@"; do
      echo "    server $node max_fails=0;"
    done
    echo "    keepalive 32;"
    echo "}"
  } >"$dir/upstream.conf"
  cat >"$dir/nginx.conf" <<CONF
# Written by scripts/gateway.sh; see nginx/README.md.
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
worker_shutdown_timeout 10s;

events {
    worker_connections 16384;
}

http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;

    include $dir/upstream.conf;
    include $dir/confab.conf;
    access_log $dir/access.log confab;
}
CONF
}

case "${1:-}" in
  render) shift; render "$@" ;;
  *) sed -n '2,13p' "$0" >&2; exit 2 ;;
esac
