//! Messages and the inbox: every message routed to a user, kept until that
//! user acks it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
-- One row per message, written by the dispatcher (in batches) before any
-- delivery: the body is stored once however many recipients it has.
CREATE TABLE messages (
    -- The snowflake minted by the node that accepted the message.
    msg_id        BIGINT PRIMARY KEY,
    sender_id     BIGINT NOT NULL,
    -- Exactly one of the two: a direct message names its recipient, a group
    -- message its group.
    to_user_id    BIGINT,
    to_group_id   BIGINT,
    body          TEXT NOT NULL,
    -- Unix milliseconds at which the node accepted the message.
    sent_at       BIGINT NOT NULL,
    CHECK ((to_user_id IS NULL) <> (to_group_id IS NULL))
);

-- One row per (recipient, message) not yet acked by the recipient. Written in
-- the same transaction as `messages`, deleted on ack; replay on connect
-- drains it in `seq` order.
CREATE TABLE inbox (
    recipient_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    msg_id        BIGINT NOT NULL REFERENCES messages (msg_id) ON DELETE CASCADE,
    -- Insertion order, i.e. the dispatcher's routing order: the order replay
    -- follows and the order live deliveries carry. A redelivered envelope
    -- hits the primary key and keeps its seq.
    seq           BIGINT GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (recipient_id, msg_id)
);
CREATE UNIQUE INDEX inbox_drain_order ON inbox (recipient_id, seq);
CREATE INDEX inbox_by_message ON inbox (msg_id);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(UP).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE inbox; DROP TABLE messages;")
            .await?;
        Ok(())
    }
}
