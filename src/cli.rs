//! The `guestbook` command line.

use std::{
    io::{BufRead, IsTerminal},
    net::SocketAddr,
    time::Duration,
};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use time::PrimitiveDateTime;

use crate::db::Migrations;
use crate::{
    accounts::PasswordChange,
    cache::Cache,
    db::{
        self,
        comments::{ListedComment, Moderated},
        models::Member,
    },
    members::{self, SignupError},
    moderation::{self, Action, Moderator, visitor_tag},
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
        /// Make the member staff: they see hidden comments and may hide or show any.
        #[arg(long)]
        staff: bool,
        /// Read the password from the first line of standard input instead.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Make a member staff (or, with --off, no longer staff), from their next request on.
    Setstaff {
        username: String,
        /// Take staff status away instead.
        #[arg(long)]
        off: bool,
    },
    /// List the newest comments, or hide, show or delete one.
    #[command(args_conflicts_with_subcommands = true)]
    Comments {
        #[command(subcommand)]
        action: Option<CommentsAction>,
        /// List only the hidden comments.
        #[arg(long)]
        hidden: bool,
        /// How many comments to list, newest first (1 to 10000).
        #[arg(
            long,
            value_name = "N",
            default_value_t = 20,
            value_parser = clap::value_parser!(u32).range(1..=10_000)
        )]
        limit: u32,
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

/// What `guestbook comments` does to one comment, found by the id the list shows.
#[derive(Debug, Subcommand)]
enum CommentsAction {
    /// Hide a comment from everyone but staff.
    Hide {
        /// The comment's id, as `guestbook comments` lists it.
        #[arg(value_parser = clap::value_parser!(i64).range(1..))]
        id: i64,
    },
    /// Show a hidden comment to everyone again.
    Unhide {
        /// The comment's id, as `guestbook comments` lists it.
        #[arg(value_parser = clap::value_parser!(i64).range(1..))]
        id: i64,
    },
    /// Delete a comment for good, without asking (its visitor still cannot comment again).
    Delete {
        /// The comment's id, as `guestbook comments` lists it.
        #[arg(value_parser = clap::value_parser!(i64).range(1..))]
        id: i64,
    },
}

/// The longest a finished command waits for the database pool to stop opening connections.
const EXIT_WAIT: Duration = Duration::from_secs(3);

/// Runs the command line with already-loaded settings.
///
/// # Errors
/// Whatever stopped the command, for `main` to print.
pub async fn run(cli: Cli, settings: Settings) -> anyhow::Result<()> {
    let result = run_command(cli, settings).await;
    // The process exits next: not while a PostgreSQL connection is being opened.
    db::wait_until_no_connection_is_opening(EXIT_WAIT);
    result
}

