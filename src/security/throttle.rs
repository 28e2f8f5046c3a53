//! Login, sign-up and comment throttling (`LOGIN_THROTTLE_*`, `COMMENT_THROTTLE_*`).
//!
//! Failed logins are counted per (username, client address) pair and per client address,
//! within a window that starts at the first failure; past either limit, further attempts get
//! a `429` with `Retry-After`, without running the password hash. Never per username alone, or
//! anyone could lock a member out. Sign-up attempts count per address. New comments count per
//! address too: a script that drops its cookies is a new visitor each time, but not a new
//! address. An IPv6 client counts by its /64: one subscriber's usual allocation, whose
//! addresses a script could otherwise take one by one.
//!
//! What is counted, and when, is what keeps the counters honest and small:
//! - An attempt takes a place under its **address's** limit before its password is checked
//!   (one atomic increment), so attempts racing each other each take their own place. A
//!   success, and an attempt the server could not make, give the place back; so does a
//!   refused attempt. Only failures keep it, so many members behind one address (an office,
//!   a carrier's NAT) are never locked out by their own successes.
//! - The **pair** counts failures only, recorded once the password was wrong; before that it
//!   is only read. So correct logins that race each other are never failures, and a refused
//!   attempt makes no key: the address limit is checked first, and a pair key exists only for
//!   a failure that took an address place. One address can therefore make at most
//!   `LOGIN_THROTTLE_PER_ADDRESS` pair keys, plus its own counter, in a window.
//!
//! The counts live in the cache `THROTTLE_CACHE_ALIAS` names (`default`): with Redis every
//! instance counts together; in process they have a cache of their own, so throttle counters
//! and sessions never evict each other. When that cache does not answer, the counts go on in
//! this instance's memory (logged once per outage, counted in
//! `guestbook_throttle_local_counts_total`) rather than refusing everyone, and go back to the
//! shared cache when it answers.

use std::{net::IpAddr, time::Duration};

use actix_session_engines::caches::{Cache, CacheError, MemoryCache, Outage};
use actix_web::HttpRequest;
use ipnet::Ipv6Net;
use sha2::{Digest, Sha256};

use super::proxies::TrustedProxies;
use crate::{
    metrics,
    settings::{CommentThrottle, LoginThrottle},
};

/// Where every throttle counter goes inside its cache's own prefix.
const KEY_PREFIX: &str = "throttle:";
/// The most counters this instance keeps in its own memory while the shared cache is down.
const LOCAL_MAX_ENTRIES: u64 = 100_000;

/// An attempt refused by a limit: come back after `retry_after`.
#[derive(Debug, thiserror::Error)]
#[error("too many attempts: try again in {retry_after:?}")]
pub struct Throttled {
    pub retry_after: Duration,
}

pub struct Throttle {
    /// The counters every instance shares.
    shared: Cache,
    /// This instance's counters, while `shared` does not answer (in process: it always does).
    local: Cache,
    outage: Outage,
    limits: LoginThrottle,
    comments: CommentThrottle,
    proxies: TrustedProxies,
}

/// A place under the comment limit, taken for a comment about to be stored. A comment that
/// is not stored after all gives it back with [`CommentSlot::not_made`].
#[must_use = "a slot is given back with `not_made` when no comment was stored; dropping it keeps the place taken"]
pub struct CommentSlot<'a> {
    throttle: &'a Throttle,
    /// The address's counter; `None` when comments are not limited.
    key: Option<String>,
}

/// A login attempt let through, holding a place under its address's limit: settle it with
/// [`Attempt::succeeded`], [`Attempt::failed`] or [`Attempt::not_made`].
#[must_use = "a login attempt must be settled"]
pub struct Attempt<'a> {
    throttle: &'a Throttle,
    pair: String,
    address: String,
}

impl Throttle {
    pub fn new(
        shared: Cache,
        limits: LoginThrottle,
        comments: CommentThrottle,
        proxies: TrustedProxies,
    ) -> Self {
        Self {
            shared,
            local: Cache::Memory(MemoryCache::new(LOCAL_MAX_ENTRIES, String::new())),
            outage: Outage::new("throttle"),
            limits,
            comments,
            proxies,
        }
    }

