//! People found by the name they see: a case- and accent-insensitive word
//! prefix search over display names, served by a GIN index.
//!
//! `unaccent` is a contrib extension shipped with Postgres (trusted since
//! PG 13, so the database owner may create it); `confab_name` is the text
//! search configuration both the index and the query use, so that a name
//! and a query are split and normalized by one and the same rule.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE EXTENSION IF NOT EXISTS unaccent;

-- `simple` splits on anything that is not a letter or digit and lowercases,
-- without stemming or stop words (a name is not prose: "Will" and "An" are
-- names). Words go through `unaccent` first: "José Álvarez" is indexed as
-- 'jose' and 'alvarez', and a query "José" or "jose" becomes 'jose' too.
-- Hyphenated words keep their parts ("Okafor-Smith": 'okafor-smith',
-- 'okafor', 'smith').
CREATE TEXT SEARCH CONFIGURATION confab_name (COPY = simple);
ALTER TEXT SEARCH CONFIGURATION confab_name
    ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part,
                      numword, numhword, hword_numpart
    WITH unaccent, simple;

-- The search of GET /api/users matches `to_tsvector('confab_name', display_name)`
-- against a prefix tsquery ('ben':* & 'ok':*): GIN answers it without
-- reading every profile. Deleted accounts are never searched, so they are
-- not indexed either. The expression must stay exactly the query's.
CREATE INDEX users_display_name_search ON users
    USING gin (to_tsvector('confab_name'::regconfig, display_name))
    WHERE deleted_at IS NULL;
"#;

// The extension is left in place: dropping it could break another schema's
// use of it, and `IF NOT EXISTS` above makes a new `up` work either way.
const DOWN: &str = r#"
DROP INDEX users_display_name_search;
DROP TEXT SEARCH CONFIGURATION confab_name;
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
