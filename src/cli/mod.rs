//! The `guestbook` command line: the commands' definitions and the dispatch to their groups,
//! each of which calls the domain (or, for the database and the sessions, the piece itself).
//!
//! Every command that works on the site's data opens the application the one way,
//! [`open`]: the pieces built from the settings, with pending migrations applied.

mod check;
mod database;
mod members;
mod moderation;
mod serve;
mod sessions;

use std::{net::SocketAddr, time::Duration};

use clap::{Parser, Subcommand};

use crate::{
    db::{self, Migrations},
    domain::moderation::Action,
    settings::Settings,
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
    Check {
        /// Also warn about settings that are wrong on the Internet (Django's check --deploy).
        #[arg(long)]
        deploy: bool,
        /// Exit non-zero on warnings too, not only on problems.
        #[arg(long, value_enum, default_value_t = check::FailLevel::Error)]
        fail_level: check::FailLevel,
    },
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

async fn run_command(cli: Cli, settings: Settings) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve {
        bind: None,
        no_migrate: false,
    }) {
        Command::Serve { bind, no_migrate } => serve::serve(settings, bind, !no_migrate).await,
        Command::Migrate => database::migrate(settings),
        Command::Showmigrations => database::show_migrations(settings),
        Command::Check { deploy, fail_level } => check::check(settings, deploy, fail_level).await,
        Command::Createmember {
            username,
            staff,
            password_stdin,
        } => {
            let state = open(settings, PendingMigrations::Apply)?;
            members::create_member(&state, username, staff, password_stdin).await
        }
        Command::Setstaff { username, off } => {
            let state = open(settings, PendingMigrations::Apply)?;
            members::set_staff(&state, &username, !off).await
        }
        Command::Changepassword {
            username,
            password_stdin,
        } => {
            let state = open(settings, PendingMigrations::Apply)?;
            members::change_password(&state, &username, password_stdin).await
        }
        Command::Sessions {
            username,
            revoke_all,
        } => {
            let state = open(settings, PendingMigrations::Apply)?;
            members::sessions(&state, &username, revoke_all).await
        }
        Command::Comments {
            action,
            hidden,
            limit,
        } => {
            let state = open(settings, PendingMigrations::Apply)?;
            match action {
                None => moderation::list_comments(&state, hidden, limit).await,
                Some(CommentsAction::Hide { id }) => {
                    moderation::moderate_comment(&state, id, Action::Hide).await
                }
                Some(CommentsAction::Unhide { id }) => {
                    moderation::moderate_comment(&state, id, Action::Unhide).await
                }
                Some(CommentsAction::Delete { id }) => {
                    moderation::moderate_comment(&state, id, Action::Delete).await
                }
            }
        }
        Command::Clearsessions { batch_size } => {
            let state = open(settings, PendingMigrations::Apply)?;
            sessions::clear_sessions(&state, batch_size).await
        }
    }
}

/// Whether [`open`] applies pending migrations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PendingMigrations {
    /// Apply them first: what every command that reads or writes the site's data needs.
    Apply,
    /// Leave the schema as it is: for the commands that look at it or migrate it themselves.
    Leave,
}

/// The application's pieces for a command, built from `settings` (the database opened, the
/// secret key read, every piece a command may use), with pending migrations applied first
/// when `migrations` says so. The one way a command opens the application (`serve` builds the
/// whole server, which does the same).
///
/// # Errors
/// Whatever [`AppState::new`] refuses, or a migration that fails.
fn open(settings: Settings, migrations: PendingMigrations) -> anyhow::Result<AppState> {
    let state = AppState::new(settings)?;
    if migrations == PendingMigrations::Apply {
        state.db.migrate()?;
    }
    Ok(state)
}