    /// Lets a login attempt for `username` from `req`'s client through, holding a place under
    /// the address's limit, unless a limit refuses it.
    ///
    /// # Errors
    /// [`Throttled`] past a limit (the attempt leaves nothing counted).
    pub async fn login_attempt(
        &self,
        req: &HttpRequest,
        username: &str,
    ) -> Result<Attempt<'_>, Throttled> {
        let client = self.client(req);
        let attempt = Attempt {
            throttle: self,
            pair: format!("{KEY_PREFIX}login:pair:{}:{client}", digest(username)),
            address: format!("{KEY_PREFIX}login:address:{client}"),
        };
        // The address first: past its limit, nothing else is looked at or made.
        let (count, left) = self.hit(&attempt.address, self.limits.window).await;
        if count > self.limits.per_address {
            self.unhit(&attempt.address).await;
            return Err(refuse(&client, "address", left));
        }
        let (failures, left) = self
            .counted(async |cache| cache.count(&attempt.pair).await)
            .await;
        if failures >= self.limits.per_user {
            self.unhit(&attempt.address).await;
            return Err(refuse(&client, "user", left));
        }
        Ok(attempt)
    }

    /// Counts a sign-up attempt from `req`'s client.
    ///
    /// # Errors
    /// [`Throttled`] past the limit (the attempt leaves nothing counted).
    pub async fn sign_up_attempt(&self, req: &HttpRequest) -> Result<(), Throttled> {
        let client = self.client(req);
        let key = format!("{KEY_PREFIX}signup:address:{client}");
        let (count, left) = self.hit(&key, self.limits.window).await;
        if count > self.limits.per_address {
            self.unhit(&key).await;
            return Err(refuse(&client, "signup", left));
        }
        Ok(())
    }

    /// Takes a place under the comment limit of `req`'s client, for a comment about to be
    /// stored. A post refused here takes no place: only comments that get stored count.
    ///
    /// # Errors
    /// [`Throttled`] past the limit (the handler tells the visitor in its own
    /// words).
    pub async fn comment_attempt(&self, req: &HttpRequest) -> Result<CommentSlot<'_>, Throttled> {
        if self.comments.per_address == 0 {
            return Ok(CommentSlot {
                throttle: self,
                key: None,
            });
        }
        let client = self.client(req);
        let key = format!("{KEY_PREFIX}comment:address:{client}");
        let (count, left) = self.hit(&key, self.comments.window).await;
        if count > self.comments.per_address {
            self.unhit(&key).await;
            tracing::info!(client = %client, "comment refused: too many from this address");
            metrics::comment_refusal("throttle");
            return Err(Throttled { retry_after: left });
        }
        Ok(CommentSlot {
            throttle: self,
            key: Some(key),
        })
    }

    /// How many counters the throttles keep in the shared cache (for operators and tests).
    ///
    /// # Errors
    /// [`CacheError`] when the cache does not answer.
    pub async fn stored_counters(&self) -> Result<u64, CacheError> {
        self.shared.count_prefixed(KEY_PREFIX).await
    }

    /// The client as the limits count it: its address as trusted proxies report it (an IPv6
    /// address by its /64); one shared name when there is none.
    fn client(&self, req: &HttpRequest) -> String {
        match self.proxies.client(req).addr {
            Some(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
                Ipv6Net::new(v6, 64).map_or_else(|_| v6.to_string(), |net| net.trunc().to_string())
            }
            Some(addr) => addr.to_string(),
            None => "unknown".into(),
        }
    }

    /// Runs `op` on the shared counters, or on this instance's own while they do not answer.
    async fn counted<T: Default>(&self, op: impl AsyncFn(&Cache) -> Result<T, CacheError>) -> T {
        if self.outage.should_try() {
            match op(&self.shared).await {
                Ok(value) => {
                    self.outage.answered();
                    return value;
                }
                Err(err) => self.outage.failed(&err),
            }
        }
        metrics::throttle_local_count();
        // The in-process cache always answers.
        op(&self.local).await.unwrap_or_default()
    }

    async fn hit(&self, key: &str, window: Duration) -> (u64, Duration) {
        self.counted(async |cache| cache.hit(key, window).await)
            .await
    }

    async fn unhit(&self, key: &str) {
        self.counted(async |cache| cache.unhit(key).await).await;
    }
}

