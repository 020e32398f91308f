//! Accounts, as the message path and the REST handlers look them up.

use confab_common::UserId;
use confab_common::entity::users;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, Statement,
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
