# consul-template for the gateway image: render the upstream of passing
# confab-node instances and run nginx as a child, reloading it on change.
#
# The Consul address comes from the environment: CONSUL_HTTP_ADDR (for
# example http://consul:8500), read by consul-template itself. Setting
# `consul { address = ... }` here would override it, so it is left out.

log_level = "info"

# `docker stop` sends SIGTERM: stop gracefully (SIGQUIT to nginx, below).
# The gateway image also sets STOPSIGNAL SIGTERM, because the nginx base
# image's SIGQUIT is consul-template's dump signal.
kill_signal = "SIGTERM"

consul {
  # Keep retrying while Consul is away (0 = no limit): nginx goes on serving
  # the last rendered upstream meanwhile.
  retry {
    enabled     = true
    attempts    = 0
    backoff     = "250ms"
    max_backoff = "10s"
  }
}

template {
  source      = "/etc/nginx/confab/upstream.ctmpl"
  destination = "/etc/nginx/confab/upstream.conf"
  perms       = 0644

  # Coalesce bursts (several nodes starting or stopping at once) into one
  # reload, while a change is still applied within 5 s.
  wait {
    min = "1s"
    max = "5s"
  }
}

exec {
  command = ["nginx", "-g", "daemon off;"]

  # A changed upstream: nginx re-reads its configuration; open WebSockets
  # stay on the old workers until they close (or worker_shutdown_timeout).
  reload_signal = "SIGHUP"

  # Graceful stop: finish requests, then exit.
  kill_signal  = "SIGQUIT"
  kill_timeout = "15s"
}
