# Confab gateway: nginx run by consul-template, which renders the upstream of
# passing confab-node instances and reloads nginx when it changes.
# See nginx/README.md.
#
#   docker build -f docker/gateway.Dockerfile -t confab-gateway .
#   docker run -e CONSUL_HTTP_ADDR=http://consul:8500 -p 8080:8080 confab-gateway

FROM hashicorp/consul-template:0.39.1 AS ct

FROM nginx:1.27
COPY --from=ct /bin/consul-template /usr/local/bin/consul-template
RUN rm -f /etc/nginx/conf.d/default.conf \
 && mkdir -p /etc/nginx/confab
COPY nginx/nginx.conf /etc/nginx/nginx.conf
COPY nginx/confab.conf nginx/upstream.ctmpl nginx/consul-template.hcl /etc/nginx/confab/
EXPOSE 8080
# Not the base image's SIGQUIT, which is consul-template's dump signal:
# SIGTERM makes consul-template stop nginx gracefully (SIGQUIT to nginx).
STOPSIGNAL SIGTERM
# The base image's entrypoint passes commands other than nginx through.
CMD ["consul-template", "-config=/etc/nginx/confab/consul-template.hcl"]
