//! The `guestbook` command line.

use std::{
    io::{BufRead, IsTerminal},
    net::SocketAddr,
};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::{
    accounts::PasswordChange,
    cache::Cache,
    db::models::Member,
    members::{self, SignupError},
    sessions::{ClearOutcome, ClearRun},
    settings::{CacheBackend, CacheSettings, Settings, redact_url},
    startup::Application,
    state::AppState,
};

#[derive(Debug, Parser)]
#[command(
    name = "guestbook",
    version,
    about = "A guestbook that shows server-side sessions done right"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply pending migrations, then serve the site (the default command).
    Serve {
        /// Address to listen on, overriding BIND_ADDR.
        #[arg(long, value_name = "ADDR")]
        bind: Option<SocketAddr>,
        /// Do not apply migrations (deployments that migrate in a separate step).
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply pending migrations and list them.
    Migrate,
    /// Create a member; asks for the password without echoing it.
    Createmember {
        username: String,
        /// Read the password from the first line of standard input instead.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Delete expired sessions and print how many went (a line per batch on a terminal).
    Clearsessions {
        /// Sessions deleted per statement: smaller batches hold locks for less time.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
        batch_size: u64,
    },
    /// Check the settings and reach every service they name; exits non-zero with the reason.
    Check,
    /// List the migrations, applied ([X]) or not ([ ]).
    Showmigrations,
    /// Set a member's password; every session of theirs is logged out.
    Changepassword {
        username: String,
        /// Read the new password from the first line of standard input instead.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List a member's logged-in sessions, or log them all out.
    Sessions {
        username: String,
        /// Log out every session of the member, on every engine.
        #[arg(long)]
        revoke_all: bool,
    },
}

/// Runs the command line with already-loaded settings.
///
/// # Errors
/// Whatever stopped the command, for `main` to print.
pub async fn run(cli: Cli, mut settings: Settings) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve {
        bind: None,
        no_migrate: false,
    }) {
        Command::Serve { bind, no_migrate } => {
            if let Some(bind) = bind {
                settings.bind_addr = bind;
            }
            let app = Application::build(settings, !no_migrate)?;
            let state = app.state();
            tracing::info!(
                address = %format!("http://{}:{}", state.settings.bind_addr.ip(), app.port()),
                engine = ?state.settings.session.engine,
                "serving the guestbook"
            );
            app.run_until_signalled().await?;
            tracing::info!("stopped");
        }
        Command::Migrate => {
            let applied = AppState::new(settings)?.db.migrate()?;
            if applied.is_empty() {
                println!("No migrations to apply.");
            }
            for name in applied {
                println!("Applied {name}");
            }
        }
        Command::Createmember {
            username,
            password_stdin,
        } => {
            let state = AppState::new(settings)?;
            state.db.migrate()?;
            let password = read_password(password_stdin)?;
            match members::create_member(&state.db, &state.passwords, username, password).await {
                Ok(member) => println!("Created member {} (id {}).", member.username, member.id),
                Err(SignupError::Invalid(reason)) => bail!(reason),
                Err(SignupError::Failed(err)) => return Err(anyhow::anyhow!("{err}")),
            }
        }
        Command::Changepassword {
            username,
            password_stdin,
        } => {
            let state = AppState::new(settings)?;
            state.db.migrate()?;
            let member = find_member(&state, &username).await?;
            let password = read_password(password_stdin)?;
            let outcome = state
                .accounts
                .change_password(&member, None, password, None)
                .await
                .map_err(|err| anyhow::anyhow!("{err}"))?;
            match outcome {
                PasswordChange::Changed(_) => println!(
                    "Changed the password of {}; every session of theirs is logged out.",
                    member.username
                ),
                PasswordChange::Invalid(rule) => bail!(rule),
                PasswordChange::WrongCurrentPassword | PasswordChange::ChangedMeanwhile => {
                    bail!("the member's account changed meanwhile: run the command again")
                }
            }
        }
        Command::Sessions {
            username,
            revoke_all,
        } => {
            let state = AppState::new(settings)?;
            state.db.migrate()?;
            let member = find_member(&state, &username).await?;
            let accounts = &state.accounts;
            if revoke_all {
                let done = accounts
                    .log_out_other_sessions(&member, None)
                    .await
                    .map_err(|err| anyhow::anyhow!("{err}"))?;
                if !done {
                    bail!("the member's account changed meanwhile: run the command again");
                }
                println!("Logged out every session of {}.", member.username);
                return Ok(());
            }
            let sessions = accounts
                .sessions_of(&member)
                .await
                .map_err(|err| anyhow::anyhow!("{err}"))?;
            let Some(sessions) = sessions else {
                println!(
                    "Sessions are signed cookies, kept by each browser: they cannot be listed. \
                     --revoke-all logs them all out."
                );
                return Ok(());
            };
            if sessions.is_empty() {
                println!("{} has no logged-in session.", member.username);
            }
            for session in sessions {
                let info = session.info;
                println!(
                    "{}  {}  from {}  logged in {}  last seen {}",
                    info.id,
                    info.device,
                    info.address.as_deref().unwrap_or("unknown"),
                    unix_time(info.logged_in_at),
                    unix_time(info.last_seen_at),
                );
            }
        }
        Command::Clearsessions { batch_size } => {
            let state = AppState::new(settings)?;
            state.db.migrate()?;
            let on_terminal = std::io::stdout().is_terminal();
            let progress = |total: u64| {
                if on_terminal {
                    println!("... {total} deleted so far");
                }
            };
            let run = ClearRun {
                batch_size,
                progress: &progress,
            };
            match state.sessions.clear_expired(run).await? {
                ClearOutcome::Removed(removed) => println!("Deleted {removed} expired session(s)."),
                ClearOutcome::NothingToClear(why) => println!("Nothing to clear: {why}."),
            }
        }
        Command::Check => check(settings).await?,
        Command::Showmigrations => {
            let state = AppState::new(settings)?;
            for (name, applied) in state.db.migration_status()? {
                println!("[{}] {name}", if applied { "X" } else { " " });
            }
        }
    }
    Ok(())
}

