//! `TestBed`: what one test owns on the shared servers — a freshly migrated
//! database, a Redis key prefix, a queue prefix — with typed helpers to
//! seed the social graph, publish `input` items as a node would, and look
//! at queues and the log. Everything is removed when the bed drops.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use confab_common::broker::{Broker, Confirmed};
use confab_common::envelope::{Envelope, Input};
use confab_common::presence::{ConnKey, Presence};
use confab_common::topology::{self, Topology};
use confab_common::wire::{MessagePayload, Target};
use confab_common::{MessageId, MessageIdGenerator, NodeId, UserId};
use confab_migrations::{Migrator, MigratorTrait};
use lapin::options::{
    BasicAckOptions, BasicGetOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

/// The longest any wait of these tests may take: a hang guard, never a verdict.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// How often a poll looks again.
pub const POLL: Duration = Duration::from_millis(20);

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Postgres server URL without a database (`TEST_DATABASE_URL` overrides).
fn server_url() -> String {
    env_or("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432")
}

pub fn amqp_url() -> String {
    env_or("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f")
}

pub fn redis_url() -> String {
    env_or("TEST_REDIS_URL", "redis://127.0.0.1:6379")
}

/// One test's servers-side state, and a publisher onto its `input` shards.
pub struct TestBed {
    /// The test's own database, migrated.
    pub db: DatabaseConnection,
    /// The test's queue names.
    pub topology: Topology,
    /// Presence under the test's own key prefix.
    pub presence: Presence,
    /// Redis, for keys the bed has no helper for.
    pub redis: redis::aio::ConnectionManager,
    /// The test's key prefix.
    pub redis_prefix: String,
    /// A channel with confirms: publishes (as a node would) and inspects.
    pub channel: lapin::Channel,
    /// Only for its bound on each publish and confirm (its pool is unused).
    broker: Broker,
    _amqp: lapin::Connection,
    ids: MessageIdGenerator,
    /// The test's database, for the dispatchers.
    pub database_url: String,
    /// The test's queue prefix.
    pub amqp_prefix: String,
    isolation: Isolation,
}

/// The names one test owns, for the clean-up.
#[derive(Debug, Clone)]
struct Isolation {
    db_name: String,
    redis_prefix: String,
    /// Every queue the test's topology has, node queues included as they come.
    queues: Arc<Mutex<Vec<String>>>,
}

impl TestBed {
    /// A fresh database, key prefix and queue prefix, with `shards` input shards.
    pub async fn new(shards: u16) -> Self {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let db_name = format!("confab_dtest_{unique}");
        let admin = Database::connect(format!("{}/postgres", server_url()))
            .await
            .expect("connect to Postgres");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {db_name}"))
            .await
            .expect("create the test database");
        admin.close().await.ok();
        let database_url = format!("{}/{db_name}", server_url());
        let db = Database::connect(&database_url).await.expect("connect");
        Migrator::up(&db, None).await.expect("migrate");

        let redis_prefix = format!("confab-dtest-{unique}:");
        let amqp_prefix = format!("confab-dtest-{unique}.");
        let topology = Topology::new(amqp_prefix.clone(), shards);
        let mut queues = topology.inputs();
        queues.push(topology.input_dead());
        let redis = redis::aio::ConnectionManager::new(
            redis::Client::open(redis_url()).expect("redis url"),
        )
        .await
        .expect("connect to Redis");
        let broker = Broker::new(&amqp_url(), "dispatcher-tests", 2, Duration::from_secs(10))
            .expect("broker pool");
        let amqp = lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default())
            .await
            .expect("connect to RabbitMQ");
        let channel = amqp.create_channel().await.expect("channel");
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .expect("confirms");
        // Declared here too (as nodes do), so items can wait for a
        // dispatcher that is not started yet.
        topology.declare_input(&amqp).await.expect("declare input");
        Self {
            db,
            presence: Presence::new(redis.clone(), redis_prefix.clone()),
            redis,
            redis_prefix: redis_prefix.clone(),
            topology,
            channel,
            broker,
            _amqp: amqp,
            ids: MessageIdGenerator::new(NodeId(1)),
            database_url,
            amqp_prefix,
            isolation: Isolation {
                db_name,
                redis_prefix,
                queues: Arc::new(Mutex::new(queues)),
            },
        }
    }

    /// Remembers `queue` for the clean-up.
    pub fn owns(&self, queue: &str) {
        self.isolation.queues.lock().unwrap().push(queue.to_owned());
    }

    /// A user (all the log needs of one: its row).
    pub async fn user(&self, name: &str) -> UserId {
        let row = self
            .db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "INSERT INTO users (username, password_hash, display_name) \
                 VALUES ($1, 'unused', $1) RETURNING id",
                [name.into()],
            ))
            .await
            .expect("insert a user")
            .expect("its id");
        UserId(row.try_get_by_index::<i64>(0).expect("an id"))
    }

    /// Makes `a` and `b` friends, which opens their conversation (a trigger).
    pub async fn befriend(&self, a: UserId, b: UserId) {
        let (lo, hi) = (a.0.min(b.0), a.0.max(b.0));
        self.db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "INSERT INTO friendships (user_lo, user_hi) VALUES ($1, $2)",
                [lo.into(), hi.into()],
            ))
            .await
            .expect("insert a friendship");
    }

    /// A message from `from` to `to` as a node accepts it: a fresh id, larger
    /// than every id this bed made before.
    pub fn message(&self, from: UserId, to: UserId, body: &str, origin: ConnKey) -> Envelope {
        Envelope {
            message: MessagePayload {
                msg_id: self.ids.next_id(),
                from,
                to: Target::User(to),
                body: body.to_owned(),
                ts: confab_common::ids::now_ms(),
                seq: None,
            },
            origin,
            device: None,
            read_us: None,
        }
    }

    /// The input shard of `envelope`'s conversation.
    pub fn shard_queue(&self, envelope: &Envelope) -> String {
        let item = Input::Message(envelope.clone());
        self.topology
            .input(self.topology.shard_of(item.shard_key()))
    }

    /// Publishes `envelopes` (one conversation's) to their shard as one AMQP
    /// message: the item alone, or a JSON array of them, as a node does.
    pub async fn publish(&self, envelopes: &[Envelope]) {
        let items: Vec<Input> = envelopes.iter().cloned().map(Input::Message).collect();
        let payload = match items.as_slice() {
            [one] => serde_json::to_vec(one),
            many => serde_json::to_vec(many),
        }
        .expect("encode");
        self.publish_raw(&self.shard_queue(&envelopes[0]), &payload)
            .await;
    }

    /// Publishes `payload` to `queue` as a node publishes to `input`, and
    /// waits for the broker to take it.
    pub async fn publish_raw(&self, queue: &str, payload: &[u8]) {
        let confirmed = self
            .broker
            .publish_confirmed(&self.channel, queue, payload, topology::persistent_json())
            .await
            .expect("publish");
        assert_eq!(confirmed, Confirmed::Acked, "publish to {queue}");
    }

    /// The next message ready in `queue`, if there is one (taken and acked).
    pub async fn get(&self, queue: &str) -> Option<Vec<u8>> {
        let get = self
            .channel
            .basic_get(queue.into(), BasicGetOptions::default());
        let delivery = get.await.expect("basic.get")?.delivery;
        let ack = delivery.acker.ack(BasicAckOptions::default());
        ack.await.expect("ack");
        Some(delivery.data)
    }

    /// Messages ready in `queue` (a passive declare: unacked ones, held by a
    /// consumer, are not counted).
    pub async fn ready(&self, queue: &str) -> u32 {
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        self.channel
            .queue_declare(queue.into(), passive, FieldTable::default())
            .await
            .expect("the queue exists")
            .message_count()
    }

    /// Waits until `queue` has `n` messages ready.
    pub async fn until_ready(&self, queue: &str, n: u32) {
        let wait = async {
            while self.ready(queue).await != n {
                tokio::time::sleep(POLL).await;
            }
        };
        tokio::time::timeout(PATIENCE, wait)
            .await
            .unwrap_or_else(|_| panic!("{queue} never had {n} ready"));
    }

    /// The log: (msg_id, conversation, seq) of every message, by
    /// conversation and seq.
    pub async fn log(&self) -> Vec<(MessageId, i64, i64)> {
        let rows = self
            .db
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT msg_id, conv_id, seq FROM messages ORDER BY conv_id, seq",
            ))
            .await
            .expect("read the log");
        rows.iter()
            .map(|r| {
                let get = |i| r.try_get_by_index::<i64>(i).expect("a number");
                (MessageId(get(0)), get(1), get(2))
            })
            .collect()
    }

    /// Waits until the log holds `n` messages.
    pub async fn until_logged(&self, n: usize) {
        let wait = async {
            while self.log().await.len() != n {
                tokio::time::sleep(POLL).await;
            }
        };
        tokio::time::timeout(PATIENCE, wait)
            .await
            .unwrap_or_else(|_| panic!("the log never held {n} messages"));
    }
}

impl Drop for TestBed {
    /// Removes the test's queues, keys and database (on a thread of its own:
    /// drop cannot await, and the test's runtime is ending).
    fn drop(&mut self) {
        let isolation = self.isolation.clone();
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(isolation.remove());
        });
        let _ = cleanup.join();
    }
}

impl Isolation {
    async fn remove(&self) {
        let queues = self.queues.lock().map(|q| q.clone()).unwrap_or_default();
        if let Ok(amqp) =
            lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default()).await
            && let Ok(channel) = amqp.create_channel().await
        {
            for queue in queues {
                let delete = QueueDeleteOptions::default();
                let _ = channel.queue_delete(queue.as_str().into(), delete).await;
            }
            let _ = amqp.close(200, "test done".into()).await;
        }
        if let Ok(client) = redis::Client::open(redis_url())
            && let Ok(mut redis) = client.get_multiplexed_async_connection().await
        {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{}*", self.redis_prefix))
                .query_async(&mut redis)
                .await
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut redis).await;
            }
        }
        if let Ok(admin) = Database::connect(format!("{}/postgres", server_url())).await {
            let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db_name);
            let _ = admin.execute_unprepared(&drop).await;
            let _ = admin.close().await;
        }
    }
}
