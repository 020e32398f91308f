//! The inbox: every message routed to a user, kept until that user acks it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
-- One row per (recipient, message). The dispatcher writes it (in batches)
-- before it pushes the message to the recipient's node, and it is deleted
-- only when the recipient acks; replay on connect drains it in `seq` order.
CREATE TABLE inbox (
    recipient_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The snowflake id of the message; the same for every recipient.
    msg_id        BIGINT NOT NULL,
    -- Insertion order, i.e. the dispatcher's routing order: the order replay
    -- follows. Redelivered envelopes hit the primary key and keep their seq.
    seq           BIGINT GENERATED ALWAYS AS IDENTITY,
    sender_id     BIGINT NOT NULL,
    -- NULL for a direct message; the group for a group message.
    group_id      BIGINT,
    body          TEXT NOT NULL,
    -- Unix milliseconds at which the node accepted the message.
    sent_at       BIGINT NOT NULL,
    PRIMARY KEY (recipient_id, msg_id)
);
CREATE UNIQUE INDEX inbox_drain_order ON inbox (recipient_id, seq);
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
            .execute_unprepared("DROP TABLE inbox;")
            .await?;
        Ok(())
    }
}
