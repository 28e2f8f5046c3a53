//! The pieces the application is made of, built once from the settings.
//!
//! `startup` registers each piece as app data of its own, and handlers and middleware extract
//! exactly the pieces they use (`web::Data<Database>`, `web::Data<CsrfConfig>`, ...); the
//! command line uses them directly. Nothing below `startup` and `cli` sees this struct.

use std::sync::Arc;

use actix_session_engines::{Storage, caches::Cache};
use actix_web::web;
use anyhow::Context;

use crate::{
    changes::{Changes, CurrentMembers, LeftComments},
    db::Database,
    domain::{
        accounts::Accounts, cleanup::SessionCleanup, comments::Comments, feed::CommentFeed,
        moderation::Moderation,
    },
    routes::Readiness,
    security::{
        csrf::CsrfConfig, passwords::Passwords, proxies::TrustedProxies, secret_key,
        session_auth::SessionAuth, signing::Signer, spam_trap::SpamTrap, throttle::Throttle,
    },
    sessions::{SessionCookie, SessionEngine, fields::LoginFields},
    settings::{AllowedHosts, CacheBackend, HttpsSettings, SessionEngineKind, Settings},
};

/// Every piece, each cheap to clone (they are shared, not copied).
#[derive(Clone)]
pub struct AppState {
    pub settings: Settings,
    pub db: web::Data<Database>,
    pub passwords: web::Data<Passwords>,
    pub sessions: web::Data<SessionEngine>,
    pub session_cookie: web::Data<SessionCookie>,
    pub csrf: web::Data<CsrfConfig>,
    pub trusted_proxies: web::Data<TrustedProxies>,
    pub throttle: web::Data<Throttle>,
    pub spam_trap: web::Data<SpamTrap>,
    pub allowed_hosts: web::Data<AllowedHosts>,
    pub https: web::Data<HttpsSettings>,
    pub readiness: web::Data<Readiness>,
    pub accounts: web::Data<Accounts>,
    pub feed: web::Data<CommentFeed>,
    pub comments: web::Data<Comments>,
    pub moderation: web::Data<Moderation>,
    /// The expired-session cleanup `serve` runs every `CLEARSESSIONS_INTERVAL`.
    pub cleanup: SessionCleanup,
    /// Where sessions record the login (Django's keys with `DJANGO_COMPAT`).
    pub login_fields: web::Data<LoginFields>,
}

impl AppState {
    /// Opens the database and prepares everything the handlers and the CLI need; does not
    /// migrate.
    ///
    /// # Errors
    /// When the database cannot be opened, the secret key cannot be read or made, or a
    /// setting is unusable.
    pub fn new(settings: Settings) -> anyhow::Result<Self> {
        let db = Database::connect(&settings.database)?;
        let signer = Signer::new(
            secret_key::resolve(&settings)?,
            settings.security.secret_key_fallbacks.clone(),
        );
        let passwords = Passwords::new(
            settings.security.password_hash,
            settings.security.password_work,
            settings
                .django
                .as_ref()
                .map(|django| django.password_hasher),
        )
        .context("PASSWORD_ARGON2_* and PASSWORD_HASHERS settings")?;
        // One cache object (one Redis connection) per configured cache: the session cache is
        // the default one itself when SESSION_CACHE_ALIAS names it.
        let default_cache = Cache::new(&settings.cache)?;
        let session_cache = if settings.session_cache == settings.cache {
            default_cache.clone()
        } else {
            Cache::new(&settings.session_cache)?
        };
        // In process, the throttles' counters get a cache of their own, so they and sessions
        // never evict each other; in Redis they share what THROTTLE_CACHE_ALIAS names.
        let throttle_cache = match (&settings.throttle_cache, &settings.cache.backend) {
            (Some(named), _) => Cache::new(named)?,
            (None, CacheBackend::Memory { .. }) => Cache::new(&settings.cache)?,
            (None, CacheBackend::Redis { .. }) => default_cache.clone(),
        };
        let changes = Changes::new(db.clone());
        // cached_db keeps its cache epoch among the change counters the pages read anyway.
        let storage = Storage {
            database: &db,
            cache: &session_cache,
            epoch: Some(Arc::new(changes.clone())),
            signer: &signer,
        };
        let sessions = SessionEngine::from_settings(&settings.session, storage)?;
        let session_cookie = SessionCookie::new(&signer, &settings.session);
        let trusted_proxies = TrustedProxies::new(settings.security.trusted_proxies.clone());
        let throttle = Throttle::new(
            throttle_cache.clone(),
            settings.security.login_throttle,
            settings.comments.throttle,
            trusted_proxies.clone(),
        );
        let spam_trap = SpamTrap::new(
            signer.clone(),
            settings.comments.min_seconds,
            trusted_proxies.clone(),
        );
        // What readiness checks: the database; the cache engine's cache, without which no
        // session works; and the caches the site works without for a while (cached_db's, the
        // throttles'), reported as degraded.
        let (mut required, mut optional) = (Vec::new(), vec![throttle_cache]);
        match settings.session.engine {
            SessionEngineKind::Cache => required.push(session_cache),
            SessionEngineKind::CachedDb => optional.push(session_cache),
            _ => {}
        }
        let readiness = Readiness::new(db.clone(), required, optional);
        let allowed_hosts = settings.security.allowed_hosts.clone();
        let https = settings.https.clone();
        let accounts = Accounts::new(
            db.clone(),
            CurrentMembers::new(changes.clone()),
            passwords.clone(),
            sessions.clone(),
            SessionAuth::new(signer.clone(), settings.session.django_compat),
            settings.session.django_compat,
        );
        let csrf = CsrfConfig::new(
            signer,
            trusted_proxies.clone(),
            settings.security.csrf_trusted_origins.clone(),
            settings.security.csrf_cookie_secure,
        )
        .with_cookie_domain(settings.security.csrf_cookie_domain.clone())
        .shared_with_django(settings.session.django_compat);
        let login_fields = LoginFields::of(settings.session.django_compat);
        let comments = Comments::new(
            db.clone(),
            LeftComments::new(changes.clone()),
            settings.comments.edit_window,
        );
        let feed = CommentFeed::new(changes, settings.comments.edit_window);
        let moderation = Moderation::new(db.clone());
        let cleanup = SessionCleanup::new(db.clone(), sessions.clone());
        Ok(Self {
            cleanup,
            settings,
            comments: web::Data::new(comments),
            moderation: web::Data::new(moderation),
            feed: web::Data::new(feed),
            db: web::Data::new(db),
            passwords: web::Data::new(passwords),
            sessions: web::Data::new(sessions),
            session_cookie: web::Data::new(session_cookie),
            csrf: web::Data::new(csrf),
            trusted_proxies: web::Data::new(trusted_proxies),
            throttle: web::Data::new(throttle),
            spam_trap: web::Data::new(spam_trap),
            allowed_hosts: web::Data::new(allowed_hosts),
            https: web::Data::new(https),
            readiness: web::Data::new(readiness),
            accounts: web::Data::new(accounts),
            login_fields: web::Data::new(login_fields),
        })
    }
}
