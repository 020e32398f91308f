#!/usr/bin/env bash
# Checks observability/ (Prometheus, its alerts, the Grafana dashboard)
# against itself and against the code, without running Prometheus or
# Grafana:
#
#   1. `promtool check config` on prometheus.yml (and its rule files);
#   2. `promtool check rules` on alerts.yml;
#   3. `promtool test rules` on alerts.test.yml, and every alert has a test
#      in which it fires and one in which it stays quiet;
#   4. the dashboard JSON parses, every panel's target names the provisioned
#      data source, and every target `expr` is valid PromQL (each becomes a
#      recording rule of a temporary rules file that promtool checks);
#   5. every metric name an alert, an alert test or a dashboard uses exists:
#      a constant of common/src/metric.rs (histograms as _bucket, _sum and
#      _count) or Prometheus's own `up`;
#   6. the Consul services and tags prometheus.yml discovers are the ones the
#      node and the dispatcher register (node/src/lifecycle.rs,
#      dispatcher/src/lib.rs), and every `job` an expression names is a
#      scrape job;
#   7. docker-compose's prometheus and grafana services mount, read-only,
#      the files their configuration names (config, data source, dashboard).
#
# promtool is Debian's (see ensure_promtool). Prints `observability: ok` last
# on success; exits non-zero at the first failure.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$CONFAB_ROOT"

OBS=observability
PROM_DIR=$OBS/prometheus
DASHBOARD=$OBS/grafana/dashboards/confab.json
DATASOURCES=$OBS/grafana/provisioning/datasources/prometheus.yml

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Debian's promtool without Debian's Prometheus server: installing the
# `prometheus` package would also enable and start the daemon (port 9090)
# and pull in a web UI's JavaScript libraries. apt fetches (and verifies)
# the package; only /usr/bin/promtool is taken out of it, into .run/.
# A promtool already on PATH (e.g. from that package) is used as it is.
ensure_promtool() {
  if command -v promtool >/dev/null; then
    PROMTOOL=$(command -v promtool)
    return 0
  fi
  PROMTOOL="$RUN_DIR/promtool/promtool"
  [ -x "$PROMTOOL" ] && return 0
  local deb_dir="$WORK/deb"
  mkdir -p "$deb_dir" "$RUN_DIR/promtool"
  log "fetching promtool from Debian's prometheus package (the server is not installed)"
  if ! (cd "$deb_dir" && apt-get download -o APT::Sandbox::User=root prometheus >/dev/null 2>&1); then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    (cd "$deb_dir" && apt-get download -o APT::Sandbox::User=root prometheus >/dev/null)
  fi
  dpkg-deb --fsys-tarfile "$deb_dir"/prometheus_*.deb | tar -x -O ./usr/bin/promtool >"$PROMTOOL.part"
  chmod +x "$PROMTOOL.part"
  mv "$PROMTOOL.part" "$PROMTOOL"
}

# A Python 3 with PyYAML (Debian's python3-yaml when there is none).
ensure_python_yaml() {
  local py
  for py in python3 /usr/bin/python3; do
    if command -v "$py" >/dev/null && "$py" -c 'import yaml' 2>/dev/null; then
      PY=$py
      return 0
    fi
  done
  apt_install python3 python3-yaml
  PY=/usr/bin/python3
}

ensure_promtool
ensure_python_yaml
log "promtool: $("$PROMTOOL" --version 2>&1 | head -n1)"

# The checks that need a YAML and JSON reader, one subcommand each.
check_py() {
  "$PY" - "$@" <<'PY'
import json, os, re, sys
import yaml

def fail(msg):
    sys.exit(f"observability: {msg}")

def load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)

# --- 1. prometheus.yml for a promtool built without Consul SD -------------
# Debian's prometheus (2.42) is built without Consul service discovery
# ("Disable Consul SD until its Debian package is back in shape"), so its
# promtool rejects `consul_sd_configs`. Each such block is checked here
# against Prometheus's documented consul_sd_config fields, then replaced by
# a placeholder static target so promtool checks everything else (globals,
# relabelling, rule files).
CONSUL_FIELDS = {
    "server": str, "token": str, "datacenter": str, "namespace": str,
    "partition": str, "path_prefix": str, "scheme": str, "services": list,
    "tags": list, "node_meta": dict, "tag_separator": str, "allow_stale": bool,
    "refresh_interval": str, "tls_config": dict, "basic_auth": dict,
    "authorization": dict, "proxy_url": str, "follow_redirects": bool,
    "enable_http2": bool, "filter": str,
}

