#!/usr/bin/env bash
# Bytes per logged message (and per position row) in Postgres, and the
# append's time per batch size, measured on a throwaway database that is
# dropped at the end (also on failure).
#
#   docs/capacity/pg-probe.sh [MESSAGES] [BODY_CHARS]      # defaults: 100000 64
#
# The schema comes from `target/release/migrate up` when that binary exists,
# else from the migrations' own SQL (the `UP` string of each file in
# migrations/src, in lib.rs order: the same text the binary executes).
set -euo pipefail
cd "$(dirname "$0")/../.."
MESSAGES=${1:-100000}
LEN=${2:-64}
BASE=${PG_URL_BASE:-postgres://postgres@127.0.0.1:5432}
DB=confab_capacity_probe
URL="$BASE/$DB?sslmode=disable"
psql_() { psql -X -v ON_ERROR_STOP=1 -q "$URL" "$@"; }
[[ ${KEEP:-} ]] || trap 'psql -X -q "$BASE/postgres" -c "DROP DATABASE IF EXISTS $DB" >/dev/null' EXIT

psql -X -q "$BASE/postgres" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
if [[ -x target/release/migrate ]]; then
    echo "schema: target/release/migrate up"
    DATABASE_URL=$URL target/release/migrate up >/dev/null
else
    echo "schema: the UP SQL of migrations/src/*.rs, in lib.rs order"
    python3 - <<'PY' | psql_
import re
lib = open("migrations/src/lib.rs").read()
for name in re.findall(r"Box::new\((m\w+)::Migration\)", lib):
    src = open(f"migrations/src/{name}.rs").read()
    print(re.search(r'const UP: &str = r#"(.*?)"#;', src, re.S).group(1))
PY
fi
psql_ -f docs/capacity/pg-seed.sql >/dev/null

# In ten runs with an ANALYZE before each, as autovacuum would do: the
# function's plan is generic and made once per connection, and made while
# `messages` has no statistics it checks "already logged?" with a
# sequential scan of the whole table (Postgres on the machine this was
# written on runs with autovacuum = off).
echo "--- $MESSAGES messages of $LEN characters, in batches of 8 (pgbench, one client, each batch committed)"
wal0=$(psql_ -Atc "SELECT pg_current_wal_lsn()")
for _ in $(seq 10); do
    psql_ -c "ANALYZE messages, conversations"
    pgbench -n -c 1 -t $((MESSAGES / 80)) -D b=8 -D len="$LEN" -f docs/capacity/pg-append.pgbench "$URL" \
        | awk '/latency average/ {printf "%s ms ", $4}'
done
echo "a batch, per tenth of the load"
wal1=$(psql_ -Atc "SELECT pg_current_wal_lsn()")
psql_ -Atc "SELECT 'WAL written (whole cluster, others included): ' || pg_wal_lsn_diff('$wal1', '$wal0')
            || ' B = ' || round(pg_wal_lsn_diff('$wal1', '$wal0') / (SELECT count(*) FROM messages)) || ' B per message'"

# Positions: two devices per user, a position per device per conversation
# and a read position per user per conversation (open_device's shapes).
psql_ <<'SQL'
INSERT INTO devices (user_id, device)
    SELECT id, d || substr(md5(id::text || d), 1, 16) FROM users, (VALUES ('web-'), ('phone-')) v(d);
INSERT INTO device_positions (user_id, device, conv_id, seq)
    SELECT dv.user_id, dv.device, uc.conv_id, uc.last_seq
    FROM devices dv CROSS JOIN LATERAL user_conversations(dv.user_id) uc;
INSERT INTO read_positions (user_id, conv_id, seq)
    SELECT u.id, uc.conv_id, uc.last_seq FROM users u CROSS JOIN LATERAL user_conversations(u.id) uc;
VACUUM ANALYZE;
SQL

echo "--- sizes after VACUUM ANALYZE"
psql_ -P pager=off <<'SQL'
SELECT c.relname AS "table", n.rows,
       pg_relation_size(c.oid) AS heap,
       COALESCE(pg_total_relation_size(NULLIF(c.reltoastrelid, 0)), 0) AS toast,
       pg_indexes_size(c.oid) AS indexes,
       pg_total_relation_size(c.oid) AS total,
       round(pg_relation_size(c.oid)::numeric / NULLIF(n.rows, 0), 1) AS heap_per_row,
       round(pg_indexes_size(c.oid)::numeric / NULLIF(n.rows, 0), 1) AS indexes_per_row,
       round(pg_total_relation_size(c.oid)::numeric / NULLIF(n.rows, 0), 1) AS total_per_row
FROM pg_class c
CROSS JOIN LATERAL (SELECT CASE c.relname
    WHEN 'messages' THEN (SELECT count(*) FROM messages)
    WHEN 'conversations' THEN (SELECT count(*) FROM conversations)
    WHEN 'device_positions' THEN (SELECT count(*) FROM device_positions)
    WHEN 'read_positions' THEN (SELECT count(*) FROM read_positions)
    WHEN 'devices' THEN (SELECT count(*) FROM devices) END AS rows) n
WHERE c.relname IN ('messages', 'conversations', 'device_positions', 'read_positions', 'devices')
  AND c.relkind = 'r'
ORDER BY total DESC;
SELECT i.relname AS "index", pg_relation_size(i.oid) AS bytes,
       round(pg_relation_size(i.oid)::numeric / (SELECT count(*) FROM messages), 1) AS per_message
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
WHERE x.indrelid = 'messages'::regclass;
SELECT round(avg(pg_column_size(m.*)), 1) AS avg_tuple_bytes, round(avg(octet_length(body)), 1) AS avg_body
FROM messages m;
SQL

echo "--- append_messages per batch size: in the function (pg_stat_user_functions), and per pgbench transaction"
echo "    (one client, prepared, each batch committed; the transaction also builds the batch's arrays)"
psql_ -c "ALTER DATABASE $DB SET track_functions = 'pl'"
for spec in "1 3000" "8 1500" "64 300" "256 100"; do
    set -- $spec
    psql_ -c "ANALYZE messages, conversations" -c "SELECT pg_stat_reset()" >/dev/null
    lat=$(pgbench -n -M prepared -c 1 -t "$2" -D b="$1" -D len="$LEN" -f docs/capacity/pg-append.pgbench "$URL" \
        | awk '/latency average/ {print $4}')
    sleep 1  # the statistics collector's report
    psql_ -Atc "SELECT format('batch %s: %s ms in the function (%s msg/s for one shard if the append were all), %s ms a transaction',
                    lpad('$1', 3), round((total_time / calls)::numeric, 3),
                    round($1 * 1000 / (total_time / calls)), '$lat')
                FROM pg_stat_user_functions WHERE funcname = 'append_messages'"
done
echo "--- dropping $DB"
