# A single-server Consul agent for development and docker-compose: it is the
# whole cluster (no replication, no ACLs, no TLS, no gossip encryption).
# Production runs 3 or 5 servers and a client agent on every host.
# See consul/README.md.

datacenter = "dc1"
node_name  = "consul"
data_dir   = "/consul/data"
log_level  = "INFO"

server           = true
bootstrap_expect = 1

# HTTP API, UI and DNS on every interface of the container; docker-compose
# publishes only the UI/API port, and only on the host's loopback.
client_addr = "0.0.0.0"

ui_config {
  enabled = true
}

ports {
  http = 8500
  dns  = 8600
}

# Confab registers HTTP checks only. Script checks would let anyone who can
# reach the HTTP API run commands on this machine.
enable_script_checks       = false
enable_local_script_checks = false

disable_update_check = true
