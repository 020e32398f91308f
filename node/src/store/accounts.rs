//! Creating an account, changing its password, deleting it.
//!
//! A username is taken when the unique index on `lower(username)` says so,
//! so two concurrent registrations of one name cannot both succeed.
//!
//! A deleted account's row stays (its id is the sender of messages
//! the others still read) but is stripped: a `deleted-<id>` username, no
//! password, "Deleted account" as its name, no bio or avatar. Friendships,
//! friend requests, memberships, devices and read positions go; a group it
//! owned passes to the longest-standing admin, else the longest-standing
//! member, and is disbanded if nobody is left.

use confab_common::entity::users;
use confab_common::{GroupId, UserId};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbBackend, DbErr, IntoActiveModel,
    Statement,
};

use crate::error::is_unique_violation;

/// A new account's row.
#[derive(Debug)]
pub struct NewAccount {
    pub username: String,
    /// An argon2id PHC string.
    pub password_hash: String,
    pub display_name: String,
}

/// Why an account was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// Another account has this username, whatever its case.
    #[error("the username is taken")]
    UsernameTaken,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Creates an account and returns its row.
pub async fn create(
    db: &impl ConnectionTrait,
    account: NewAccount,
) -> Result<users::Model, CreateError> {
    users::ActiveModel {
        username: Set(account.username),
        password_hash: Set(account.password_hash),
        display_name: Set(account.display_name),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            CreateError::UsernameTaken
        } else {
            e.into()
        }
    })
}

/// Stores `hash` (an argon2id PHC string) as `user`'s password.
pub async fn set_password(
    db: &impl ConnectionTrait,
    user: users::Model,
    hash: String,
) -> Result<(), DbErr> {
    let mut user = user.into_active_model();
    user.password_hash = Set(hash);
    user.update(db).await?;
    Ok(())
}

/// What a deletion changed for others, to tell them.
#[derive(Debug, Default)]
pub struct Deleted {
    /// Former friends.
    pub friends: Vec<UserId>,
    /// Groups it left, with their new owner if it owned them.
    pub groups: Vec<(GroupId, Option<UserId>)>,
    /// Groups it owned alone, now disbanded.
    pub disbanded: Vec<GroupId>,
}

fn stmt(sql: &str, user: UserId) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, [user.0.into()])
}

/// Deletes `user`'s account; run it in a transaction.
pub async fn delete(txn: &impl ConnectionTrait, user: UserId) -> Result<Deleted, DbErr> {
    let mut deleted = Deleted::default();
    for row in txn
        .query_all_raw(stmt(
            "DELETE FROM friendships WHERE user_lo = $1 OR user_hi = $1 \
             RETURNING CASE WHEN user_lo = $1 THEN user_hi ELSE user_lo END AS other",
            user,
        ))
        .await?
    {
        deleted.friends.push(UserId(row.try_get("", "other")?));
    }
    txn.execute_raw(stmt(
        "DELETE FROM friend_requests WHERE from_user_id = $1 OR to_user_id = $1",
        user,
    ))
    .await?;
    let left = txn
        .query_all_raw(stmt(
            "DELETE FROM group_members WHERE user_id = $1 RETURNING group_id, role",
            user,
        ))
        .await?;
    for row in left {
        let group = GroupId(row.try_get("", "group_id")?);
        let role: String = row.try_get("", "role")?;
        if role != "owner" {
            deleted.groups.push((group, None));
            continue;
        }
        match hand_over(txn, group).await? {
            Some(owner) => deleted.groups.push((group, Some(owner))),
            None => deleted.disbanded.push(group),
        }
    }
    for sql in [
        "DELETE FROM devices WHERE user_id = $1",
        "DELETE FROM read_positions WHERE user_id = $1",
        "UPDATE users SET username = 'deleted-' || id, password_hash = '!', \
         display_name = 'Deleted account', bio = NULL, avatar_url = NULL, deleted_at = now() \
         WHERE id = $1",
    ] {
        txn.execute_raw(stmt(sql, user)).await?;
    }
    Ok(deleted)
}

/// Makes the longest-standing admin (else member) of `group` its owner;
/// disbands it if it has nobody left. Returns the new owner.
async fn hand_over(txn: &impl ConnectionTrait, group: GroupId) -> Result<Option<UserId>, DbErr> {
    let heir = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE group_members SET role = 'owner' WHERE (group_id, user_id) = ( \
                 SELECT group_id, user_id FROM group_members WHERE group_id = $1 \
                 ORDER BY role = 'admin' DESC, joined_at, user_id LIMIT 1) \
             RETURNING user_id",
            [group.0.into()],
        ))
        .await?;
    match heir {
        Some(row) => Ok(Some(UserId(row.try_get("", "user_id")?))),
        None => {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "DELETE FROM groups WHERE id = $1",
                [group.0.into()],
            ))
            .await?;
            Ok(None)
        }
    }
}
