//! Login, sign-up and comment throttling (`LOGIN_THROTTLE_*`, `COMMENT_THROTTLE_*`).
//!
//! Failed logins are counted per (username, client address) pair and per client address,
//! within a window that starts at the first failure; past either limit, further attempts get
//! a `429` with `Retry-After`, without running the password hash. Never per username alone, or
//! anyone could lock a member out. Sign-up attempts count per address. New comments count per
//! address too: a script that drops its cookies is a new visitor each time, but not a new
//! address. The counts live in the `default` cache (`CACHE_URL`): with Redis every instance
//! counts together. An IPv6 client counts by its /64: one subscriber's usual allocation, whose
//! addresses a script could otherwise take one by one.
//!
//! An attempt is counted *before* its password is checked, or its comment stored (one atomic
//! increment), so attempts racing each other each take their own place under the limit; a
//! login success then takes its place back and clears its pair, and a comment that was not
//! stored after all takes its place back.

use std::{net::IpAddr, time::Duration};

use actix_web::HttpRequest;
use ipnet::Ipv6Net;
use sha2::{Digest, Sha256};

use super::proxies::TrustedProxies;
use crate::{
    cache::{Cache, CacheError},
    error::AppError,
    metrics,
    settings::{CommentThrottle, LoginThrottle},
};

pub struct Throttle {
    cache: Cache,
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

/// A login attempt let through and counted: settle it with [`Attempt::succeeded`] or
/// [`Attempt::not_made`]; a failure stays counted.
#[must_use = "a login attempt must be settled"]
pub struct Attempt<'a> {
    throttle: &'a Throttle,
    pair: String,
    address: String,
}

impl Throttle {
    pub fn new(
        cache: Cache,
        limits: LoginThrottle,
        comments: CommentThrottle,
        proxies: TrustedProxies,
    ) -> Self {
        Self {
            cache,
            limits,
            comments,
            proxies,
        }
    }

    /// Counts a login attempt for `username` from `req`'s client.
    ///
    /// # Errors
    /// [`AppError::TooManyAttempts`] past a limit; [`AppError::Unavailable`] when the cache
    /// does not answer (throttling cannot be skipped).
    pub async fn login_attempt(
        &self,
        req: &HttpRequest,
        username: &str,
    ) -> Result<Attempt<'_>, AppError> {
        let client = self.client(req);
        let attempt = Attempt {
            throttle: self,
            pair: format!("throttle:login:pair:{}:{client}", digest(username)),
            address: format!("throttle:login:address:{client}"),
        };
        let pair = self.hit(&attempt.pair).await?;
        let address = self.hit(&attempt.address).await?;
        let refused = [
            (pair, self.limits.per_user),
            (address, self.limits.per_address),
        ]
        .into_iter()
        .filter(|((count, _), limit)| count > limit)
        .map(|((_, left), _)| left)
        .max();
        match refused {
            Some(retry_after) => {
                tracing::info!(client = %client, "login refused: too many failed attempts");
                // Both limits may be over: the narrower one, the pair's, names the refusal.
                let kind = if pair.0 > self.limits.per_user {
                    "user"
                } else {
                    "address"
                };
                metrics::login_throttle_refusal(kind);
                Err(AppError::TooManyAttempts { retry_after })
            }
            None => Ok(attempt),
        }
    }

    /// Counts a sign-up attempt from `req`'s client.
    ///
    /// # Errors
    /// As [`Throttle::login_attempt`].
    pub async fn sign_up_attempt(&self, req: &HttpRequest) -> Result<(), AppError> {
        let client = self.client(req);
        let (count, left) = self
            .hit(&format!("throttle:signup:address:{client}"))
            .await?;
        if count > self.limits.per_address {
            tracing::info!(client = %client, "sign-up refused: too many attempts");
            metrics::login_throttle_refusal("signup");
            return Err(AppError::TooManyAttempts { retry_after: left });
        }
        Ok(())
    }

    /// Takes a place under the comment limit of `req`'s client, for a comment about to be
    /// stored. A post refused here takes no place: only comments that get stored count.
    ///
    /// # Errors
    /// [`AppError::TooManyAttempts`] past the limit (the handler tells the visitor in its own
    /// words); [`AppError::Unavailable`] when the cache does not answer.
    pub async fn comment_attempt(&self, req: &HttpRequest) -> Result<CommentSlot<'_>, AppError> {
        if self.comments.per_address == 0 {
            return Ok(CommentSlot {
                throttle: self,
                key: None,
            });
        }
        let client = self.client(req);
        let key = format!("throttle:comment:address:{client}");
        let (count, left) = self
            .cache
            .hit(&key, self.comments.window)
            .await
            .map_err(unavailable)?;
        if count > self.comments.per_address {
            if let Err(err) = self.cache.unhit(&key).await {
                unavailable(err);
            }
            tracing::info!(client = %client, "comment refused: too many from this address");
            metrics::comment_refusal("throttle");
            return Err(AppError::TooManyAttempts { retry_after: left });
        }
        Ok(CommentSlot {
            throttle: self,
            key: Some(key),
        })
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

    async fn hit(&self, key: &str) -> Result<(u64, Duration), AppError> {
        self.cache
            .hit(key, self.limits.window)
            .await
            .map_err(unavailable)
    }
}