def config_without_consul(src, dst):
    config = load_yaml(src)
    for job in config.get("scrape_configs") or []:
        blocks = job.pop("consul_sd_configs", None)
        if blocks is None:
            continue
        name = job.get("job_name")
        if not isinstance(blocks, list) or not blocks:
            fail(f"{src}: job {name}: consul_sd_configs must be a non-empty list")
        for block in blocks:
            if not isinstance(block, dict):
                fail(f"{src}: job {name}: a consul_sd_config must be a mapping")
            for key, value in block.items():
                if key not in CONSUL_FIELDS:
                    fail(f"{src}: job {name}: unknown consul_sd_config field {key!r}")
                if not isinstance(value, CONSUL_FIELDS[key]):
                    fail(f"{src}: job {name}: consul_sd_config {key} has the wrong type")
            if not re.fullmatch(r"[A-Za-z0-9.\-\[\]:]+:[0-9]+", block.get("server", "")):
                fail(f"{src}: job {name}: consul_sd_config server must be host:port")
            if block.get("scheme", "http") not in ("http", "https"):
                fail(f"{src}: job {name}: consul_sd_config scheme must be http or https")
            for key in ("services", "tags"):
                if not all(isinstance(v, str) and v for v in block.get(key, [])):
                    fail(f"{src}: job {name}: consul_sd_config {key} must be names")
            interval = block.get("refresh_interval", "30s")
            if not re.fullmatch(r"([0-9]+(ms|s|m|h|d|w|y))+", interval):
                fail(f"{src}: job {name}: bad refresh_interval {interval!r}")
        statics = job.setdefault("static_configs", [])
        statics.append({"targets": ["consul-sd-placeholder:80"]})
    with open(dst, "w") as f:
        yaml.safe_dump(config, f)

# --- 3. every alert fires in a test and stays quiet in one ----------------
def alerts_of(path):
    names = []
    for group in load_yaml(path)["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                names.append(rule["alert"])
    return names

def coverage(alerts_path, tests_path):
    fires, quiet = set(), set()
    for test in load_yaml(tests_path)["tests"]:
        for case in test.get("alert_rule_test") or []:
            (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
    for name in alerts_of(alerts_path):
        if name not in fires:
            fail(f"alert {name} has no test in which it fires ({tests_path})")
        if name not in quiet:
            fail(f"alert {name} has no test in which it stays quiet ({tests_path})")
    unknown = (fires | quiet) - set(alerts_of(alerts_path))
    if unknown:
        fail(f"{tests_path} tests alerts that do not exist: {sorted(unknown)}")

# --- 4. the dashboard -----------------------------------------------------
# Grafana's interval variables, replaced by durations so that promtool can
# parse the expression. No other variable is allowed.
GRAFANA_VARS = {"__rate_interval": "1m", "__interval": "1m", "__range": "1h"}

def substitute(expr, where):
    def one(m):
        name = m.group(1) or m.group(2)
        if name not in GRAFANA_VARS:
            fail(f"{where}: unknown variable ${name}")
        return GRAFANA_VARS[name]
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, expr)

def panels_of(dashboard):
    for panel in dashboard.get("panels", []):
        yield panel
        for inner in panel.get("panels", []):
            yield inner

def dashboard_exprs(path, datasources_path):
    try:
        with open(path) as f:
            dashboard = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{path} does not parse: {e}")
    uids = {d.get("uid") for d in load_yaml(datasources_path)["datasources"]}
    exprs, ids = [], set()
    if not dashboard.get("uid") or not dashboard.get("title"):
        fail(f"{path}: the dashboard needs a uid and a title")
    for panel in panels_of(dashboard):
        pid = panel.get("id")
        if pid in ids:
            fail(f"{path}: panel id {pid} is used twice")
        ids.add(pid)
        if panel.get("type") == "row":
            continue
        title = panel.get("title") or f"panel {pid}"
        targets = panel.get("targets") or []
        if not targets:
            fail(f"{path}: panel {title!r} has no target")
        for target in targets:
            where = f"{path}: panel {title!r} target {target.get('refId')}"
            for ds in (panel.get("datasource"), target.get("datasource")):
                if ds is not None and ds.get("uid") not in uids:
                    fail(f"{where}: data source {ds} is not provisioned ({datasources_path})")
            expr = (target.get("expr") or "").strip()
            if not expr:
                fail(f"{where}: no expr")
            record = f"dashboard:panel_{pid}:{target.get('refId', '')}"
            exprs.append((where, substitute(expr, where), record))
    if not exprs:
        fail(f"{path}: no panel has a query")
    return exprs

def dashboard_rules(path, datasources_path, out):
    # Named after the panel id and refId, so that promtool's message says
    # which target failed.
    rules = [{"record": record, "expr": expr}
             for _, expr, record in dashboard_exprs(path, datasources_path)]
    with open(out, "w") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)

