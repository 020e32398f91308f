//! `migrate`: applies (or rolls back) Confab's schema. Reads `DATABASE_URL`;
//! `migrate up`, `migrate status`, `migrate down -n 1`, … (sea-orm-migration's CLI).

use sea_orm_migration::cli;

#[tokio::main]
async fn main() {
    cli::run_cli(confab_migrations::Migrator).await;
}
