//! Users, friend requests, friendships, groups and their members.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE users (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username       TEXT NOT NULL CHECK (username ~ '^[A-Za-z0-9_.-]{3,32}$'),
    -- argon2id PHC string; never leaves the server.
    password_hash  TEXT NOT NULL,
    display_name   TEXT NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 64),
    bio            TEXT CHECK (char_length(bio) <= 500),
    avatar_url     TEXT CHECK (char_length(avatar_url) <= 2048),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- Usernames are unique regardless of case ("Alice" and "alice" are one name).
-- text_pattern_ops lets the same index serve the prefix search of GET /api/users.
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username) text_pattern_ops);

CREATE TABLE friend_requests (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    from_user_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    to_user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status        TEXT NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'accepted', 'declined')),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    responded_at  TIMESTAMPTZ,
    CHECK (from_user_id <> to_user_id),
    CHECK ((status = 'pending') = (responded_at IS NULL))
);
-- At most one pending request per unordered pair, whichever way it points:
-- two users asking each other at the same moment cannot both succeed.
CREATE UNIQUE INDEX friend_requests_one_pending_per_pair
    ON friend_requests (LEAST(from_user_id, to_user_id), GREATEST(from_user_id, to_user_id))
    WHERE status = 'pending';
CREATE INDEX friend_requests_incoming ON friend_requests (to_user_id) WHERE status = 'pending';
CREATE INDEX friend_requests_outgoing ON friend_requests (from_user_id) WHERE status = 'pending';

-- One row per friendship, the smaller id first: "are A and B friends" is one
-- primary-key probe and a friendship can never exist in one direction only.
CREATE TABLE friendships (
    user_lo     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_hi     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_lo, user_hi),
    CHECK (user_lo < user_hi)
);
CREATE INDEX friendships_user_hi ON friendships (user_hi, user_lo);

-- The owner is not stored here: it is the member whose role is 'owner', so
-- the two can never disagree.
CREATE TABLE groups (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT NOT NULL CHECK (char_length(name) BETWEEN 1 AND 64),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE group_members (
    group_id   BIGINT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    joined_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, user_id)
);
-- Exactly one owner per group at any time (the "at least one" half is kept by
-- the API, which refuses to let the owner leave without handing over).
CREATE UNIQUE INDEX group_members_one_owner ON group_members (group_id) WHERE role = 'owner';
CREATE INDEX group_members_by_user ON group_members (user_id, group_id);
"#;

const DOWN: &str = r#"
DROP TABLE group_members;
DROP TABLE groups;
DROP TABLE friendships;
DROP TABLE friend_requests;
DROP TABLE users;
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
