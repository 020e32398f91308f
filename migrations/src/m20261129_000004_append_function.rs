//! The dispatcher's append as one statement: `append_messages` locks a
//! batch's conversations, numbers the messages not logged yet, inserts them
//! and moves each conversation's `last_seq`, in one round trip (before, a
//! transaction of four statements and six round trips per batch).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The first version of the function (the next migration replaces it and
/// restores this one on the way down).
pub(crate) const UP: &str = r#"
-- Appends a batch (arrays in routing order; 0 and '' stand for NULL) to the
-- conversation logs and returns where each of its messages sits: a new one
-- with the next seq of its conversation, one logged before (a redelivery)
-- where it already was. A message without a conversation (its group or an
-- account is gone) is left out. Idempotent.
CREATE FUNCTION append_messages(
    p_ids BIGINT[], p_senders BIGINT[], p_to_users BIGINT[], p_to_groups BIGINT[],
    p_bodies TEXT[], p_sent_at BIGINT[], p_devices TEXT[])
RETURNS TABLE (msg_id BIGINT, conv_id BIGINT, seq BIGINT)
LANGUAGE plpgsql
-- Planned once per connection: a custom plan per call (the default for
-- the first calls, and for ever when Postgres guesses the generic one is
-- dearer) cost 1-2 ms of planning, more than running it.
SET plan_cache_mode = force_generic_plan
AS $fn$
#variable_conflict use_column
BEGIN
    -- The batch's conversations, locked in id order (two dispatchers, each
    -- the active one of other shards, never deadlock). NO KEY UPDATE: only
    -- `last_seq` and `last_at` change, so the key-share locks of foreign
    -- keys (an ack's device position, a read position) do not wait on it.
    PERFORM 1 FROM conversations c
    WHERE c.id IN (
        SELECT d.id FROM conversations d
        JOIN unnest(p_senders, p_to_users) AS k(s, u)
          ON k.u <> 0 AND d.group_id IS NULL
         AND d.user_lo = LEAST(k.s, k.u) AND d.user_hi = GREATEST(k.s, k.u)
        UNION
        SELECT g.id FROM conversations g WHERE g.group_id = ANY (p_to_groups))
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
        SELECT b.*, c.id AS conv, c.last_seq AS base FROM batch b
        JOIN conversations c
          ON b.to_group = 0 AND c.group_id IS NULL
         AND c.user_lo = LEAST(b.sender, b.to_user) AND c.user_hi = GREATEST(b.sender, b.to_user)
        UNION ALL
        SELECT b.*, c.id, c.last_seq FROM batch b
        JOIN conversations c ON b.to_group <> 0 AND c.group_id = b.to_group
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

pub(crate) const DOWN: &str = r#"
DROP FUNCTION append_messages(BIGINT[], BIGINT[], BIGINT[], BIGINT[], TEXT[], BIGINT[], TEXT[]);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(UP).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(DOWN).await?;
        Ok(())
    }
}
