//! Migrations over existing data, and back. The upgrade to conversation
//! logs: what the old schema's inbox held (stored, not yet acked) is
//! delivered after the migration, in order, and what was acked is not. The
//! name search: rolled back, its configuration and index are gone, and it
//! applies again.

use confab_common::UserId;
use confab_common::log::devices;
use confab_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

use crate::helpers::server_url;

/// An empty database of its own (no migration applied), dropped by [`Scratch::drop`].
struct Scratch {
    name: String,
    admin: DatabaseConnection,
    db: DatabaseConnection,
}

impl Scratch {
    async fn create() -> Self {
        let name = format!("confab_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(format!("{}/postgres", server_url()))
            .await
            .unwrap();
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let db = Database::connect(format!("{}/{name}", server_url()))
            .await
            .unwrap();
        Self { name, admin, db }
    }

    async fn drop(self) {
        self.db.close().await.ok();
        self.admin
            .execute_unprepared(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .await
            .ok();
        self.admin.close().await.ok();
    }
}

/// The schema before conversations, with three users: alice and bob are
/// friends and, with carol, in one group. Each message's recipients and
/// which of them still had it in their inbox (had not acked it).
const OLD_DATA: &str = r#"
INSERT INTO users (username, password_hash, display_name)
    VALUES ('alice', 'x', 'Alice'), ('bob', 'x', 'Bob'), ('carol', 'x', 'Carol');
INSERT INTO friendships (user_lo, user_hi)
    SELECT a.id, b.id FROM users a, users b WHERE a.username = 'alice' AND b.username = 'bob';
INSERT INTO groups (name) VALUES ('g');
INSERT INTO group_members (group_id, user_id, role)
    SELECT g.id, u.id, CASE u.username WHEN 'alice' THEN 'owner' ELSE 'member' END
    FROM groups g, users u;
-- alice → bob: 10, 11 (bob acked), 13, 14 (bob did not).
INSERT INTO messages (msg_id, sender_id, to_user_id, to_group_id, body, sent_at)
    SELECT v.id, a.id, b.id, NULL, v.body, v.id
    FROM (VALUES (10, 'd1'), (11, 'd2'), (13, 'd3'), (14, 'd4')) v(id, body),
         users a, users b WHERE a.username = 'alice' AND b.username = 'bob';
-- carol → group: 12 (alice acked, bob did not).
INSERT INTO messages (msg_id, sender_id, to_user_id, to_group_id, body, sent_at)
    SELECT 12, c.id, NULL, g.id, 'g1', 12 FROM users c, groups g WHERE c.username = 'carol';
INSERT INTO inbox (recipient_id, msg_id)
    SELECT u.id, v.m FROM users u, (VALUES (13), (14), (12)) v(m) WHERE u.username = 'bob';
"#;

#[tokio::test]
async fn what_the_old_inbox_held_is_replayed_after_the_migration() {
    let scratch = Scratch::create().await;
    let db = &scratch.db;
    // The schema as it was: accounts and the inbox.
    Migrator::up(db, Some(2)).await.unwrap();
    db.execute_unprepared(OLD_DATA).await.unwrap();
    Migrator::up(db, None).await.unwrap();

    let id = |name: &'static str| async move {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!("SELECT id FROM users WHERE username = '{name}'"),
            ))
            .await
            .unwrap()
            .unwrap();
        UserId(row.try_get_by_index::<i64>(0).unwrap())
    };
    let (alice, bob) = (id("alice").await, id("bob").await);
    // Bob's client (the device `default`, as every client was) connects:
    // the messages he had not acked, each conversation in order.
    let default = confab_common::DeviceName::stored(confab_common::DeviceName::DEFAULT);
    let opened = devices::open_device(db, bob, &default, 20).await.unwrap();
    let replay = devices::page(db, bob, &default, &opened, 100)
        .await
        .unwrap();
    let got: Vec<(String, i64)> = replay
        .iter()
        .map(|l| (l.message.body.clone(), l.message.seq.unwrap().0))
        .collect();
    let mut expected = vec![
        ("d3".to_owned(), 3),
        ("d4".to_owned(), 4),
        ("g1".to_owned(), 1),
    ];
    // Ordered by conversation; which one comes first depends on their ids.
    if replay.first().is_some_and(|l| l.message.body == "g1") {
        expected.rotate_right(1);
    }
    assert_eq!(got, expected);
    // Alice had acked everything: nothing for her.
    let opened = devices::open_device(db, alice, &default, 20).await.unwrap();
    assert!(
        devices::page(db, alice, &default, &opened, 100)
            .await
            .unwrap()
            .is_empty()
    );
    // The log is whole: every message once, numbered per conversation.
    let logged = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*), count(DISTINCT (conv_id, seq)) FROM messages".to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(logged.try_get_by_index::<i64>(0).unwrap(), 5);
    assert_eq!(logged.try_get_by_index::<i64>(1).unwrap(), 5);
    scratch.drop().await;
}

