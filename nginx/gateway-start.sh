#!/bin/sh
# The gateway image's command (docker/gateway.Dockerfile): give the TLS server
# (confab-tls.conf) a certificate, then run consul-template, which renders the
# upstream and runs nginx. See nginx/README.md, "TLS".
#
# A real certificate is mounted read-only at /etc/nginx/tls (cert.pem, the
# full chain, and key.pem). Without one, a self-signed certificate for
# localhost, 127.0.0.1 and ::1 is made here at start so the stack still comes
# up; browsers warn about it, and HSTS from it is ignored. Production must
# mount a real certificate.
set -eu

MOUNTED=/etc/nginx/tls
SELF_SIGNED=/etc/nginx/tls-self-signed # in the container, never on the host
TLS_CONF=/etc/nginx/confab/confab-tls.conf

if [ -s "$MOUNTED/cert.pem" ] && [ -s "$MOUNTED/key.pem" ]; then
  dir=$MOUNTED
  echo "gateway: TLS certificate from $MOUNTED: $(openssl x509 -noout -subject -enddate -in "$MOUNTED/cert.pem" | tr '\n' ' ')" >&2
else
  dir=$SELF_SIGNED
  # Kept across restarts of the same container; remade when it has less
  # than a day left.
  if ! [ -s "$dir/cert.pem" ] || ! [ -s "$dir/key.pem" ] ||
    ! openssl x509 -checkend 86400 -noout -in "$dir/cert.pem" >/dev/null; then
    mkdir -p "$dir"
    (umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
      -nodes -days 365 -subj /CN=localhost \
      -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1' \
      -addext 'extendedKeyUsage=serverAuth' \
      -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null)
    chmod 600 "$dir/key.pem"
    chmod 644 "$dir/cert.pem"
  fi
  echo "gateway: WARNING: no certificate mounted at $MOUNTED (cert.pem and key.pem);" \
    "serving a self-signed one for localhost. Mount a real certificate in production." >&2
fi

# Point the TLS server at the chosen directory (idempotent: a restarted
# container rewrites the same paths).
sed -i -E "s#^([[:space:]]*ssl_certificate[[:space:]]+).*;#\1$dir/cert.pem;#;
           s#^([[:space:]]*ssl_certificate_key[[:space:]]+).*;#\1$dir/key.pem;#" "$TLS_CONF"

exec consul-template -config=/etc/nginx/confab/consul-template.hcl