/// A login or sign-up refused by the limit `kind` (`address`, `user`, `signup`).
fn refuse(client: &str, kind: &str, retry_after: Duration) -> Throttled {
    tracing::info!(client = %client, limit = kind, "refused: too many attempts");
    metrics::login_throttle_refusal(kind);
    Throttled { retry_after }
}

impl Attempt<'_> {
    /// The password was right: the pair's failures are forgiven, and the address gets its
    /// place back.
    pub async fn succeeded(self) {
        self.throttle
            .counted(async |cache| cache.delete(&self.pair).await)
            .await;
        self.not_made().await;
    }

    /// The password was wrong: the pair counts a failure, and the address keeps the place.
    pub async fn failed(self) {
        self.throttle
            .hit(&self.pair, self.throttle.limits.window)
            .await;
    }

    /// The attempt could not be made (the server was too busy): it gives its place back.
    pub async fn not_made(self) {
        self.throttle.unhit(&self.address).await;
    }
}

impl CommentSlot<'_> {
    /// The comment was not stored after all (the visitor had already commented, the database
    /// failed): its place goes back to the address.
    pub async fn not_made(self) {
        if let Some(key) = &self.key {
            self.throttle.unhit(key).await;
        }
    }
}

/// A short, fixed-size name for a username (any case), for cache keys.
fn digest(username: &str) -> String {
    let hash = Sha256::digest(username.trim().to_lowercase().as_bytes());
    hash[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use actix_web::test::TestRequest;

    use super::*;
    use actix_session_engines::caches::MemoryCache;

    fn throttle(per_user: u64, per_address: u64) -> Throttle {
        comment_throttle(per_user, per_address, 0)
    }

    fn comment_throttle(per_user: u64, per_address: u64, comments: u64) -> Throttle {
        Throttle::new(
            Cache::Memory(MemoryCache::new(1000, "t:".into())),
            LoginThrottle {
                per_user,
                per_address,
                window: Duration::from_secs(900),
            },
            CommentThrottle {
                per_address: comments,
                window: Duration::from_secs(3600),
            },
            TrustedProxies::default(),
        )
    }

    fn from(addr: &str) -> HttpRequest {
        TestRequest::default()
            .peer_addr(format!("{addr}:5000").parse().unwrap())
            .to_http_request()
    }

    /// Makes `n` failed attempts for `username` from `req`.
    async fn fail(throttle: &Throttle, req: &HttpRequest, username: &str, n: usize) {
        for _ in 0..n {
            throttle
                .login_attempt(req, username)
                .await
                .unwrap()
                .failed()
                .await;
        }
    }

    /// How many counters the throttle keeps in its shared cache.
    async fn counters(throttle: &Throttle) -> u64 {
        throttle.stored_counters().await.unwrap()
    }

    /// Asserts that `retry_after` is what is left of a `window` that started at or after
    /// `before_first_hit`, as seen at or before `after_refusal`: no slack beyond the time the
    /// test itself took between the two.
    fn assert_window_left(
        retry_after: Duration,
        window: Duration,
        before_first_hit: Instant,
        after_refusal: Instant,
    ) {
        let elapsed = after_refusal - before_first_hit;
        assert!(
            retry_after <= window && retry_after >= window - elapsed,
            "{retry_after:?}: not what is left of {window:?} after at most {elapsed:?}"
        );
    }

    #[actix_web::test]
    async fn a_pair_is_refused_after_its_failures_until_the_window_ends() {
        let throttle = throttle(2, 100);
        let req = from("192.0.2.1");
        let before_first_failure = Instant::now();
        fail(&throttle, &req, "Alice", 1).await;
        fail(&throttle, &req, "alice", 1).await;

        let third = throttle.login_attempt(&req, "ALICE ").await;
        let after_refusal = Instant::now();
        let other_user = throttle.login_attempt(&req, "bob").await;
        let other_address = throttle.login_attempt(&from("192.0.2.2"), "alice").await;

        match third {
            Err(Throttled { retry_after }) => assert_window_left(
                retry_after,
                Duration::from_secs(900),
                before_first_failure,
                after_refusal,
            ),
            other => panic!("expected a 429, got {:?}", other.err()),
        }
        assert!(other_user.is_ok(), "never per username alone");
        assert!(other_address.is_ok(), "never per username alone");
    }

    #[actix_web::test]
    async fn an_address_is_refused_after_its_failures_whatever_the_usernames() {
        let throttle = throttle(100, 3);
        let req = from("192.0.2.9");
        for name in ["a", "b", "c"] {
            fail(&throttle, &req, name, 1).await;
        }

        let refused = throttle.login_attempt(&req, "d").await;

        assert!(matches!(refused, Err(Throttled { .. })));
    }

    #[actix_web::test]
    async fn an_ipv6_client_counts_by_its_slash_64() {
        let throttle = throttle(100, 2);
        for addr in ["[2001:db8:1:2::1]", "[2001:db8:1:2:ffff::9]"] {
            fail(&throttle, &from(addr), addr, 1).await;
        }

        let same_64 = throttle
            .login_attempt(&from("[2001:db8:1:2::77]"), "x")
            .await;
        let next_64 = throttle
            .login_attempt(&from("[2001:db8:1:3::1]"), "x")
            .await;

        assert!(matches!(same_64, Err(Throttled { .. })));
        assert!(next_64.is_ok());
    }

    #[actix_web::test]
    async fn a_success_clears_its_pair() {
        let throttle = throttle(2, 100);
        let req = from("192.0.2.3");
        fail(&throttle, &req, "carol", 1).await;

        throttle
            .login_attempt(&req, "carol")
            .await
            .unwrap()
            .succeeded()
            .await;

        fail(&throttle, &req, "carol", 2).await;
        assert!(throttle.login_attempt(&req, "carol").await.is_err());
    }

    #[actix_web::test]
    async fn attempts_in_flight_successes_and_attempts_not_made_are_no_failures() {
        let throttle = throttle(2, 3);
        let req = from("192.0.2.4");

        // Three correct logins of one member at once (more than the pair allows failures),
        // then more members behind the address (more than it allows failures).
        let racing: Vec<_> =
            futures_util::future::join_all((0..3).map(|_| throttle.login_attempt(&req, "dora")))
                .await;
        for attempt in racing {
            attempt.unwrap().succeeded().await;
        }
        for name in ["a", "b", "c", "d", "e"] {
            throttle
                .login_attempt(&req, name)
                .await
                .unwrap()
                .succeeded()
                .await;
        }
        for name in ["f", "g", "h"] {
            throttle
                .login_attempt(&req, name)
                .await
                .unwrap()
                .not_made()
                .await;
        }

        assert!(throttle.login_attempt(&req, "dora").await.is_ok());
        assert_eq!(
            counters(&throttle).await,
            1,
            "only the attempt still in flight"
        );
    }

    #[actix_web::test]
    async fn a_refused_attempt_gives_back_its_place_and_makes_no_key() {
        let throttle = throttle(100, 3);
        let req = from("192.0.2.5");
        fail(&throttle, &req, "a", 2).await;
        let in_flight = throttle.login_attempt(&req, "b").await.unwrap();
        let before = counters(&throttle).await;

        // A flood of new usernames while the address is at its limit.
        for n in 0..200 {
            let refused = throttle.login_attempt(&req, &format!("user{n}")).await;
            assert!(matches!(refused, Err(Throttled { .. })));
        }
        let after_the_flood = counters(&throttle).await;
        in_flight.not_made().await;
        let after_a_place_came_back = throttle.login_attempt(&req, "c").await;

        assert_eq!(before, 2, "the address and one pair");
        assert_eq!(after_the_flood, before, "refusals made no key");
        assert!(after_a_place_came_back.is_ok(), "refusals kept no place");
    }

    #[actix_web::test]
    async fn one_address_makes_at_most_its_limit_of_pair_keys_in_a_window() {
        let throttle = throttle(5, 20);
        let req = from("192.0.2.6");

        for n in 0..500 {
            if let Ok(attempt) = throttle.login_attempt(&req, &format!("user{n}")).await {
                attempt.failed().await;
            }
        }

        assert_eq!(counters(&throttle).await, 1 + 20);
    }

    #[actix_web::test]
    async fn a_sign_up_refused_takes_no_place() {
        let throttle = throttle(5, 2);
        let req = from("192.0.2.7");
        throttle.sign_up_attempt(&req).await.unwrap();
        throttle.sign_up_attempt(&req).await.unwrap();

        for _ in 0..5 {
            assert!(throttle.sign_up_attempt(&req).await.is_err());
        }

        assert_eq!(
            throttle
                .shared
                .count("throttle:signup:address:192.0.2.7")
                .await
                .unwrap()
                .0,
            2
        );
    }

    #[actix_web::test]
    async fn while_the_shared_cache_fails_this_instance_counts_alone() {
        // A Redis cache nothing listens for: every call fails at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let shared = Cache::Redis(
            actix_session_engines::caches::RedisCache::new(
                &format!("redis://127.0.0.1:{port}/"),
                None,
                "t:".into(),
            )
            .unwrap(),
        );
        let throttle = Throttle::new(
            shared,
            LoginThrottle {
                per_user: 2,
                per_address: 100,
                window: Duration::from_secs(900),
            },
            CommentThrottle {
                per_address: 1,
                window: Duration::from_secs(3600),
            },
            TrustedProxies::default(),
        );
        let req = from("192.0.2.8");

        let first_comment = throttle.comment_attempt(&req).await;
        let second_comment = throttle.comment_attempt(&req).await;
        fail(&throttle, &req, "eve", 2).await;
        let third_login = throttle.login_attempt(&req, "eve").await;

        assert!(first_comment.is_ok(), "not refused for the cache's sake");
        assert!(second_comment.is_err(), "still limited, by this instance");
        assert!(matches!(third_login, Err(Throttled { .. })));
        assert!(throttle.outage.is_active());
    }

    #[actix_web::test]
    async fn an_address_is_refused_past_its_comments_and_refusals_take_no_place() {
        let throttle = comment_throttle(100, 100, 2);
        let req = from("192.0.2.20");
        let before_first_comment = Instant::now();
        let first = throttle.comment_attempt(&req).await.unwrap();
        let _second = throttle.comment_attempt(&req).await.unwrap();

        let refused = throttle.comment_attempt(&req).await;
        let after_refusal = Instant::now();
        let refused_again = throttle.comment_attempt(&req).await;
        let elsewhere = throttle.comment_attempt(&from("192.0.2.21")).await;
        let logins = throttle.login_attempt(&req, "alice").await;
        // Had the refusals counted, one place given back would not be enough.
        first.not_made().await;
        let after_a_place_came_back = throttle.comment_attempt(&req).await;

        match refused {
            Err(Throttled { retry_after }) => assert_window_left(
                retry_after,
                Duration::from_secs(3600),
                before_first_comment,
                after_refusal,
            ),
            _ => panic!("expected a 429"),
        }
        assert!(matches!(refused_again, Err(Throttled { .. })));
        assert!(elsewhere.is_ok(), "per address");
        assert!(logins.is_ok(), "comments and logins count apart");
        assert!(after_a_place_came_back.is_ok());
    }

    #[actix_web::test]
    async fn a_comment_not_made_gives_its_place_back_and_no_limit_counts_nothing() {
        let throttle = comment_throttle(100, 100, 1);
        let req = from("192.0.2.22");
        throttle
            .comment_attempt(&req)
            .await
            .unwrap()
            .not_made()
            .await;
        let _stored = throttle.comment_attempt(&req).await.unwrap();
        assert!(throttle.comment_attempt(&req).await.is_err());

        let unlimited = comment_throttle(100, 100, 0);
        for _ in 0..50 {
            let _stored = unlimited.comment_attempt(&req).await.unwrap();
        }
    }
}