/// The name search's configuration and index, as `(configurations, indexes)`.
async fn name_search_objects(db: &sea_orm::DatabaseConnection) -> (i64, i64) {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT (SELECT count(*) FROM pg_ts_config WHERE cfgname = 'confab_name'), \
                    (SELECT count(*) FROM pg_indexes WHERE indexname = 'users_display_name_search')"
                .to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    (
        row.try_get_by_index(0).unwrap(),
        row.try_get_by_index(1).unwrap(),
    )
}

#[tokio::test]
async fn the_name_search_migration_rolls_back_and_forward() {
    let scratch = Scratch::create().await;
    let db = &scratch.db;
    Migrator::up(db, None).await.unwrap();
    assert_eq!(name_search_objects(db).await, (1, 1));
    // The name search and the one migration after it.
    Migrator::down(db, Some(3)).await.unwrap();
    assert_eq!(name_search_objects(db).await, (0, 0));
    // Again, over the extension the first `up` left.
    Migrator::up(db, None).await.unwrap();
    assert_eq!(name_search_objects(db).await, (1, 1));
    scratch.drop().await;
}

/// The columns of `conversations_direct_hi`, as Postgres prints them.
async fn direct_hi_columns(db: &DatabaseConnection) -> String {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'conversations_direct_hi'"
                .to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    let def: String = row.try_get_by_index(0).unwrap();
    def.split(" USING btree ")
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn the_exact_append_migration_rolls_back_and_forward() {
    let scratch = Scratch::create().await;
    let db = &scratch.db;
    Migrator::up(db, None).await.unwrap();
    let exact = "(user_hi, user_lo) WHERE (group_id IS NULL)";
    assert_eq!(direct_hi_columns(db).await, exact);
    Migrator::down(db, Some(2)).await.unwrap();
    assert_eq!(
        direct_hi_columns(db).await,
        "(user_hi) WHERE (group_id IS NULL)"
    );
    Migrator::up(db, None).await.unwrap();
    assert_eq!(direct_hi_columns(db).await, exact);
    scratch.drop().await;
}

/// Whether `append_messages` probes the log by conversation first.
async fn append_keyed_by_conversation(db: &DatabaseConnection) -> bool {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT prosrc FROM pg_proc WHERE proname = 'append_messages'".to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    let source: String = row.try_get_by_index(0).unwrap();
    source.contains("m.conv_id = k.conv AND m.msg_id = k.id")
}

#[tokio::test]
async fn the_append_by_conversation_migration_rolls_back_and_forward() {
    let scratch = Scratch::create().await;
    let db = &scratch.db;
    Migrator::up(db, None).await.unwrap();
    assert!(append_keyed_by_conversation(db).await);
    Migrator::down(db, Some(1)).await.unwrap();
    assert!(!append_keyed_by_conversation(db).await);
    Migrator::up(db, None).await.unwrap();
    assert!(append_keyed_by_conversation(db).await);
    scratch.drop().await;
}
