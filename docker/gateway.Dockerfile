# Confab gateway: nginx run by consul-template, which renders the upstream of
# passing confab-node instances and reloads nginx when it changes.
# See nginx/README.md.
#
# Plain http on 8080; https and wss on 8443 with the certificate mounted
# read-only at /etc/nginx/tls (cert.pem, the full chain, and key.pem), or, if
# none is mounted, a self-signed one made at start (nginx/gateway-start.sh;
# never for production).
#
#   docker build -f docker/gateway.Dockerfile -t confab-gateway .
#   docker run -e CONSUL_HTTP_ADDR=http://consul:8500 -p 8080:8080 -p 8443:8443 \
#     -v /etc/confab/tls:/etc/nginx/tls:ro confab-gateway

FROM hashicorp/consul-template:0.39.1 AS ct

FROM nginx:1.27
COPY --from=ct /bin/consul-template /usr/local/bin/consul-template
# openssl (not in the base image) makes the self-signed fallback certificate.
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssl \
 && rm -rf /var/lib/apt/lists/* \
 && rm -f /etc/nginx/conf.d/default.conf \
 && mkdir -p /etc/nginx/confab /etc/nginx/tls
COPY nginx/nginx.conf /etc/nginx/nginx.conf
COPY nginx/confab.conf nginx/confab-server.conf nginx/confab-tls.conf \
     nginx/upstream.ctmpl nginx/consul-template.hcl nginx/gateway-start.sh /etc/nginx/confab/
RUN chmod 755 /etc/nginx/confab/gateway-start.sh
EXPOSE 8080 8443
# Not the base image's SIGQUIT, which is consul-template's dump signal:
# SIGTERM makes consul-template stop nginx gracefully (SIGQUIT to nginx).
STOPSIGNAL SIGTERM
# The base image's entrypoint passes commands other than nginx through.
# gateway-start.sh picks the certificate, then execs consul-template.
CMD ["/etc/nginx/confab/gateway-start.sh"]
