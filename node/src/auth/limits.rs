//! Limits that fit real networks: authenticated traffic is limited per
//! user (REST requests and WebSocket sends, on each node), sign-up and
//! log-in per client address (cluster-wide, in Redis), and log-in per
//! account with a delay that doubles after each failure past the first few.
//! The gateway keeps only a coarse per-address limit (nginx/README.md).

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use confab_common::UserId;
use confab_common::ids::now_ms;
use confab_common::keys::Keyspace;
use confab_common::redis::Redis;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use ipnet::IpNet;
use redis::AsyncCommands;

use crate::config::LimitsConfig;
use crate::error::{ApiError, ErrorCode};

/// The longest delay after failed log-ins.
const MAX_LOGIN_DELAY: Duration = Duration::from_secs(15 * 60);
/// Failed log-ins are forgotten this long after the last one.
const FAILURES_KEPT: Duration = Duration::from_secs(15 * 60);

/// What an address may do, per minute.
#[derive(Debug, Clone, Copy)]
pub enum PerAddress {
    Register,
    LogIn,
}

/// The node's limits.
#[derive(Debug)]
pub struct RateLimits {
    /// REST requests per user, on this node.
    rest: DefaultKeyedRateLimiter<UserId>,
    /// WebSocket sends per user, on this node.
    pub sends: DefaultKeyedRateLimiter<UserId>,
    trusted_proxies: Vec<IpNet>,
    register_per_minute: u32,
    login_per_minute: u32,
    free_failures: u32,
    redis: Redis,
    keys: Keyspace,
}

