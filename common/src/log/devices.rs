//! Devices and their delivery positions: where each device of a user
//! stands in each conversation, the replay pages read from there, and the
//! acks that move it on. A position never moves back.

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, FromQueryResult, Statement,
    TransactionTrait,
};

use super::{Logged, Positions, Row};
use crate::ids::{ConvId, DeviceName, MessageId, Seq, UserId};

/// A new device is written at most this many messages of each
/// conversation (the newest unread); older ones are in the history.
pub const NEW_DEVICE_BACKLOG: i64 = 500;

#[derive(Debug, FromQueryResult)]
struct Created {
    created: bool,
}

#[derive(Debug, FromQueryResult)]
struct Position {
    conv_id: i64,
    seq: i64,
}

/// Records that `user` connected with `device` and returns where the
/// device stands in each of the user's conversations. A device never seen
/// before starts at the user's read position (at most
/// [`NEW_DEVICE_BACKLOG`] behind the newest message); past `max_devices`,
/// the device seen longest ago is forgotten.
pub async fn open_device(
    db: &DatabaseConnection,
    user: UserId,
    device: &DeviceName,
    max_devices: u64,
) -> Result<Positions, DbErr> {
    let txn = db.begin().await?;
    let created = Created::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        r#"INSERT INTO devices (user_id, device) VALUES ($1, $2)
           ON CONFLICT (user_id, device) DO UPDATE SET last_seen = now()
           RETURNING (xmax = 0) AS created"#,
        [user.0.into(), device.as_str().into()],
    ))
    .one(&txn)
    .await?
    .is_some_and(|c| c.created);
    if created {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            r#"INSERT INTO device_positions (user_id, device, conv_id, seq)
               SELECT $1, $2, uc.conv_id,
                      GREATEST(uc.floor_seq, COALESCE(r.seq, 0), uc.last_seq - $3)
               FROM user_conversations($1) uc
               LEFT JOIN read_positions r ON r.user_id = $1 AND r.conv_id = uc.conv_id"#,
            [
                user.0.into(),
                device.as_str().into(),
                NEW_DEVICE_BACKLOG.into(),
            ],
        ))
        .await?;
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            r#"DELETE FROM devices WHERE user_id = $1 AND device IN (
                   SELECT device FROM devices WHERE user_id = $1
                   ORDER BY last_seen DESC, device OFFSET $2)"#,
            [
                user.0.into(),
                i64::try_from(max_devices).unwrap_or(i64::MAX).into(),
            ],
        ))
        .await?;
    }
    let positions = Position::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        r#"SELECT uc.conv_id, GREATEST(uc.floor_seq, COALESCE(dp.seq, 0)) AS seq
           FROM user_conversations($1) uc
           LEFT JOIN device_positions dp
             ON dp.user_id = $1 AND dp.device = $2 AND dp.conv_id = uc.conv_id"#,
        [user.0.into(), device.as_str().into()],
    ))
    .all(&txn)
    .await?;
    txn.commit().await?;
    Ok(positions
        .into_iter()
        .map(|p| (ConvId(p.conv_id), Seq(p.seq)))
        .collect())
}

/// Up to `limit` messages of `user`'s conversations after `known` (where
/// the connection stands; a conversation it does not know starts at the
/// device's position), ordered by conversation, then `seq`.
pub async fn page(
    db: &impl ConnectionTrait,
    user: UserId,
    device: &DeviceName,
    known: &Positions,
    limit: u64,
) -> Result<Vec<Logged>, DbErr> {
    let (convs, seqs): (Vec<i64>, Vec<i64>) = known.iter().map(|(c, s)| (c.0, s.0)).unzip();
    let rows = Row::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        r#"WITH known AS (
               SELECT * FROM unnest($3::bigint[], $4::bigint[]) AS k(conv_id, seq)
           ),
           start AS (
               SELECT uc.conv_id, uc.last_seq,
                      GREATEST(uc.floor_seq, COALESCE(k.seq, dp.seq, 0)) AS after
               FROM user_conversations($1) uc
               LEFT JOIN known k ON k.conv_id = uc.conv_id
               LEFT JOIN device_positions dp
                 ON dp.user_id = $1 AND dp.device = $2 AND dp.conv_id = uc.conv_id
           )
           SELECT m.conv_id, m.seq, m.msg_id, m.sender_id, m.to_user_id, m.to_group_id,
                  m.body, m.sent_at, m.sender_device
           FROM start s
           CROSS JOIN LATERAL (
               SELECT * FROM messages m
               WHERE m.conv_id = s.conv_id AND m.seq > s.after
               ORDER BY m.seq LIMIT $5
           ) m
           WHERE s.last_seq > s.after
           ORDER BY m.conv_id, m.seq
           LIMIT $5"#,
        [
            user.0.into(),
            device.as_str().into(),
            convs.into(),
            seqs.into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
        ],
    ))
    .all(db)
    .await?;
    Ok(rows.into_iter().filter_map(Row::into_logged).collect())
}

