//! Confab's Postgres schema, as sea-orm migrations.
//!
//! The schema is written in plain SQL on purpose: the guarantees live in
//! constraints sea-query cannot spell (partial unique indexes, expression
//! indexes, CHECKs), and a reviewer should see exactly what Postgres enforces.
//! `docs/architecture.md` explains what each table guarantees.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_accounts_and_social;
mod m20261125_000002_inbox;
mod m20261129_000003_conversations;
mod m20261129_000004_append_function;
mod m20261129_000005_sessions;
mod m20261201_000006_name_search;
mod m20261207_000007_append_exact;
mod m20261208_000008_append_by_conversation;

/// Every migration, oldest first.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_accounts_and_social::Migration),
            Box::new(m20261125_000002_inbox::Migration),
            Box::new(m20261129_000003_conversations::Migration),
            Box::new(m20261129_000004_append_function::Migration),
            Box::new(m20261129_000005_sessions::Migration),
            Box::new(m20261201_000006_name_search::Migration),
            Box::new(m20261207_000007_append_exact::Migration),
            Box::new(m20261208_000008_append_by_conversation::Migration),
        ]
    }
}
