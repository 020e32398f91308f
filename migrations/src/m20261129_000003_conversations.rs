//! Conversations: one log per direct pair or group, numbered by `seq`, and
//! positions instead of per-recipient copies: each user's read position and
//! each device's delivery position in every conversation. The `inbox` is
//! folded into them (a message not yet acked keeps being delivered) and
//! dropped.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
-- One row per conversation: a direct pair (the smaller id first) or a group.
-- Direct conversations are opened when a friendship is made and outlive it
-- (the history stays readable); a group's is opened with the group and goes
-- with it.
CREATE TABLE conversations (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_lo    BIGINT REFERENCES users (id) ON DELETE CASCADE,
    user_hi    BIGINT REFERENCES users (id) ON DELETE CASCADE,
    group_id   BIGINT REFERENCES groups (id) ON DELETE CASCADE,
    -- The seq of the newest message: written by the dispatcher once per
    -- batch (not per message), under the row lock that orders the log.
    last_seq   BIGINT NOT NULL DEFAULT 0,
    -- Unix ms of the newest message (the order of GET /api/conversations).
    last_at    BIGINT NOT NULL DEFAULT 0,
    -- The oldest seq still stored; retention moves it up.
    first_seq  BIGINT NOT NULL DEFAULT 1,
    CHECK ((group_id IS NULL) = (user_lo IS NOT NULL)),
    CHECK ((user_lo IS NULL) = (user_hi IS NULL)),
    CHECK (user_lo < user_hi)
);
CREATE UNIQUE INDEX conversations_direct ON conversations (user_lo, user_hi) WHERE group_id IS NULL;
CREATE INDEX conversations_direct_hi ON conversations (user_hi) WHERE group_id IS NULL;
CREATE UNIQUE INDEX conversations_group ON conversations (group_id) WHERE group_id IS NOT NULL;

INSERT INTO conversations (group_id) SELECT id FROM groups ORDER BY id;
INSERT INTO conversations (user_lo, user_hi)
    SELECT user_lo, user_hi FROM friendships
    UNION
    SELECT LEAST(m.sender_id, m.to_user_id), GREATEST(m.sender_id, m.to_user_id)
    FROM messages m
    JOIN users a ON a.id = m.sender_id
    JOIN users b ON b.id = m.to_user_id
    WHERE m.sender_id <> m.to_user_id
    ORDER BY 1, 2;