impl Attempt<'_> {
    /// The password was right: the pair starts again from nothing, and the attempt is no
    /// failure of the address.
    pub async fn succeeded(self) {
        let cache = &self.throttle.cache;
        if let Err(err) = cache.delete(&self.pair).await {
            unavailable(err);
        }
        self.not_made().await;
    }

    /// The attempt could not be made (the server was too busy): it takes back its place
    /// under the address's limit. (The pair's count stays: it only ever slows that pair.)
    pub async fn not_made(self) {
        if let Err(err) = self.throttle.cache.unhit(&self.address).await {
            unavailable(err);
        }
    }
}

impl CommentSlot<'_> {
    /// The comment was not stored after all (the visitor had already commented, the database
    /// failed): its place goes back to the address.
    pub async fn not_made(self) {
        if let Some(key) = &self.key
            && let Err(err) = self.throttle.cache.unhit(key).await
        {
            unavailable(err);
        }
    }
}

fn unavailable(err: CacheError) -> AppError {
    tracing::error!(error = %err, "the throttle's cache is unavailable");
    AppError::Unavailable("This action")
}

/// A short, fixed-size name for a username (any case), for cache keys.
fn digest(username: &str) -> String {
    let hash = Sha256::digest(username.trim().to_lowercase().as_bytes());
    hash[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;
    use crate::cache::MemoryCache;

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

    #[actix_web::test]
    async fn a_pair_is_refused_after_its_failures_until_the_window_ends() {
        let throttle = throttle(2, 100);
        let req = from("192.0.2.1");

        let first = throttle.login_attempt(&req, "Alice").await;
        let second = throttle.login_attempt(&req, "alice").await;
        let third = throttle.login_attempt(&req, "ALICE ").await;
        let other_user = throttle.login_attempt(&req, "bob").await;
        let other_address = throttle.login_attempt(&from("192.0.2.2"), "alice").await;

        assert!(first.is_ok() && second.is_ok());
        match third {
            Err(AppError::TooManyAttempts { retry_after }) => {
                assert!(retry_after > Duration::from_secs(890), "{retry_after:?}");
            }
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
            assert!(throttle.login_attempt(&req, name).await.is_ok());
        }

        let refused = throttle.login_attempt(&req, "d").await;

        assert!(matches!(refused, Err(AppError::TooManyAttempts { .. })));
    }

    #[actix_web::test]
    async fn an_ipv6_client_counts_by_its_slash_64() {
        let throttle = throttle(100, 2);
        for addr in ["[2001:db8:1:2::1]", "[2001:db8:1:2:ffff::9]"] {
            assert!(throttle.login_attempt(&from(addr), addr).await.is_ok());
        }

        let same_64 = throttle
            .login_attempt(&from("[2001:db8:1:2::77]"), "x")
            .await;
        let next_64 = throttle
            .login_attempt(&from("[2001:db8:1:3::1]"), "x")
            .await;

        assert!(matches!(same_64, Err(AppError::TooManyAttempts { .. })));
        assert!(next_64.is_ok());
    }

    #[actix_web::test]
    async fn a_success_clears_its_pair() {
        let throttle = throttle(2, 100);
        let req = from("192.0.2.3");
        let _failed = throttle.login_attempt(&req, "carol").await.unwrap();

        throttle
            .login_attempt(&req, "carol")
            .await
            .unwrap()
            .succeeded()
            .await;

        for _ in 0..2 {
            let _failed = throttle.login_attempt(&req, "carol").await.unwrap();
        }
    }

    #[actix_web::test]
    async fn successes_and_attempts_not_made_are_no_failures_of_the_address() {
        let throttle = throttle(100, 2);
        let req = from("192.0.2.4");

        for name in ["a", "b", "c"] {
            throttle
                .login_attempt(&req, name)
                .await
                .unwrap()
                .succeeded()
                .await;
        }
        for name in ["d", "e", "f"] {
            throttle
                .login_attempt(&req, name)
                .await
                .unwrap()
                .not_made()
                .await;
        }

        assert!(throttle.login_attempt(&req, "g").await.is_ok());
    }

    #[actix_web::test]
    async fn an_address_is_refused_past_its_comments_and_refusals_take_no_place() {
        let throttle = comment_throttle(100, 100, 2);
        let req = from("192.0.2.20");
        let first = throttle.comment_attempt(&req).await.unwrap();
        let _second = throttle.comment_attempt(&req).await.unwrap();

        let refused = throttle.comment_attempt(&req).await;
        let refused_again = throttle.comment_attempt(&req).await;
        let elsewhere = throttle.comment_attempt(&from("192.0.2.21")).await;
        let logins = throttle.login_attempt(&req, "alice").await;
        // Had the refusals counted, one place given back would not be enough.
        first.not_made().await;
        let after_a_place_came_back = throttle.comment_attempt(&req).await;

        match refused {
            Err(AppError::TooManyAttempts { retry_after }) => {
                assert!(retry_after > Duration::from_secs(3590), "{retry_after:?}");
            }
            _ => panic!("expected a 429"),
        }
        assert!(matches!(
            refused_again,
            Err(AppError::TooManyAttempts { .. })
        ));
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
