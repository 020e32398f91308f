//! A connection's reads of its inbox: the replay when it connects and every
//! catch-up the hub asks for later, page by page. Each page is fetched while
//! the session loop goes on serving reads and pings; the loop writes the
//! page, then asks for the next.

use std::pin::Pin;
use std::time::Instant;

use confab_common::wire::MessagePayload;
use confab_common::{UserId, metric};
use sea_orm::{DatabaseConnection, DbErr};

use crate::store::inbox;

/// Stored messages and their inbox positions, in order.
pub type Page = Vec<(i64, MessagePayload)>;
type Fetch = Pin<Box<dyn Future<Output = Result<Page, DbErr>> + Send>>;

/// Where a connection stands in its inbox.
pub struct Replay {
    db: DatabaseConnection,
    user: UserId,
    page_size: u64,
    /// How far the inbox has been read (by replays and catch-ups; live
    /// deliveries do not move it): a catch-up reads after it, so a message
    /// that was stored but never pushed is found even if later ones were.
    after: i64,
    /// The page being read, while a replay runs.
    fetch: Option<Fetch>,
    /// When the running replay started, and how many it wrote so far.
    run: Option<(Instant, u64)>,
}

impl std::fmt::Debug for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay")
            .field("user", &self.user)
            .field("after", &self.after)
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

impl Replay {
    /// `user`'s inbox, read `page_size` messages at a time.
    pub fn new(db: DatabaseConnection, user: UserId, page_size: u64) -> Self {
        Self {
            db,
            user,
            page_size,
            after: 0,
            fetch: None,
            run: None,
        }
    }

    /// Reads the inbox (again) from where it was read last, unless a read
    /// is running already.
    pub fn start(&mut self) {
        if self.run.is_none() {
            self.run = Some((Instant::now(), 0));
            self.fetch_next();
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
    /// connection): reads on, or ends the replay after a short page.
    pub fn advance(&mut self, page: &Page, written: u64) {
        if let Some((seq, _)) = page.last() {
            self.after = *seq;
        }
        let Some((started, total)) = self.run.as_mut() else {
            return;
        };
        *total += written;
        if page.len() as u64 == self.page_size {
            self.fetch_next();
            return;
        }
        let (started, total) = (*started, *total);
        self.run = None;
        if total > 0 {
            metrics::counter!(metric::MESSAGES_REPLAYED).increment(total);
            metrics::histogram!(metric::REPLAY_SECONDS).record(started.elapsed().as_secs_f64());
        }
    }

    fn fetch_next(&mut self) {
        let (db, user, after, limit) = (self.db.clone(), self.user, self.after, self.page_size);
        self.fetch = Some(Box::pin(async move {
            inbox::page(&db, user, after, limit).await
        }));
    }
}