-- Every message joins its conversation's log. Old messages are numbered in
-- id order (the order their senders' nodes accepted them).
-- `sender_device`: the device a message was sent from, which got `sent`
-- for it and is never written it back (NULL for messages sent before).
ALTER TABLE messages ADD COLUMN conv_id BIGINT, ADD COLUMN seq BIGINT,
    ADD COLUMN sender_device TEXT;
UPDATE messages m SET conv_id = c.id FROM conversations c
    WHERE m.to_group_id IS NOT NULL AND c.group_id = m.to_group_id;
UPDATE messages m SET conv_id = c.id FROM conversations c
    WHERE m.to_user_id IS NOT NULL AND c.group_id IS NULL
      AND c.user_lo = LEAST(m.sender_id, m.to_user_id)
      AND c.user_hi = GREATEST(m.sender_id, m.to_user_id);
-- A message whose group or user is gone has no conversation left.
DELETE FROM messages WHERE conv_id IS NULL;
UPDATE messages m SET seq = n.seq
    FROM (SELECT msg_id, row_number() OVER (PARTITION BY conv_id ORDER BY msg_id) AS seq
          FROM messages) n
    WHERE m.msg_id = n.msg_id;
UPDATE conversations c SET last_seq = l.last_seq, last_at = l.last_at
    FROM (SELECT conv_id, max(seq) AS last_seq, max(sent_at) AS last_at
          FROM messages GROUP BY conv_id) l
    WHERE c.id = l.conv_id;
ALTER TABLE messages
    ALTER COLUMN conv_id SET NOT NULL,
    ALTER COLUMN seq SET NOT NULL,
    ADD FOREIGN KEY (conv_id) REFERENCES conversations (id) ON DELETE CASCADE,
    ADD CHECK (seq > 0);
-- The log: gapless per conversation (the dispatcher numbers under the row
-- lock; this index refuses any slip).
CREATE UNIQUE INDEX messages_log ON messages (conv_id, seq);

-- A member reads a group's history from the seq at which they joined.
ALTER TABLE group_members ADD COLUMN joined_seq BIGINT NOT NULL DEFAULT 0;

-- The conversations of a user: direct ones with anyone (friend or not any
-- more), and those of the groups they are in. `floor_seq` is the last seq
-- they may not read (a group member's join point).
CREATE FUNCTION user_conversations(uid BIGINT)
RETURNS TABLE (conv_id BIGINT, last_seq BIGINT, floor_seq BIGINT)
LANGUAGE sql STABLE AS $$
    SELECT id, last_seq, first_seq - 1 FROM conversations WHERE group_id IS NULL AND user_lo = uid
    UNION ALL
    SELECT id, last_seq, first_seq - 1 FROM conversations WHERE group_id IS NULL AND user_hi = uid
    UNION ALL
    SELECT c.id, c.last_seq, GREATEST(gm.joined_seq, c.first_seq - 1)
    FROM group_members gm JOIN conversations c ON c.group_id = gm.group_id
    WHERE gm.user_id = uid
$$;

-- Opened by the database itself, so that no path can make a friendship or
-- a group without its conversation, or a member without a join point.
CREATE FUNCTION open_direct_conversation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO conversations (user_lo, user_hi) VALUES (NEW.user_lo, NEW.user_hi)
    ON CONFLICT DO NOTHING;
    RETURN NEW;
END $$;
CREATE TRIGGER friendships_open_conversation AFTER INSERT ON friendships
    FOR EACH ROW EXECUTE FUNCTION open_direct_conversation();

CREATE FUNCTION open_group_conversation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO conversations (group_id) VALUES (NEW.id);
    RETURN NEW;
END $$;
CREATE TRIGGER groups_open_conversation AFTER INSERT ON groups
    FOR EACH ROW EXECUTE FUNCTION open_group_conversation();

CREATE FUNCTION set_joined_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.joined_seq := COALESCE(
        (SELECT last_seq FROM conversations WHERE group_id = NEW.group_id), 0);
    RETURN NEW;
END $$;
CREATE TRIGGER group_members_joined_seq BEFORE INSERT ON group_members
    FOR EACH ROW EXECUTE FUNCTION set_joined_seq();

-- How far each user has read each conversation (never moves back).
CREATE TABLE read_positions (
    user_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    conv_id  BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq      BIGINT NOT NULL CHECK (seq >= 0),
    PRIMARY KEY (user_id, conv_id)
);
CREATE INDEX read_positions_by_conversation ON read_positions (conv_id);

-- The devices a user connected with (at most a few: the oldest is
-- forgotten, see the node's DEVICES_PER_USER).
CREATE TABLE devices (
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device     TEXT NOT NULL CHECK (device ~ '^[A-Za-z0-9._-]{1,64}$'),
    last_seen  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, device)
);

-- How far each device has acked each conversation: on connect it is written
-- everything after. A device gets a row for every conversation it had when
-- it was first seen; a conversation without a row started after that.
CREATE TABLE device_positions (
    user_id  BIGINT NOT NULL,
    device   TEXT NOT NULL,
    conv_id  BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq      BIGINT NOT NULL CHECK (seq >= 0),
    PRIMARY KEY (user_id, device, conv_id),
    FOREIGN KEY (user_id, device) REFERENCES devices (user_id, device) ON DELETE CASCADE
);

-- The inbox becomes positions. Everyone has read a conversation up to the
-- message before their oldest unacked one (all of it if nothing is
-- pending), and today's clients are all the device `default`, which starts
-- at the same place: what was unacked is delivered again.
INSERT INTO read_positions (user_id, conv_id, seq)
    SELECT mine.user_id, mine.conv_id, COALESCE(pending.first_seq - 1, mine.last_seq)
    FROM (
        SELECT u.id AS user_id, uc.conv_id, uc.last_seq
        FROM users u CROSS JOIN LATERAL user_conversations(u.id) uc
    ) mine
    LEFT JOIN (
        SELECT i.recipient_id, m.conv_id, min(m.seq) AS first_seq
        FROM inbox i JOIN messages m ON m.msg_id = i.msg_id
        GROUP BY i.recipient_id, m.conv_id
    ) pending ON pending.recipient_id = mine.user_id AND pending.conv_id = mine.conv_id;
INSERT INTO devices (user_id, device)
    SELECT DISTINCT user_id, 'default' FROM read_positions;
INSERT INTO device_positions (user_id, device, conv_id, seq)
    SELECT user_id, 'default', conv_id, seq FROM read_positions;

DROP TABLE inbox;
"#;

const DOWN: &str = r#"
CREATE TABLE inbox (
    recipient_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    msg_id        BIGINT NOT NULL REFERENCES messages (msg_id) ON DELETE CASCADE,
    seq           BIGINT GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (recipient_id, msg_id)
);
CREATE UNIQUE INDEX inbox_drain_order ON inbox (recipient_id, seq);
CREATE INDEX inbox_by_message ON inbox (msg_id);
DROP TABLE device_positions;
DROP TABLE devices;
DROP TABLE read_positions;
DROP TRIGGER group_members_joined_seq ON group_members;
DROP TRIGGER groups_open_conversation ON groups;
DROP TRIGGER friendships_open_conversation ON friendships;
DROP FUNCTION set_joined_seq();
DROP FUNCTION open_group_conversation();
DROP FUNCTION open_direct_conversation();
DROP FUNCTION user_conversations(BIGINT);
ALTER TABLE group_members DROP COLUMN joined_seq;
ALTER TABLE messages DROP COLUMN sender_device, DROP COLUMN seq, DROP COLUMN conv_id;
DROP TABLE conversations;
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
