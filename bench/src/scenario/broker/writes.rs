//! What the relay may do between the two hops, so that `broker` measures
//! the floor of the dispatcher's step and not only the broker's: commit the
//! batch to Postgres (one multi-row insert in its own transaction: the
//! durable write a message's log entry needs, without Confab's numbering)
//! and then read Redis once (one `EXISTS` of the batch's senders: the
//! presence read that must follow the commit). Both are optional; the
//! table is this run's own and dropped at the end.

use anyhow::Context;
use redis::aio::MultiplexedConnection;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

use crate::scenario::Body;

/// The relay's writes between its consume and its republish.
#[derive(Debug, Clone, Default)]
pub(super) struct Writes {
    db: Option<(DatabaseConnection, String)>,
    redis: Option<(MultiplexedConnection, String)>,
}

impl Writes {
    /// Connects to what is given and creates this run's table.
    pub(super) async fn open(
        database_url: Option<&str>,
        redis_url: Option<&str>,
        run_id: &str,
    ) -> anyhow::Result<Self> {
        let mut writes = Self::default();
        // Redis first: nothing to undo if it cannot be reached.
        if let Some(url) = redis_url {
            let client = redis::Client::open(url).context("the Redis URL")?;
            let connection = client
                .get_multiplexed_async_connection()
                .await
                .context("connecting to Redis")?;
            writes.redis = Some((connection, format!("confab-bench:{run_id}:present:")));
        }
        if let Some(url) = database_url {
            let db = Database::connect(url)
                .await
                .context("connecting to Postgres")?;
            let table = format!("confab_bench_relay_{run_id}");
            let create =
                format!("CREATE TABLE {table} (id bigint PRIMARY KEY, body text NOT NULL)");
            db.execute_unprepared(&create)
                .await
                .context("creating the relay's table")?;
            writes.db = Some((db, table));
        }
        Ok(writes)
    }

    /// Commits this run's `bodies` (one row each), then reads their
    /// senders' keys; anything else in the batch is left out.
    pub(super) async fn apply(&mut self, bodies: &[&[u8]]) -> anyhow::Result<()> {
        let ours: Vec<(&str, Body)> = bodies
            .iter()
            .filter_map(|b| std::str::from_utf8(b).ok())
            .filter_map(|text| Body::decode(text).map(|body| (text, body)))
            .collect();
        if ours.is_empty() {
            return Ok(());
        }
        if let Some((db, table)) = &self.db {
            let ids: Vec<i64> = ours
                .iter()
                .map(|(_, b)| ((b.sender as i64) << 40) | b.seq as i64)
                .collect();
            let texts: Vec<String> = ours.iter().map(|(text, _)| (*text).to_owned()).collect();
            let insert = Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!("INSERT INTO {table} SELECT * FROM unnest($1::bigint[], $2::text[])"),
                [ids.into(), texts.into()],
            );
            db.execute_raw(insert)
                .await
                .context("committing the batch")?;
        }
        if let Some((redis, prefix)) = &mut self.redis {
            let keys: Vec<String> = ours
                .iter()
                .map(|(_, b)| format!("{prefix}{}", b.sender))
                .collect();
            let _: u64 = redis::cmd("EXISTS")
                .arg(&keys)
                .query_async(redis)
                .await
                .context("reading Redis")?;
        }
        Ok(())
    }

    /// Drops this run's table; returns how many rows it held (`None`
    /// without Postgres).
    pub(super) async fn close(&self) -> anyhow::Result<Option<u64>> {
        let Some((db, table)) = &self.db else {
            return Ok(None);
        };
        let count = Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT count(*) AS n FROM {table}"),
        );
        let rows = db
            .query_one_raw(count)
            .await
            .context("counting the relay's rows")?
            .map(|row| row.try_get::<i64>("", "n"))
            .transpose()?
            .unwrap_or(0);
        db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
            .await
            .context("dropping the relay's table")?;
        Ok(Some(rows.max(0) as u64))
    }
}
