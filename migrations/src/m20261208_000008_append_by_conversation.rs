//! Every statement `append_messages` makes on `messages` is keyed by the
//! conversation first: the "already logged?" probe and the closing read
//! of what was logged before were keyed by `msg_id` alone. On one
//! Postgres nothing changes (the primary key on `msg_id` serves both, the
//! conversation is one more filter on the row it finds); on a log
//! distributed by conversation (Citus with `conv_id` as the distribution
//! column, or `PARTITION BY HASH (conv_id)`), a statement keyed by
//! `msg_id` alone has to ask every shard or partition, and one keyed by
//! `conv_id` first goes to one (docs/architecture.md, "Capacity and
//! growing past one machine"). Same signature, same result, same locking
//! order.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE OR REPLACE FUNCTION append_messages(
    p_ids BIGINT[], p_senders BIGINT[], p_to_users BIGINT[], p_to_groups BIGINT[],
    p_bodies TEXT[], p_sent_at BIGINT[], p_devices TEXT[])
RETURNS TABLE (msg_id BIGINT, conv_id BIGINT, seq BIGINT)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $fn$
#variable_conflict use_column
BEGIN
    -- The batch's conversations, each found by one unique-index probe,
    -- locked in id order (dispatchers active on different shards never
    -- deadlock). NO KEY UPDATE: foreign keys' key-share locks (an ack's
    -- device position, a read position) do not wait on it.
    PERFORM 1 FROM conversations c
    WHERE c.id = ANY (ARRAY(
        SELECT x.id
        FROM unnest(p_senders, p_to_users, p_to_groups) AS k(s, u, g)
        CROSS JOIN LATERAL (
            SELECT d.id FROM conversations d
            WHERE k.g = 0 AND d.group_id IS NULL
              AND d.user_lo = LEAST(k.s, k.u) AND d.user_hi = GREATEST(k.s, k.u)
            UNION ALL
            SELECT e.id FROM conversations e
            WHERE k.g <> 0 AND e.group_id = k.g AND e.group_id IS NOT NULL) x))
    ORDER BY c.id
    FOR NO KEY UPDATE;
    -- A new statement, so a new snapshot: what another dispatcher committed
    -- before we got the locks (a batch it logged but never acked) is seen.
    RETURN QUERY
    WITH batch AS (
        SELECT DISTINCT ON (t.id) t.*
        FROM unnest(p_ids, p_senders, p_to_users, p_to_groups, p_bodies, p_sent_at, p_devices)
             WITH ORDINALITY AS t(id, sender, to_user, to_group, body, sent_at, device, ord)
        ORDER BY t.id, t.ord
    ), keyed AS (
        SELECT b.*, x.id AS conv, x.last_seq AS base
        FROM batch b
        CROSS JOIN LATERAL (
            SELECT d.id, d.last_seq FROM conversations d
            WHERE b.to_group = 0 AND d.group_id IS NULL
              AND d.user_lo = LEAST(b.sender, b.to_user) AND d.user_hi = GREATEST(b.sender, b.to_user)
            UNION ALL
            SELECT e.id, e.last_seq FROM conversations e
            WHERE b.to_group <> 0 AND e.group_id = b.to_group AND e.group_id IS NOT NULL) x
    ), numbered AS (
        SELECT k.*, k.base + row_number() OVER (PARTITION BY k.conv ORDER BY k.ord) AS next
        FROM keyed k
        WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.conv_id = k.conv AND m.msg_id = k.id)
    ), inserted AS (
        -- No ON CONFLICT: under the locks a clash cannot happen, and if it
        -- did the batch must fail (messages_log), not slip a seq.
        INSERT INTO messages (msg_id, sender_id, to_user_id, to_group_id, body, sent_at,
                              conv_id, seq, sender_device)
        SELECT id, sender, NULLIF(to_user, 0), NULLIF(to_group, 0), body, sent_at, conv, next,
               NULLIF(device, '')
        FROM numbered
        RETURNING messages.msg_id, messages.conv_id, messages.seq
    ), moved AS (
        UPDATE conversations c SET last_seq = n.top, last_at = GREATEST(c.last_at, n.at)
        FROM (SELECT conv, max(next) AS top, max(sent_at) AS at FROM numbered GROUP BY conv) n
        WHERE c.id = n.conv
    )
    SELECT i.msg_id, i.conv_id, i.seq FROM inserted i
    UNION ALL
    -- Logged before this statement began.
    SELECT m.msg_id, m.conv_id, m.seq FROM keyed k
    JOIN messages m ON m.conv_id = k.conv AND m.msg_id = k.id;
END
$fn$;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(UP).await?;
        Ok(())
    }

    /// The function as `m20261207_000007_append_exact` made it.
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(super::m20261207_000007_append_exact::FUNCTION)
            .await?;
        Ok(())
    }
}