/// One device's ack of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub user: UserId,
    pub device: DeviceName,
    pub msg_id: MessageId,
}

/// Writes the positions in `acked` (`u`, `d`, `c`, `s`: user, device,
/// conversation, `seq`; one row per device and conversation), never moving
/// one back, for devices that exist and users who are in the conversation.
const WRITE_ACKED: &str = "INSERT INTO device_positions (user_id, device, conv_id, seq)
    SELECT a.u, a.d, a.c, a.s
    FROM acked a
    JOIN devices dv ON dv.user_id = a.u AND dv.device = a.d
    WHERE EXISTS (SELECT 1 FROM user_conversations(a.u) uc WHERE uc.conv_id = a.c)
    ON CONFLICT (user_id, device, conv_id)
    DO UPDATE SET seq = GREATEST(device_positions.seq, EXCLUDED.seq)";

/// Where one device's client acked up to, in one conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicePosition {
    pub user: UserId,
    pub device: DeviceName,
    pub conv: ConvId,
    pub seq: Seq,
}

/// Moves each device's position in each conversation up to `positions` (at
/// most one per device and conversation), in one statement; a position
/// never moves back. Conversations the user is not in (any more), and
/// devices that were forgotten, change nothing.
pub async fn advance_to(
    db: &impl ConnectionTrait,
    positions: &[DevicePosition],
) -> Result<u64, DbErr> {
    if positions.is_empty() {
        return Ok(0);
    }
    let users: Vec<i64> = positions.iter().map(|p| p.user.0).collect();
    let devices: Vec<String> = positions.iter().map(|p| p.device.to_string()).collect();
    let convs: Vec<i64> = positions.iter().map(|p| p.conv.0).collect();
    let seqs: Vec<i64> = positions.iter().map(|p| p.seq.0).collect();
    let result = db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "WITH acked AS (
                     SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[])
                     AS a(u, d, c, s))
                 {WRITE_ACKED}"
            ),
            [users.into(), devices.into(), convs.into(), seqs.into()],
        ))
        .await?;
    Ok(result.rows_affected())
}

/// Moves each acking device's position past the messages it acked, in one
/// statement; a position never moves back. Ids of messages the user cannot
/// see, and devices that were forgotten, change nothing. The acks are first
/// folded into one position per device and conversation (a message is one
/// index probe), and only those are checked and written: a window's acks of
/// a busy group are a few rows, not one per message.
pub async fn advance(db: &impl ConnectionTrait, acks: &[Ack]) -> Result<u64, DbErr> {
    if acks.is_empty() {
        return Ok(0);
    }
    let users: Vec<i64> = acks.iter().map(|a| a.user.0).collect();
    let devices: Vec<String> = acks.iter().map(|a| a.device.to_string()).collect();
    let msgs: Vec<i64> = acks.iter().map(|a| a.msg_id.0).collect();
    let result = db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "WITH acked AS (
                     SELECT a.u, a.d, m.conv_id AS c, max(m.seq) AS s
                     FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS a(u, d, msg)
                     JOIN messages m ON m.msg_id = a.msg
                     GROUP BY a.u, a.d, m.conv_id)
                 {WRITE_ACKED}"
            ),
            [users.into(), devices.into(), msgs.into()],
        ))
        .await?;
    Ok(result.rows_affected())
}
