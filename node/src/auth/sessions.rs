//! Sessions in Postgres: one row per token handed out, revoked by log-out,
//! log-out everywhere, a password change or the account's deletion.

use confab_common::UserId;
use confab_common::auth::Issued;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use uuid::Uuid;

/// A revoked session: its id and when its token expires (Unix seconds).
pub type RevokedSession = (Uuid, i64);

/// Which of a user's sessions to revoke.
#[derive(Debug, Clone, Copy)]
pub enum Which {
    /// One session, with its token's expiry (Unix seconds).
    One(Uuid, i64),
    /// Every live session, but the one given (if any).
    AllBut(Option<Uuid>),
}

/// Records the session of a token just issued to `user`.
pub async fn create(db: &impl ConnectionTrait, user: UserId, issued: &Issued) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO sessions (id, user_id, expires_at) VALUES ($1::uuid, $2, to_timestamp($3))",
        [
            issued.session.to_string().into(),
            user.0.into(),
            issued.exp.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Revokes `which` of `user`'s live sessions; returns those it revoked.
pub async fn revoke(
    db: &impl ConnectionTrait,
    user: UserId,
    which: Which,
) -> Result<Vec<RevokedSession>, DbErr> {
    let statement = match which {
        // Recorded even if its row is gone (a token outlives a pruned or
        // restored table): a log-out must hold.
        Which::One(id, exp) => Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO sessions AS s (id, user_id, expires_at, revoked_at) \
             VALUES ($2::uuid, $1, to_timestamp($3), now()) \
             ON CONFLICT (id) DO UPDATE SET revoked_at = now() \
             WHERE s.revoked_at IS NULL AND s.user_id = $1 \
             RETURNING id::text AS id, extract(epoch FROM expires_at)::bigint AS exp",
            [user.0.into(), id.to_string().into(), exp.into()],
        ),
        Which::AllBut(except) => Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE sessions SET revoked_at = now() \
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now() \
             AND id IS DISTINCT FROM $2::uuid \
             RETURNING id::text AS id, extract(epoch FROM expires_at)::bigint AS exp",
            [user.0.into(), except.map(|s| s.to_string()).into()],
        ),
    };
    let rows = db.query_all_raw(statement).await?;
    rows.iter().map(revoked_row).collect()
}

/// Every revoked session whose token has not expired, with its user.
pub async fn revoked(db: &impl ConnectionTrait) -> Result<Vec<(UserId, RevokedSession)>, DbErr> {
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT user_id, id::text AS id, extract(epoch FROM expires_at)::bigint AS exp \
             FROM sessions WHERE revoked_at IS NOT NULL AND expires_at > now()",
        ))
        .await?;
    rows.iter()
        .map(|row| Ok((UserId(row.try_get("", "user_id")?), revoked_row(row)?)))
        .collect()
}

/// Forgets sessions whose tokens expired an hour ago or more.
pub async fn prune(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    let done = db
        .execute_unprepared("DELETE FROM sessions WHERE expires_at < now() - interval '1 hour'")
        .await?;
    Ok(done.rows_affected())
}

fn revoked_row(row: &sea_orm::QueryResult) -> Result<RevokedSession, DbErr> {
    let id: String = row.try_get("", "id")?;
    let id = id
        .parse()
        .map_err(|e: uuid::Error| DbErr::Custom(e.to_string()))?;
    Ok((id, row.try_get("", "exp")?))
}
