//! `guestbook check`: the settings read, and every service they name reached, without
//! serving.

use actix_session_engines::caches::Cache;
use anyhow::bail;

use super::{PendingMigrations, open};
use crate::{
    db::Migrations,
    security::deploy_checks::deploy_warnings,
    settings::{CacheBackend, CacheSettings, Settings, redact_url},
};

/// What makes `check` exit non-zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FailLevel {
    /// Only problems: a setting or service that stops the site.
    Error,
    /// Deployment warnings too (`--deploy`).
    Warning,
}

const DJANGO_TABLES: &str = "Django's tables (DJANGO_COMPAT)";

/// `guestbook check`: what `serve` would need, tried without serving. Prints a line per
/// check and fails with the number of problems; with `deploy`, a line per setting that is
/// wrong on the Internet too, which fails only at `FailLevel::Warning`.
///
/// # Errors
/// The number of problems (and warnings, at `FailLevel::Warning`) found, when there are any.
pub async fn check(settings: Settings, deploy: bool, fail_level: FailLevel) -> anyhow::Result<()> {
    println!("ok    settings");
    let warnings = if deploy {
        deploy_warnings(&settings)
    } else {
        Vec::new()
    };
    let mut problems = 0;
    let mut report = |what: String, outcome: anyhow::Result<String>| match outcome {
        Ok(detail) => println!("ok    {what}: {detail}"),
        Err(err) => {
            problems += 1;
            println!("FAIL  {what}: {err:#}");
        }
    };
    let database = format!("database {}", settings.database.redacted_url());
    let caches = caches_to_check(&settings);
    match open(settings, PendingMigrations::Leave) {
        Err(err) => report("start-up".into(), Err(err)),
        Ok(state) => {
            report(
                "start-up".into(),
                Ok("secret key, password hashing, session engine".into()),
            );
            match state.accounts.django_tables() {
                Ok(None) => {}
                Ok(Some(tables)) => report(
                    DJANGO_TABLES.into(),
                    match tables.problem() {
                        None => Ok(format!("found {}", tables.used.join(", "))),
                        Some(problem) => Err(anyhow::anyhow!(problem)),
                    },
                ),
                Err(err) => report(DJANGO_TABLES.into(), Err(err.into())),
            }
            let status = state.db.migration_status();
            report(
                database,
                status.map(|migrations| {
                    let pending = migrations.iter().filter(|(_, applied)| !applied).count();
                    match pending {
                        0 => "answers, every migration applied".to_owned(),
                        n => format!(
                            "answers, {n} migration(s) pending (serve applies them, or run guestbook migrate)"
                        ),
                    }
                }),
            );
        }
    }
    for settings in caches {
        let what = format!(
            "cache {} ({})",
            settings.alias,
            describe_cache(&settings.backend)
        );
        let answered = async {
            let cache = Cache::new(&settings)?;
            actix_web::rt::time::timeout(std::time::Duration::from_secs(3), cache.ping())
                .await
                .map_err(|_| anyhow::anyhow!("no answer within 3 seconds"))??;
            anyhow::Ok("answers".to_owned())
        };
        report(what, answered.await);
    }
    for warning in &warnings {
        println!("WARN  {}: {}", warning.id, warning.message);
    }
    if deploy && warnings.is_empty() {
        println!("ok    deployment settings");
    }
    let failing_warnings = match fail_level {
        FailLevel::Error => 0,
        FailLevel::Warning => warnings.len(),
    };
    if problems + failing_warnings > 0 {
        bail!(
            "{problems} problem(s) and {} deployment warning(s) found",
            warnings.len()
        );
    }
    match warnings.len() {
        0 => println!("Everything answers."),
        n => println!("Everything answers; {n} deployment warning(s)."),
    }
    Ok(())
}

/// The caches the site would use: the default one, the session cache when the engine keeps
/// sessions in a cache, and the throttles' when `THROTTLE_CACHE_ALIAS` names one; each once.
fn caches_to_check(settings: &Settings) -> Vec<CacheSettings> {
    let session_cache = settings
        .session
        .engine
        .uses_cache()
        .then_some(&settings.session_cache);
    let mut caches: Vec<CacheSettings> = Vec::new();
    for cache in [
        Some(&settings.cache),
        session_cache,
        settings.throttle_cache.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        if !caches.contains(cache) {
            caches.push(cache.clone());
        }
    }
    caches
}

fn describe_cache(backend: &CacheBackend) -> String {
    match backend {
        CacheBackend::Memory { .. } => "in this process".into(),
        CacheBackend::Redis { url } => redact_url(url),
    }
}
