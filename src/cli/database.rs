//! `guestbook migrate` and `guestbook showmigrations`: the database's schema.

use super::{PendingMigrations, open};
use crate::{db::Migrations, settings::Settings};

/// `guestbook migrate`: applies pending migrations and names each.
///
/// # Errors
/// When the database cannot be opened or a migration fails.
pub fn migrate(settings: Settings) -> anyhow::Result<()> {
    let applied = open(settings, PendingMigrations::Leave)?.db.migrate()?;
    if applied.is_empty() {
        println!("No migrations to apply.");
    }
    for name in applied {
        println!("Applied {name}");
    }
    Ok(())
}

/// `guestbook showmigrations`: every migration, applied (`[X]`) or not (`[ ]`), changing
/// nothing.
///
/// # Errors
/// When the database cannot be opened or read.
pub fn show_migrations(settings: Settings) -> anyhow::Result<()> {
    let state = open(settings, PendingMigrations::Leave)?;
    for (name, applied) in state.db.migration_status()? {
        println!("[{}] {name}", if applied { "X" } else { " " });
    }
    Ok(())
}