# --- 5. metric names --------------------------------------------------------
def known_metrics(metric_rs):
    source = open(metric_rs).read()
    known = {"up"}  # written by Prometheus for every target it scrapes
    pattern = r"((?:\s*///[^\n]*\n)+)\s*pub const \w+: &str = \"([a-z_:][a-z0-9_:]*)\";"
    for docs, name in re.findall(pattern, source):
        kind = re.match(r"\s*///\s*(\w+)", docs).group(1).lower()
        if kind == "histogram":
            known |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        elif kind in ("counter", "gauge"):
            known.add(name)
        else:
            fail(f"{metric_rs}: cannot tell the kind of {name} from its doc comment")
    if len(known) < 10:
        fail(f"{metric_rs}: found only {len(known)} metric names; has its layout changed?")
    return known

KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on",
            "ignoring", "group_left", "group_right", "inf", "nan", "atan2"}

def metric_names(expr):
    """The metric names a PromQL expression selects."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for m in re.finditer(r"(?<![\w.:])([A-Za-z_:][\w:]*)", expr):
        rest = expr[m.end():].lstrip()
        if rest.startswith("(") or m.group(1).lower() in KEYWORDS:
            continue
        names.add(m.group(1))
    return names

def rule_exprs(path):
    for group in load_yaml(path)["groups"]:
        for rule in group["rules"]:
            yield f"{path}: {rule.get('alert') or rule.get('record')}", rule["expr"]

def test_exprs(path):
    for test in load_yaml(path)["tests"]:
        for series in test.get("input_series") or []:
            yield f"{path}: input series", series["series"]
        for case in test.get("promql_expr_test") or []:
            yield f"{path}: promql_expr_test", case["expr"]

def names(metric_rs, alerts, tests, dashboard, datasources):
    known = known_metrics(metric_rs)
    uses = list(rule_exprs(alerts)) + list(test_exprs(tests))
    uses += [(where, expr) for where, expr, _ in dashboard_exprs(dashboard, datasources)]
    for where, expr in uses:
        for name in sorted(metric_names(expr) - known):
            fail(f"{where}: metric {name} is not exported by Confab "
                 f"({metric_rs}; histograms as _bucket/_sum/_count) nor `up`")

# --- 6. Consul services and jobs --------------------------------------------
def registered(rust_file):
    """(service name, tags) of the Service::new call in rust_file."""
    source = open(rust_file).read()
    m = re.search(r"Service::new\(\s*[^;]*?,\s*\"([^\"]+)\",\s*&\[([^\]]*)\]", source, re.S)
    if not m:
        fail(f"{rust_file}: cannot find the Consul registration (Service::new)")
    return m.group(1), set(re.findall(r"\"([^\"]+)\"", m.group(2)))

def sd_sync(prom, alerts, dashboard, datasources, *rust_files):
    config = load_yaml(prom)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    services = [registered(f) for f in rust_files]
    watched = {}
    for job in jobs.values():
        for block in job.get("consul_sd_configs") or []:
            for service in block.get("services") or []:
                watched[service] = set(block.get("tags") or [])
    for service, tags in services:
        if service not in watched:
            fail(f"{prom}: no scrape job discovers the Consul service {service}")
        if not watched[service] <= tags:
            fail(f"{prom}: {service} is registered with tags {sorted(tags)}, "
                 f"but discovered only with {sorted(watched[service])}")
    unknown = set(watched) - {s for s, _ in services}
    if unknown:
        fail(f"{prom}: discovers Consul services nothing registers: {sorted(unknown)}")
    uses = list(rule_exprs(alerts))
    uses += [(where, expr) for where, expr, _ in dashboard_exprs(dashboard, datasources)]
    for where, expr in uses:
        for value in re.findall(r"\bjob\s*=~?\s*\"([^\"]*)\"", expr):
            for job in value.split("|"):
                if job not in jobs:
                    fail(f"{where}: job {job!r} is not a scrape job of {prom}")

# --- 7. docker-compose's prometheus and grafana services -------------------
def compose(compose_file, provider_file, datasources):
    services = load_yaml(compose_file)["services"]
    def host_path(service, target):
        """The file in the repository that `target` is inside `service`."""
        for volume in services[service].get("volumes") or []:
            parts = volume.split(":")
            if not parts[0].startswith("./"):
                continue
            if parts[-1] != "ro":
                fail(f"{compose_file}: {service} mounts {parts[0]} read-write")
            if target == parts[1] or target.startswith(parts[1].rstrip("/") + "/"):
                return parts[0] + target[len(parts[1]):]
        fail(f"{compose_file}: {service} mounts nothing from the repository at {target}")
    def exists(service, target, what):
        path = host_path(service, target)
        if not os.path.exists(path):
            fail(f"{compose_file}: {service}'s {what} {target} is {path}, which does not exist")
    for name in ("prometheus", "grafana"):
        if name not in services:
            fail(f"{compose_file}: no {name} service")
    flags = [a for a in services["prometheus"].get("command") or [] if a.startswith("--config.file=")]
    if not flags:
        fail(f"{compose_file}: prometheus has no --config.file")
    exists("prometheus", flags[0].split("=", 1)[1], "configuration")
    exists("grafana", "/etc/grafana/provisioning/datasources/" + os.path.basename(datasources),
           "data source")
    for provider in load_yaml(provider_file)["providers"]:
        exists("grafana", provider["options"]["path"] + "/confab.json", "dashboard")
    home = services["grafana"].get("environment", {}).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home:
        exists("grafana", home, "home dashboard")
    for source in load_yaml(datasources)["datasources"]:
        host = re.match(r"https?://([^:/]+)", source["url"]).group(1)
        if host not in services:
            fail(f"{datasources}: data source {source['name']} points at {host}, not a service")

commands = {
    "compose": compose,
    "config-without-consul": config_without_consul,
    "coverage": coverage,
    "dashboard-rules": dashboard_rules,
    "names": names,
    "sd-sync": sd_sync,
}
commands[sys.argv[1]](*sys.argv[2:])
PY
}

log "promtool check config"
if ! "$PROMTOOL" check config "$PROM_DIR/prometheus.yml" >"$WORK/config.out" 2>&1; then
  if grep -q "field consul_sd_configs not found" "$WORK/config.out"; then
    log "this promtool has no Consul SD (Debian builds it without): consul_sd_configs checked field by field, the rest by promtool"
    mkdir -p "$WORK/config"
    cp "$PROM_DIR/alerts.yml" "$WORK/config/"
    check_py config-without-consul "$PROM_DIR/prometheus.yml" "$WORK/config/prometheus.yml"
    "$PROMTOOL" check config "$WORK/config/prometheus.yml"
  else
    cat "$WORK/config.out" >&2
    die "promtool check config failed"
  fi
fi

log "promtool check rules"
"$PROMTOOL" check rules "$PROM_DIR/alerts.yml"

log "promtool test rules"
"$PROMTOOL" test rules "$PROM_DIR/alerts.test.yml"
check_py coverage "$PROM_DIR/alerts.yml" "$PROM_DIR/alerts.test.yml"

log "dashboard: JSON and PromQL"
check_py dashboard-rules "$DASHBOARD" "$DATASOURCES" "$WORK/dashboard-rules.yml"
"$PROMTOOL" check rules "$WORK/dashboard-rules.yml"

log "metric names against common/src/metric.rs"
check_py names common/src/metric.rs "$PROM_DIR/alerts.yml" "$PROM_DIR/alerts.test.yml" \
  "$DASHBOARD" "$DATASOURCES"

log "Consul services and scrape jobs"
check_py sd-sync "$PROM_DIR/prometheus.yml" "$PROM_DIR/alerts.yml" "$DASHBOARD" "$DATASOURCES" \
  node/src/lifecycle.rs dispatcher/src/lib.rs

log "docker-compose: prometheus and grafana mounts"
check_py compose docker-compose.yml "$OBS/grafana/provisioning/dashboards/confab.yml" "$DATASOURCES"

echo "observability: ok"