fn quota(rate: u32, burst: u32) -> Quota {
    // Validated positive in `Config::validate`.
    Quota::per_second(NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
}

impl RateLimits {
    pub fn new(
        config: &LimitsConfig,
        ws: &crate::config::WsConfig,
        redis: impl Into<Redis>,
        prefix: String,
    ) -> Self {
        Self {
            rest: DefaultKeyedRateLimiter::keyed(quota(config.rest_rate, config.rest_burst)),
            sends: DefaultKeyedRateLimiter::keyed(quota(ws.send_rate, ws.send_burst)),
            trusted_proxies: config.trusted_proxies.clone(),
            register_per_minute: config.register_per_address,
            login_per_minute: config.login_per_address,
            free_failures: config.login_free_failures,
            redis: redis.into(),
            keys: Keyspace::new(prefix),
        }
    }

    /// A REST request of `user`: 429 `rate_limited` over the user's rate.
    pub fn rest(&self, user: UserId) -> Result<(), ApiError> {
        self.rest.check_key(&user).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::limited(ErrorCode::RateLimited, wait)
        })
    }

    /// How long `user`'s next send must wait, if it must.
    pub fn send_wait(&self, user: UserId) -> Option<Duration> {
        self.sends
            .check_key(&user)
            .err()
            .map(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Forgets users who have been quiet long enough to be back at a full
    /// burst (bounds the limiters' memory).
    pub fn forget_quiet(&self) {
        self.rest.retain_recent();
        self.sends.retain_recent();
        self.rest.shrink_to_fit();
        self.sends.shrink_to_fit();
    }

    /// The client's address: the peer's, or the `X-Real-IP` the gateway set
    /// when the peer is a trusted proxy.
    pub fn client_addr(&self, parts: &Parts) -> Option<IpAddr> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())?;
        if !self.trusted_proxies.iter().any(|net| net.contains(&peer)) {
            return Some(peer);
        }
        let forwarded = parts
            .headers
            .get("x-real-ip")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        Some(forwarded.unwrap_or(peer))
    }

    /// Counts one `what` from `addr` in the current minute, cluster-wide:
    /// 429 `rate_limited` past the minute's allowance.
    pub async fn per_address(
        &self,
        what: PerAddress,
        addr: Option<IpAddr>,
    ) -> Result<(), ApiError> {
        let Some(addr) = addr else {
            return Ok(());
        };
        let (name, allowed) = match what {
            PerAddress::Register => ("register", self.register_per_minute),
            PerAddress::LogIn => ("login", self.login_per_minute),
        };
        let now = now_ms();
        let minute = now / 60_000;
        let key = self.keys.address_limit(name, addr, minute);
        let mut redis = self.redis.clone();
        let counted: redis::RedisResult<(u64,)> = redis::pipe()
            .atomic()
            .incr(&key, 1)
            .expire(&key, 120)
            .ignore()
            .query_async(&mut redis)
            .await;
        let Some((count,)) = open_if_down(counted) else {
            return Ok(());
        };
        if count > u64::from(allowed) {
            let left = u64::try_from(60_000 - now % 60_000).unwrap_or(60_000);
            return Err(
                ApiError::limited(ErrorCode::RateLimited, Duration::from_millis(left))
                    .with_message("too many sign-ups or log-ins from this address; retry after the time in Retry-After"),
            );
        }
        Ok(())
    }

    fn login_keys(&self, account: &str) -> (String, String) {
        let account = account.to_lowercase();
        (
            self.keys.login_failures(&account),
            self.keys.login_wait(&account),
        )
    }

    /// 429 `login_delayed` while `account` waits out its failed log-ins.
    pub async fn login_allowed(&self, account: &str) -> Result<(), ApiError> {
        let (_, wait) = self.login_keys(account);
        let mut redis = self.redis.clone();
        let left = open_if_down(redis.pttl::<_, i64>(&wait).await).unwrap_or(0);
        if left > 0 {
            let wait = Duration::from_millis(left.unsigned_abs());
            return Err(ApiError::limited(ErrorCode::LoginDelayed, wait));
        }
        Ok(())
    }

    /// A failed log-in for `account`: past the free ones, the next attempt
    /// must wait 1 s, then 2, 4… up to 15 min.
    pub async fn login_failed(&self, account: &str) {
        let (failures, wait) = self.login_keys(account);
        let mut redis = self.redis.clone();
        let kept = FAILURES_KEPT.as_secs().cast_signed();
        let counted: redis::RedisResult<(u32,)> = redis::pipe()
            .atomic()
            .incr(&failures, 1)
            .expire(&failures, kept)
            .ignore()
            .query_async(&mut redis)
            .await;
        let Some((count,)) = open_if_down(counted) else {
            return;
        };
        if let Some(delay) = login_delay(count, self.free_failures) {
            let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
            let set: redis::RedisResult<()> = redis.pset_ex(&wait, count, ms).await;
            open_if_down(set);
        }
    }

    /// A successful log-in forgets the account's failures (both keys carry
    /// the account as their hash tag: one slot in a cluster).
    pub async fn login_succeeded(&self, account: &str) {
        let (failures, wait) = self.login_keys(account);
        let mut redis = self.redis.clone();
        let forgotten: redis::RedisResult<()> = redis.del(&[failures, wait]).await;
        if let Err(e) = forgotten {
            tracing::warn!(error = %e, "cannot forget failed log-ins");
        }
    }
}

/// The value of a limit's Redis call, or `None` (logged) if Redis did not
/// answer: the limits fail open, so that Redis being down never stops
/// sign-up or log-in (the password check still runs, bounded per core).
fn open_if_down<T>(result: redis::RedisResult<T>) -> Option<T> {
    result
        .inspect_err(|e| tracing::warn!(error = %e, "Redis unavailable; limit not applied"))
        .ok()
}

/// The delay after the `failures`-th failure in a row: none for the first
/// `free`, then 1 s doubling up to [`MAX_LOGIN_DELAY`].
pub fn login_delay(failures: u32, free: u32) -> Option<Duration> {
    let over = failures.checked_sub(free)?.checked_sub(1)?;
    let secs = 1u64.checked_shl(over.min(20)).unwrap_or(u64::MAX);
    Some(Duration::from_secs(secs).min(MAX_LOGIN_DELAY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_delay_doubles_after_the_free_failures() {
        let delays: Vec<_> = (1..=16)
            .map(|n| login_delay(n, 5).map(|d| d.as_secs()))
            .collect();
        assert_eq!(&delays[..5], &[None; 5]);
        assert_eq!(
            delays[5..10],
            [Some(1), Some(2), Some(4), Some(8), Some(16)]
        );
        assert_eq!(delays[15], Some(900));
        assert_eq!(login_delay(u32::MAX, 5), Some(MAX_LOGIN_DELAY));
    }
}
