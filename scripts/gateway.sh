#!/usr/bin/env bash
# Renders a runnable configuration of the gateway for Debian's nginx, from the
# same nginx/confab*.conf files the Docker gateway uses, with a static
# upstream of the given nodes instead of the one consul-template renders.
#
#   scripts/gateway.sh render [--tls TLS_LISTEN CERT KEY] DIR LISTEN NODE...
#     --tls   also serve https/wss (nginx/confab-tls.conf) on TLS_LISTEN,
#             e.g. 127.0.0.1:8443, with the PEM certificate (chain) CERT and
#             its key KEY; without it, plain http only
#     DIR     where nginx.conf, confab/*.conf, upstream.conf, logs and temp
#             files go (created)
#     LISTEN  the address the plain http server listens on, e.g. 127.0.0.1:8080
#     NODE    host:port of each node
#
# Then run: nginx -c DIR/nginx.conf -p DIR -g 'daemon off;'
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Escapes $1 for the replacement side of a sed s||| command.
sed_escape() { printf '%s' "$1" | sed -e 's/[|&\\]/\\&/g'; }

# Whether the nginx on PATH is older than 1.25.1, which introduced `http2 on`
# (Debian 12 ships 1.22). Unknown (no nginx yet): assume a recent one.
nginx_before_http2_directive() {
  local version
  version=$(nginx -v 2>&1 | sed -nE 's|.*nginx/([0-9.]+).*|\1|p') || true
  [ -n "$version" ] || return 1
  [ "$(printf '%s\n' "$version" 1.25.1 | sort -V | head -n1)" != 1.25.1 ]
}

render() {
  local tls_listen="" tls_cert="" tls_key=""
  if [ "${1:-}" = --tls ]; then
    [ "$#" -ge 4 ] || { echo "gateway.sh: --tls needs TLS_LISTEN CERT KEY" >&2; exit 2; }
    tls_listen=$2 tls_cert=$3 tls_key=$4
    shift 4
    [ -r "$tls_cert" ] && [ -r "$tls_key" ] || { echo "gateway.sh: cannot read $tls_cert or $tls_key" >&2; exit 1; }
    tls_cert=$(cd "$(dirname "$tls_cert")" && pwd)/$(basename "$tls_cert")
    tls_key=$(cd "$(dirname "$tls_key")" && pwd)/$(basename "$tls_key")
  fi
  [ "$#" -ge 2 ] || { sed -n '2,17p' "$0" >&2; exit 2; }
  local dir=$1 listen=$2
  shift 2
  [ "$#" -gt 0 ] || { echo "gateway.sh: at least one node" >&2; exit 2; }
  mkdir -p "$dir/tmp" "$dir/confab"
  dir=$(cd "$dir" && pwd)
  # The server blocks include `confab/confab-server.conf`, relative to the
  # directory of nginx.conf: every shared file goes to DIR/confab/.
  rm -f "$dir/confab.conf" "$dir/confab/confab-tls.conf" # left by older renders
  cp "$ROOT/nginx/confab-server.conf" "$dir/confab/confab-server.conf"
  # The plain server listens on :8080 everywhere; here, on LISTEN.
  sed -E "s/^([[:space:]]*)listen 8080;/\1listen $listen;/" "$ROOT/nginx/confab.conf" >"$dir/confab/confab.conf"
  grep -q "listen $listen;" "$dir/confab/confab.conf" || { echo "gateway.sh: no 'listen 8080;' in confab.conf" >&2; exit 1; }
  local tls_include="# (no TLS server: rendered without --tls)"
  if [ -n "$tls_listen" ]; then
    # The TLS server listens on :8443 with the certificate under
    # /etc/nginx/tls/ (the gateway image's); here, on TLS_LISTEN with CERT
    # and KEY. nginx before 1.25.1 knows `listen ... http2`, not `http2 on`.
    local listen_tls="listen $tls_listen ssl;"
    nginx_before_http2_directive && listen_tls="listen $tls_listen ssl http2;"
    sed -E \
      -e "s|^([[:space:]]*)listen 8443 ssl;|\1$(sed_escape "$listen_tls")|" \
      -e "s|/etc/nginx/tls/cert\.pem;|$(sed_escape "$tls_cert");|" \
      -e "s|/etc/nginx/tls/key\.pem;|$(sed_escape "$tls_key");|" \
      "$ROOT/nginx/confab-tls.conf" >"$dir/confab/confab-tls.conf"
    if [ "$listen_tls" = "listen $tls_listen ssl http2;" ]; then
      sed -i -E '/^[[:space:]]*http2 on;/d' "$dir/confab/confab-tls.conf"
    fi
    grep -qF "$listen_tls" "$dir/confab/confab-tls.conf" &&
      grep -qF "ssl_certificate     $tls_cert;" "$dir/confab/confab-tls.conf" &&
      grep -qF "ssl_certificate_key $tls_key;" "$dir/confab/confab-tls.conf" ||
      { echo "gateway.sh: confab-tls.conf lacks 'listen 8443 ssl;' or the /etc/nginx/tls/ paths" >&2; exit 1; }
    tls_include="include $dir/confab/confab-tls.conf;"
  fi
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
    include $dir/confab/confab.conf;
    $tls_include
    access_log $dir/access.log confab;
}
CONF
}

case "${1:-}" in
  render) shift; render "$@" ;;
  *) sed -n '2,17p' "$0" >&2; exit 2 ;;
esac
