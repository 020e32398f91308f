//! Groups and their members. A change to a group runs in a transaction that
//! first takes the group's row lock ([`lock`]), so concurrent changes to one
//! group apply one after the other and the "exactly one owner" index holds
//! between statements too.

use confab_common::entity::group_members::{self, Role};
use confab_common::entity::groups;
use confab_common::{GroupId, UserId};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr,
    EntityTrait, FromQueryResult, IntoActiveModel, QueryFilter, QuerySelect, Statement,
};

/// A group as its member's list shows it.
#[derive(Debug, FromQueryResult)]
pub struct Summary {
    pub id: i64,
    pub name: String,
    pub owner_id: i64,
    /// Unix milliseconds.
    pub created_at: i64,
    /// The member's role (`owner`, `admin` or `member`).
    pub role: String,
    pub member_count: i64,
}

/// The groups `$1` is in, oldest first, with their owner and size.
const SUMMARIES_SQL: &str = r#"
SELECT g.id, g.name,
       floor(EXTRACT(EPOCH FROM g.created_at) * 1000)::BIGINT AS created_at,
       mine.role,
       owner.user_id AS owner_id,
       (SELECT count(*) FROM group_members c WHERE c.group_id = g.id) AS member_count
FROM group_members mine
JOIN groups g ON g.id = mine.group_id
JOIN group_members owner ON owner.group_id = g.id AND owner.role = 'owner'
WHERE mine.user_id = $1
ORDER BY g.id
"#;

/// The groups `user` is in ([`SUMMARIES_SQL`]).
pub async fn summaries(db: &impl ConnectionTrait, user: UserId) -> Result<Vec<Summary>, DbErr> {
    Summary::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        SUMMARIES_SQL,
        [user.0.into()],
    ))
    .all(db)
    .await
}

/// Creates group `name` with `owner` and `members` (plain members) in it;
/// run it in a transaction.
pub async fn create(
    txn: &impl ConnectionTrait,
    name: String,
    owner: UserId,
    members: &[UserId],
) -> Result<GroupId, DbErr> {
    let group = groups::ActiveModel {
        name: Set(name),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    let id = GroupId(group.id);
    let rows = std::iter::once((owner, Role::Owner))
        .chain(members.iter().map(|&user| (user, Role::Member)))
        .map(|(user, role)| group_members::ActiveModel {
            group_id: Set(id.0),
            user_id: Set(user.0),
            role: Set(role),
            ..Default::default()
        });
    group_members::Entity::insert_many(rows).exec(txn).await?;
    Ok(id)
}

/// Group `id`, if it exists.
pub async fn find(db: &impl ConnectionTrait, id: GroupId) -> Result<Option<groups::Model>, DbErr> {
    groups::Entity::find_by_id(id.0).one(db).await
}

/// Whether group `id` exists.
pub async fn exists(db: &impl ConnectionTrait, id: GroupId) -> Result<bool, DbErr> {
    Ok(find(db, id).await?.is_some())
}

/// Locks group `id`'s row (`FOR UPDATE`) for the rest of `txn`; `false` if
/// there is no such group.
pub async fn lock(txn: &impl ConnectionTrait, id: GroupId) -> Result<bool, DbErr> {
    Ok(groups::Entity::find_by_id(id.0)
        .lock_exclusive()
        .one(txn)
        .await?
        .is_some())
}

/// Renames group `id`; `false` if there is no such group.
pub async fn rename(txn: &impl ConnectionTrait, id: GroupId, name: String) -> Result<bool, DbErr> {
    let Some(group) = find(txn, id).await? else {
        return Ok(false);
    };
    let mut group = group.into_active_model();
    group.name = Set(name);
    group.update(txn).await?;
    Ok(true)
}

/// Disbands group `id`: its members and its row go.
pub async fn delete(txn: &impl ConnectionTrait, id: GroupId) -> Result<(), DbErr> {
    groups::Entity::delete_by_id(id.0).exec(txn).await?;
    Ok(())
}

/// Everyone in group `id` now, with their roles.
pub async fn members(
    db: &impl ConnectionTrait,
    id: GroupId,
) -> Result<Vec<group_members::Model>, DbErr> {
    group_members::Entity::find()
        .filter(group_members::Column::GroupId.eq(id.0))
        .all(db)
        .await
}

/// Everyone in group `id` now.
pub async fn member_ids(db: &impl ConnectionTrait, id: GroupId) -> Result<Vec<UserId>, DbErr> {
    Ok(members(db, id)
        .await?
        .into_iter()
        .map(|m| UserId(m.user_id))
        .collect())
}

/// `user`'s membership of group `id`, if they are in it.
pub async fn member(
    db: &impl ConnectionTrait,
    id: GroupId,
    user: UserId,
) -> Result<Option<group_members::Model>, DbErr> {
    group_members::Entity::find_by_id((id.0, user.0))
        .one(db)
        .await
}

/// `user`'s role in group `id`, if they are a member.
pub async fn role_of(
    db: &impl ConnectionTrait,
    id: GroupId,
    user: UserId,
) -> Result<Option<Role>, DbErr> {
    Ok(member(db, id, user).await?.map(|m| m.role))
}

/// Adds `users` to group `id` as plain members, skipping those already in
/// it; no statement for none.
pub async fn add_members(
    txn: &impl ConnectionTrait,
    id: GroupId,
    users: &[UserId],
) -> Result<(), DbErr> {
    if users.is_empty() {
        return Ok(());
    }
    let rows = users.iter().map(|&user| group_members::ActiveModel {
        group_id: Set(id.0),
        user_id: Set(user.0),
        role: Set(Role::Member),
        ..Default::default()
    });
    group_members::Entity::insert_many(rows)
        .on_conflict_do_nothing_on([
            group_members::Column::GroupId,
            group_members::Column::UserId,
        ])
        .exec(txn)
        .await?;
    Ok(())
}

/// Takes `user` out of group `id`.
pub async fn remove_member(
    txn: &impl ConnectionTrait,
    id: GroupId,
    user: UserId,
) -> Result<(), DbErr> {
    group_members::Entity::delete_by_id((id.0, user.0))
        .exec(txn)
        .await?;
    Ok(())
}

/// Gives `member` (as read by [`member`]) `role`. One owner per group is
/// checked per statement: demote the old owner before promoting the new.
pub async fn set_role(
    txn: &impl ConnectionTrait,
    member: group_members::Model,
    role: Role,
) -> Result<(), DbErr> {
    let mut member = member.into_active_model();
    member.role = Set(role);
    member.update(txn).await?;
    Ok(())
}
