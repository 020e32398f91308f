//! Sessions, so that a token can be revoked (log-out, log-out everywhere, a
//! password change, a deleted account), and accounts that can be deleted
//! while the messages they sent stay readable for the others.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
-- One row per token handed out (register, log-in): the token's `sid`.
-- Nodes keep the revoked, unexpired ones in memory (loaded from here, kept
-- current through Redis) and refuse their tokens; expired rows are pruned.
CREATE TABLE sessions (
    id          UUID PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX sessions_live_by_user ON sessions (user_id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_revoked ON sessions (expires_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- A deleted account keeps its row (its id is the sender of messages others
-- still read), stripped of everything personal; `deleted_at` marks it.
ALTER TABLE users ADD COLUMN deleted_at TIMESTAMPTZ;
"#;

const DOWN: &str = r#"
ALTER TABLE users DROP COLUMN deleted_at;
DROP TABLE sessions;
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
