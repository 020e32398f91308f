//! `append_messages` finds each message's conversation by an exact probe of
//! a unique index. The first version joined the batch to `conversations`
//! on `LEAST`/`GREATEST` of the pair; under the function's generic plan
//! Postgres answered that with a bitmap scan of *every* direct
//! conversation (`conversations_direct_hi`, `group_id IS NULL`) and a hash
//! join: 0.9 ms for a batch of one message with 300 conversations (1,300
//! row versions) in the bench database, and growing with the table. Each
//! lookup is now a `LATERAL` probe per message: a few index pages, whatever
//! the number of conversations. Same signature, same result, same locking
//! order.
//!
//! `conversations_direct_hi` becomes `(user_hi, user_lo)`: the planner
//! probes a pair through it as readily as through the unique `(user_lo,
//! user_hi)` one, and on `user_hi` alone it read every conversation of that
//! user (~80 entries per probe in the bench) before filtering on `user_lo`.
//! With both columns, either index finds the pair exactly, and the
//! `user_hi` lookups of `user_conversations` are served as before.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: &str = r#"
CREATE INDEX conversations_direct_hi_lo ON conversations (user_hi, user_lo) WHERE group_id IS NULL;
DROP INDEX conversations_direct_hi;
ALTER INDEX conversations_direct_hi_lo RENAME TO conversations_direct_hi;
"#;

/// The function this migration makes (what the next one's `down` puts
/// back).
pub(crate) const FUNCTION: &str = r#"
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
        WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.msg_id = k.id)
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
    SELECT m.msg_id, m.conv_id, m.seq FROM messages m WHERE m.msg_id = ANY (p_ids);
END
$fn$;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(INDEXES).await?;
        db.execute_unprepared(FUNCTION).await?;
        Ok(())
    }

    /// The function as `m20261129_000004_append_function` made it.
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use super::m20261129_000004_append_function::{DOWN, UP};
        let db = manager.get_connection();
        db.execute_unprepared(DOWN).await?;
        db.execute_unprepared(UP).await?;
        db.execute_unprepared(
            "CREATE INDEX conversations_direct_hi_only ON conversations (user_hi) WHERE group_id IS NULL;
             DROP INDEX conversations_direct_hi;
             ALTER INDEX conversations_direct_hi_only RENAME TO conversations_direct_hi;",
        )
        .await?;
        Ok(())
    }
}