/// `guestbook check`: what `serve` would need, tried without serving. Prints a line per
/// check and fails with the number of problems.
async fn check(settings: Settings) -> anyhow::Result<()> {
    println!("ok    settings");
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
    match AppState::new(settings) {
        Err(err) => report("start-up".into(), Err(err)),
        Ok(state) => {
            report(
                "start-up".into(),
                Ok("secret key, password hashing, session engine".into()),
            );
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
    if problems > 0 {
        bail!("{problems} problem(s) found");
    }
    println!("Everything answers.");
    Ok(())
}

/// The caches the site would use: the default one (login throttling), and the session cache
/// when the engine keeps sessions in a cache and it is another one.
fn caches_to_check(settings: &Settings) -> Vec<CacheSettings> {
    let mut caches = vec![settings.cache.clone()];
    if settings.session.engine.uses_cache() && settings.session_cache != settings.cache {
        caches.push(settings.session_cache.clone());
    }
    caches
}

fn describe_cache(backend: &CacheBackend) -> String {
    match backend {
        CacheBackend::Memory { .. } => "in this process".into(),
        CacheBackend::Redis { url } => redact_url(url),
    }
}

async fn find_member(state: &AppState, username: &str) -> anyhow::Result<Member> {
    state
        .accounts
        .member_named(username)
        .await
        .map_err(|err| anyhow::anyhow!("{err}"))?
        .with_context(|| format!("no member is called {username:?}"))
}

/// Unix seconds as `2026-11-26 14:05 UTC`.
fn unix_time(seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|at| {
            at.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| "unknown".into())
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "standard input is not a terminal: pass --password-stdin to read the password from it"
        );
    }
    let password = rpassword::prompt_password("Password: ")?;
    let again = rpassword::prompt_password("Password (again): ")?;
    if password != again {
        bail!("the passwords did not match");
    }
    Ok(password)
}
