//! A connection's reads of its conversation logs: the replay when it
//! connects and every catch-up later, page by page. Each page is fetched
//! while the connection's loop goes on serving reads and pings; the loop writes
//! the page, then asks for the next from where the writer stands.
//!
//! The first read also opens the device ([`Logs::open_device`]): it
//! says where the device stands in every conversation, which the writer
//! takes as its starting positions.
//!
//! Reads take turns ([`Reader::turns`], as many as the pool has
//! connections). A burst of connects waits for its turns holding only a
//! small future, and builds a read (a transaction, its statements, their
//! rows) only once it has one: unbounded, 64 connects at a time left
//! thousands of half-begun reads at once, about 30 KB each, and the node
//! kept that memory after they ended (BENCHMARKS.md, issue 25).
//!
//! The logs are a trait, [`Logs`]: Postgres (`confab_common::log::devices`)
//! in production, an in-memory log in the connection loop's unit tests.

use std::fmt::Debug;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use confab_common::log::{Logged, Positions, devices};
use confab_common::{DeviceName, UserId, metric};
use futures_util::future::BoxFuture;
use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::Semaphore;

/// The conversation logs, as a connection reads them.
pub trait Logs: Send + Sync + Debug {
    /// Opens `user`'s `device` (registers it; a new one gets its positions;
    /// the oldest of more than `max_devices` is forgotten): where it stands
    /// in every conversation.
    fn open_device<'a>(
        &'a self,
        user: UserId,
        device: &'a DeviceName,
        max_devices: u64,
    ) -> BoxFuture<'a, Result<Positions, DbErr>>;
    /// Up to `limit` of `user`'s messages after `known`, ordered by
    /// conversation, then `seq`.
    fn page<'a>(
        &'a self,
        user: UserId,
        device: &'a DeviceName,
        known: &'a Positions,
        limit: u64,
    ) -> BoxFuture<'a, Result<Vec<Logged>, DbErr>>;
}

impl Logs for DatabaseConnection {
    fn open_device<'a>(
        &'a self,
        user: UserId,
        device: &'a DeviceName,
        max_devices: u64,
    ) -> BoxFuture<'a, Result<Positions, DbErr>> {
        Box::pin(devices::open_device(self, user, device, max_devices))
    }

    fn page<'a>(
        &'a self,
        user: UserId,
        device: &'a DeviceName,
        known: &'a Positions,
        limit: u64,
    ) -> BoxFuture<'a, Result<Vec<Logged>, DbErr>> {
        Box::pin(devices::page(self, user, device, known, limit))
    }
}

/// A page of the logs.
#[derive(Debug, Default)]
pub struct Page {
    /// Where the device stood when it connected (the first page only).
    pub opened: Option<Positions>,
    /// Messages after the positions the page was read from, ordered by
    /// conversation, then `seq`.
    pub messages: Vec<Logged>,
}

type Fetch = Pin<Box<dyn Future<Output = Result<Page, DbErr>> + Send>>;

/// Whose logs a connection reads.
#[derive(Debug, Clone)]
pub struct Reader {
    pub logs: Arc<dyn Logs>,
    /// Turns at the logs, shared by the node's connections.
    pub turns: Arc<Semaphore>,
    pub user: UserId,
    pub device: DeviceName,
    pub page_size: u64,
    /// Devices kept per user (the oldest is forgotten past this).
    pub max_devices: u64,
}

/// Where a connection stands in its replay.
pub struct Replay {
    reader: Reader,
    /// Whether the device was opened (the first read does it).
    opened: bool,
    /// The page being read, while a replay runs.
    fetch: Option<Fetch>,
    /// When the running replay started, and how many it wrote so far.
    run: Option<(Instant, u64)>,
}

impl std::fmt::Debug for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay")
            .field("user", &self.reader.user)
            .field("device", &self.reader.device)
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

impl Replay {
    pub fn new(reader: Reader) -> Self {
        Self {
            reader,
            opened: false,
            fetch: None,
            run: None,
        }
    }

    /// Reads the logs (again) after `positions`, unless a read is running
    /// already.
    pub fn start(&mut self, positions: Positions) {
        if self.run.is_none() {
            self.run = Some((Instant::now(), 0));
            self.fetch_next(positions);
        }
    }

    /// Whether a replay is running (live deliveries wait meanwhile, so that
    /// they follow the stored messages they are newer than).
    pub fn is_running(&self) -> bool {
        self.run.is_some()
    }

    /// The page being read. Never resolves while no replay runs; safe to
    /// drop and call again (the read goes on where it was).
    pub async fn next_page(&mut self) -> Result<Page, DbErr> {
        match self.fetch.as_mut() {
            Some(fetch) => {
                let page = fetch.await;
                self.fetch = None;
                page
            }
            None => std::future::pending().await,
        }
    }

    /// `page` was written (`written` of its messages were new to the
    /// connection, which now stands at `positions`): reads on, or ends the
    /// replay after a short page.
    pub fn advance(&mut self, page: &Page, written: u64, positions: Positions) {
        let Some((started, total)) = self.run.as_mut() else {
            return;
        };
        *total += written;
        if page.messages.len() as u64 == self.reader.page_size {
            self.fetch_next(positions);
            return;
        }
        let (started, total) = (*started, *total);
        self.run = None;
        if total > 0 {
            metrics::counter!(metric::MESSAGES_REPLAYED).increment(total);
            metrics::histogram!(metric::REPLAY_SECONDS).record(started.elapsed().as_secs_f64());
        }
    }

    fn fetch_next(&mut self, known: Positions) {
        let reader = self.reader.clone();
        let open = !self.opened;
        self.opened = true;
        self.fetch = Some(Box::pin(async move {
            // The semaphore is never closed.
            let _turn = (reader.turns.acquire().await).map_err(|e| DbErr::Custom(e.to_string()))?;
            // The statements' futures are boxed, and made only now: waiting
            // for its turn, this future holds pointers, not a read's state.
            read(&reader, open, known).await
        }));
    }
}

/// One page of `reader`'s logs after `known`; `open` first opens the device
/// and reads from where it stands instead.
async fn read(reader: &Reader, open: bool, known: Positions) -> Result<Page, DbErr> {
    let Reader {
        logs, user, device, ..
    } = reader;
    let mut page = Page::default();
    let known = if open {
        let opened = logs.open_device(*user, device, reader.max_devices).await?;
        page.opened = Some(opened.clone());
        opened
    } else {
        known
    };
    page.messages = logs.page(*user, device, &known, reader.page_size).await?;
    Ok(page)
}