async fn run_command(cli: Cli, mut settings: Settings) -> anyhow::Result<()> {
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
            staff,
            password_stdin,
        } => {
            let state = AppState::new(settings)?;
            state.db.migrate()?;
            let password = read_password(password_stdin)?;
            match members::create_member(&state.db, &state.passwords, username, password, staff)
                .await
            {
                Ok(member) => println!(
                    "Created {}member {} (id {}).",
                    if member.is_staff { "staff " } else { "" },
                    member.username,
                    member.id
                ),
                Err(SignupError::Invalid(reason)) => bail!(reason),
                Err(SignupError::Failed(err)) => return Err(anyhow::anyhow!("{err}")),
            }
        }
        Command::Setstaff { username, off } => {
            let state = AppState::new(settings)?;
            state.db.migrate()?;
            println!("{}", set_staff(&state, &username, !off).await?);
        }
        Command::Comments {
            action,
            hidden,
            limit,
        } => {
            let state = AppState::new(settings)?;
            state.db.migrate()?;
            match action {
                None => print!("{}", list_comments(&state, hidden, limit).await?),
                Some(CommentsAction::Hide { id }) => {
                    println!("{}", moderate_comment(&state, id, Action::Hide).await?);
                }
                Some(CommentsAction::Unhide { id }) => {
                    println!("{}", moderate_comment(&state, id, Action::Unhide).await?);
                }
                Some(CommentsAction::Delete { id }) => {
                    println!("{}", moderate_comment(&state, id, Action::Delete).await?);
                }
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

async fn find_member(state: &AppState, username: &str) -> anyhow::Result<Member> {
    state
        .accounts
        .member_named(username)
        .await
        .map_err(|err| anyhow::anyhow!("{err}"))?
        .with_context(|| format!("no member is called {username:?}"))
}

/// `guestbook setstaff`: what became of `username`'s staff status, as a sentence.
async fn set_staff(state: &AppState, username: &str, staff: bool) -> anyhow::Result<String> {
    let name = username.to_owned();
    let outcome = state
        .db
        .write(move |conn| {
            let Some(member) = db::members::find_by_username(conn, &name)? else {
                return Ok(None);
            };
            if member.is_staff == staff {
                return Ok(Some((member, false)));
            }
            Ok(db::members::set_staff(conn, &name, staff)?.map(|member| (member, true)))
        })
        .await
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    let Some((member, changed)) = outcome else {
        bail!("no member is called {username:?}");
    };
    let name = member.username;
    Ok(match (member.is_staff, changed) {
        (true, true) => format!("{name} is staff now."),
        (true, false) => format!("{name} is already staff."),
        (false, true) => format!("{name} is no longer staff."),
        (false, false) => format!("{name} is not staff (nothing to change)."),
    })
}

/// `guestbook comments`: the newest `limit` comments (only hidden ones with `hidden_only`)
/// as an aligned table under a header, or a line saying there are none.
async fn list_comments(state: &AppState, hidden_only: bool, limit: u32) -> anyhow::Result<String> {
    let listed = state
        .db
        .read(move |conn| db::comments::list(conn, hidden_only, i64::from(limit)))
        .await
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    if listed.is_empty() {
        return Ok(if hidden_only {
            "No hidden comments.\n"
        } else {
            "No comments.\n"
        }
        .to_owned());
    }
    Ok(comment_table(&listed))
}

/// The characters of a comment's text the list shows.
const EXCERPT_CHARS: usize = 60;

/// The list of comments as text: a header, then a line per comment, columns aligned.
fn comment_table(listed: &[ListedComment]) -> String {
    let header = ["ID", "AUTHOR", "VISITOR", "POSTED", "FLAGS", "TEXT"].map(String::from);
    let rows: Vec<[String; 6]> = listed
        .iter()
        .map(|comment| {
            let author = match (&comment.author, comment.by_former_member) {
                (Some(username), _) => one_line(username, usize::MAX),
                (None, true) => "a former member".to_owned(),
                (None, false) => "Anonymous".to_owned(),
            };
            let flags: Vec<&str> = [(comment.hidden, "hidden"), (comment.edited, "edited")]
                .into_iter()
                .filter_map(|(set, name)| set.then_some(name))
                .collect();
            [
                comment.id.to_string(),
                author,
                visitor_tag(&comment.visitor_id),
                utc_time(comment.created_at),
                if flags.is_empty() {
                    "-".to_owned()
                } else {
                    flags.join(",")
                },
                one_line(&comment.body, EXCERPT_CHARS),
            ]
        })
        .collect();
    let mut widths = header.clone().map(|title| title.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let [id, author, visitor, posted, flags, text] = row;
        let line = format!(
            "{id:>w0$}  {author:<w1$}  {visitor:<w2$}  {posted:<w3$}  {flags:<w4$}  {text}",
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4],
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `text` on one line for a terminal: every run of whitespace, control or bidirectional
/// formatting characters becomes one space, and past `max_chars` it is cut with `…`.
fn one_line(text: &str, max_chars: usize) -> String {
    let mut words = String::new();
    for word in text
        .split(|c: char| c.is_whitespace() || c.is_control() || is_bidi(c))
        .filter(|word| !word.is_empty())
    {
        if !words.is_empty() {
            words.push(' ');
        }
        words.push_str(word);
    }
    if words.chars().count() <= max_chars {
        return words;
    }
    let mut cut: String = words.chars().take(max_chars - 1).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

/// The marks that reorder text on a terminal (the Arabic letter mark, left-to-right and
/// right-to-left marks, embeddings, overrides and isolates): a comment could otherwise disguise
/// its own line.
const fn is_bidi(c: char) -> bool {
    matches!(
        c,
        '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    )
}

/// `guestbook comments hide|unhide|delete ID`: takes `action` as the command line, and says
/// what became of the comment.
async fn moderate_comment(state: &AppState, id: i64, action: Action) -> anyhow::Result<String> {
    // Who ran it, as the system knows them, for the log.
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok();
    let by = Moderator::CommandLine {
        user: user.as_deref(),
    };
    let outcome = moderation::moderate(&state.db, id, action, by)
        .await
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    // A deleted comment is no comment: deleting it again is `NotFound`, never `Already`.
    match (outcome, action) {
        (Moderated::Done, Action::Hide) => Ok(format!("Comment {id} is hidden.")),
        (Moderated::Done, Action::Unhide) => Ok(format!("Comment {id} is shown again.")),
        (Moderated::Done, Action::Delete) => Ok(format!("Comment {id} is deleted.")),
        (Moderated::Already, Action::Hide) => Ok(format!("Comment {id} was already hidden.")),
        (Moderated::Already, _) => Ok(format!("Comment {id} was not hidden.")),
        (Moderated::NotFound, _) => bail!("No comment {id}."),
    }
}

/// `2026-11-26 20:15:03 UTC`.
fn utc_time(at: PrimitiveDateTime) -> String {
    at.format(time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
    ))
    .unwrap_or_else(|_| "unknown".into())
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

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn listed(id: i64, author: Option<&str>, body: &str) -> ListedComment {
        ListedComment {
            id,
            body: body.into(),
            author: author.map(Into::into),
            by_former_member: false,
            visitor_id: format!("visitor-{id}"),
            created_at: datetime!(2026-11-26 20:15:03),
            edited: false,
            hidden: false,
        }
    }

    #[test]
    fn a_comment_shows_on_one_line_without_control_or_reordering_characters() {
        assert_eq!(
            one_line("  hello\r\n\tthere \u{1b}[31mred ", 60),
            "hello there [31mred"
        );
        assert_eq!(
            one_line("a\u{202e}b\u{2066}c\u{0}d\u{61c}e", 60),
            "a b c d e"
        );
        assert_eq!(one_line("", 60), "");
    }

    #[test]
    fn a_long_comment_is_cut_at_the_excerpt_length_with_an_ellipsis() {
        let cut = one_line(&"é".repeat(100), EXCERPT_CHARS);
        assert_eq!(cut.chars().count(), EXCERPT_CHARS);
        assert!(cut.ends_with('…'));
        assert_eq!(
            one_line(&"x".repeat(EXCERPT_CHARS), EXCERPT_CHARS)
                .chars()
                .count(),
            EXCERPT_CHARS
        );
        assert_eq!(one_line("abc def", 5), "abc…");
    }

    #[test]
    fn the_comment_list_aligns_its_columns_under_a_header() {
        let mut hidden = listed(12, None, "first line\nsecond line");
        hidden.hidden = true;
        hidden.edited = true;
        let mut former = listed(3, None, "bye");
        former.by_former_member = true;

        let table = comment_table(&[hidden, listed(9, Some("alice"), "hi"), former]);

        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(lines[0].starts_with("ID  AUTHOR"), "{table}");
        assert!(lines[1].contains("Anonymous"), "{table}");
        assert!(lines[1].contains("hidden,edited"), "{table}");
        assert!(lines[1].ends_with("first line second line"), "{table}");
        assert!(lines[1].contains("2026-11-26 20:15:03 UTC"), "{table}");
        assert!(
            lines[2].contains("alice") && lines[2].contains(" - "),
            "{table}"
        );
        assert!(lines[3].contains("a former member"), "{table}");
        assert!(
            !table.contains("visitor-"),
            "the visitor id itself is not shown"
        );
        let text_column = |line: &str, text: &str| line.find(text).unwrap();
        assert_eq!(
            text_column(lines[0], "TEXT"),
            text_column(lines[1], "first line")
        );
        assert_eq!(text_column(lines[0], "TEXT"), text_column(lines[2], "hi"));
        assert_eq!(
            text_column(lines[0], "POSTED"),
            text_column(lines[3], "2026-")
        );
        assert_eq!(text_column(lines[1], "12"), text_column(lines[2], " 9"));
    }
}
