-- The probe's people: 2,000 users, 10,000 friendships (so 10,000 direct
-- conversations, opened by the schema's own trigger), 100 groups (90 of 20
-- members, 10 of 200), and `probe_targets`: 11,000 (sender, target) pairs
-- in random order, 10,000 direct and 1,000 group, that pgbench picks runs of.
INSERT INTO users (username, password_hash, display_name)
    SELECT 'probe' || i, '!', 'Probe User ' || i FROM generate_series(1, 2000) i;
INSERT INTO friendships (user_lo, user_hi)
    SELECT DISTINCT LEAST(a, b), GREATEST(a, b)
    FROM generate_series(1, 2000) a, generate_series(1, 5) k,
         LATERAL (SELECT (a + k * 37 - 1) % 2000 + 1 AS b) o
    WHERE a <> b;
INSERT INTO groups (name) SELECT 'probe group ' || g FROM generate_series(1, 100) g;
INSERT INTO group_members (group_id, user_id, role)
    SELECT g.id, (g.id * 13 + m) % 2000 + 1, CASE WHEN m = 0 THEN 'owner' ELSE 'member' END
    FROM groups g, generate_series(0, CASE WHEN g.id <= 90 THEN 19 ELSE 199 END) m;

CREATE TABLE probe_targets (
    i BIGINT PRIMARY KEY, sender BIGINT, to_user BIGINT, to_group BIGINT, device TEXT);
INSERT INTO probe_targets
    SELECT row_number() OVER (ORDER BY random()), sender, to_user, to_group,
           'web-' || substr(md5(sender::text), 1, 16)
    FROM (
        SELECT x.s, CASE WHEN x.s = f.user_lo THEN f.user_hi ELSE f.user_lo END, 0::bigint
        FROM friendships f
        CROSS JOIN LATERAL (SELECT CASE WHEN random() < 0.5 THEN f.user_lo ELSE f.user_hi END) x(s)
        UNION ALL
        SELECT gm.user_id, 0, gm.group_id
        FROM (SELECT * FROM group_members ORDER BY random() LIMIT 1000) gm
    ) t(sender, to_user, to_group);
-- Snowflake-shaped ids from now on: (ms since 2025-01-01) << 22, then +1.
CREATE SEQUENCE probe_msg;
SELECT setval('probe_msg',
    ((extract(epoch FROM now()) * 1000)::bigint - 1735689600000) << 22);
