//! Accounts, as the message path and the REST handlers look them up, and
//! the profile their owner edits.

use confab_common::UserId;
use confab_common::entity::users;
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr,
    EntityTrait, ExprTrait, IntoActiveModel, QueryFilter, QueryOrder, Statement,
};

/// User `id`'s account, if there is one and it was not deleted.
pub async fn find(db: &impl ConnectionTrait, id: UserId) -> Result<Option<users::Model>, DbErr> {
    users::Entity::find_by_id(id.0)
        .filter(users::Column::DeletedAt.is_null())
        .one(db)
        .await
}

/// User `id`'s row, deleted or not (a deleted account's profile is shown
/// as such beside the messages it sent).
pub async fn find_any(
    db: &impl ConnectionTrait,
    id: UserId,
) -> Result<Option<users::Model>, DbErr> {
    users::Entity::find_by_id(id.0).one(db).await
}

/// The rows of `ids` that exist (deleted accounts too), by lowercased
/// username; no statement for none.
pub async fn find_many(
    db: &impl ConnectionTrait,
    ids: &[UserId],
) -> Result<Vec<users::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    users::Entity::find()
        .filter(users::Column::Id.is_in(ids.iter().map(|id| id.0)))
        .order_by_asc(Func::lower(Expr::col(users::Column::Username)))
        .all(db)
        .await
}

/// The live account named `username`, whatever its case.
pub async fn find_by_username(
    db: &impl ConnectionTrait,
    username: &str,
) -> Result<Option<users::Model>, DbErr> {
    users::Entity::find()
        .filter(Func::lower(Expr::col(users::Column::Username)).eq(username.to_lowercase()))
        .filter(users::Column::DeletedAt.is_null())
        .one(db)
        .await
}

/// A profile edit: a `None` field stays as it is.
#[derive(Debug, Default)]
pub struct ProfileEdit {
    pub display_name: Option<String>,
    /// `Some(None)` clears it.
    pub bio: Option<Option<String>>,
    /// `Some(None)` clears it.
    pub avatar_url: Option<Option<String>>,
}

/// Applies `edit` to `user`'s row and returns the row as stored; an empty
/// edit writes nothing and returns `user`.
pub async fn edit_profile(
    db: &impl ConnectionTrait,
    user: users::Model,
    edit: ProfileEdit,
) -> Result<users::Model, DbErr> {
    let mut row = user.clone().into_active_model();
    if let Some(name) = edit.display_name {
        row.display_name = Set(name);
    }
    if let Some(bio) = edit.bio {
        row.bio = Set(bio);
    }
    if let Some(url) = edit.avatar_url {
        row.avatar_url = Set(url);
    }
    if row.is_changed() {
        row.update(db).await
    } else {
        Ok(user)
    }
}

/// Whether user `id` exists.
pub async fn exists(db: &impl ConnectionTrait, id: UserId) -> Result<bool, DbErr> {
    Ok(find(db, id).await?.is_some())
}

/// The user search: live accounts whose lowercased username is LIKE `$2`
/// (a prefix pattern) or whose display name has, for
/// every word of `$1`, a word that word begins; after `$3` (a username,
/// exclusive, compared lowercased; `''` for the first page); at most `$4`.
///
/// The words of `$1` are split and normalized by Postgres with the
/// configuration the index was built with (`confab_name`: unaccented,
/// lowercased), so a query and a name cannot disagree on what a word is.
/// Each word becomes a quoted prefix operand (`'jose':*`) with its quotes
/// and backslashes doubled, so nothing a user types is read as tsquery
/// syntax; a query without words gives a NULL tsquery, which matches
/// nothing. The match expression is exactly the one the index
/// `users_display_name_search` holds. The order is byte order (`COLLATE
/// "C"`: ASCII order for usernames) whatever the database's collation, so
/// a page's `after` means the same on every deployment.
pub const SEARCH_SQL: &str = r#"
SELECT u.* FROM users u
WHERE u.deleted_at IS NULL
  AND (lower(u.username) LIKE $2
       OR to_tsvector('confab_name'::regconfig, u.display_name) @@ (
            SELECT string_agg(
                       '''' || replace(replace(lexeme, '\', '\\'), '''', '''''') || ''':*',
                       ' & ')::tsquery
            FROM unnest(to_tsvector('confab_name'::regconfig, $1))))
  AND lower(u.username) COLLATE "C" > lower($3)
ORDER BY lower(u.username) COLLATE "C"
LIMIT $4
"#;

/// What [`search`] looks for.
#[derive(Debug, Clone)]
pub struct Search<'a> {
    /// Words to find at the start of display-name words.
    pub words: &'a str,
    /// A LIKE pattern for the lowercased username.
    pub username_like: String,
    /// The page starts after this username (case-insensitive); `""` for the
    /// first page.
    pub after: &'a str,
    /// At most this many.
    pub limit: u64,
}

/// One page of [`SEARCH_SQL`].
pub async fn search(
    db: &impl ConnectionTrait,
    search: &Search<'_>,
) -> Result<Vec<users::Model>, DbErr> {
    users::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(
            DbBackend::Postgres,
            SEARCH_SQL,
            [
                search.words.into(),
                search.username_like.as_str().into(),
                search.after.into(),
                // At most 50: the conversion cannot wrap.
                (search.limit as i64).into(),
            ],
        ))
        .all(db)
        .await
}
