//! The guestbook's database: its embedded migrations (SQLite's and PostgreSQL's), its tables
//! and the queries on them, one module per table. The connection pool and its lanes (reads on
//! the blocking threads, SQLite's writes on a writer thread of their own) are the session
//! framework's [`Database`], shared with the session engines.

pub mod changes;
pub mod comments;
pub mod django_users;
pub mod members;
pub mod models;
pub mod scheduled_runs;
pub mod schema;

use diesel::{Connection as _, RunQueryDsl, migration::MigrationSource};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub use actix_session_engines::database::{
    Connection, Database, DbError, PoolState, wait_until_no_connection_is_opening,
};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
/// The PostgreSQL advisory lock held while migrating, so instances starting together take
/// turns (an arbitrary constant: "guestbk" in ASCII).
const MIGRATION_LOCK: i64 = 0x67_75_65_73_74_62_6b;

/// The guestbook's migrations, applied to a [`Database`].
pub trait Migrations {
    /// Applies the migrations not yet applied and returns their names, oldest first.
    ///
    /// # Errors
    /// When a migration fails; nothing of that migration is kept.
    fn migrate(&self) -> anyhow::Result<Vec<String>>;

    /// Every migration this binary carries, oldest first, with whether it is applied.
    ///
    /// # Errors
    /// When the database cannot be read.
    fn migration_status(&self) -> anyhow::Result<Vec<(String, bool)>>;
}

impl Migrations for Database {
    fn migrate(&self) -> anyhow::Result<Vec<String>> {
        let mut conn = self.get()?;
        match &mut *conn {
            Connection::Sqlite(conn) => migrate_with(conn, SQLITE_MIGRATIONS),
            Connection::Postgresql(conn) => {
                // Instances starting together take turns; the second finds nothing pending.
                // One transaction holds the lock and every migration (each its own
                // savepoint): a transaction-scoped lock is released by the commit or the
                // rollback, and works through a pooler in transaction mode (PgBouncer), where
                // a session lock could stay with a server connection someone else gets.
                conn.transaction::<_, anyhow::Error, _>(|conn| {
                    diesel::sql_query(format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
                        .execute(conn)?;
                    migrate_with(conn, POSTGRES_MIGRATIONS)
                })
            }
        }
    }

    fn migration_status(&self) -> anyhow::Result<Vec<(String, bool)>> {
        let mut conn = self.get()?;
        match &mut *conn {
            Connection::Sqlite(conn) => status_with(conn, SQLITE_MIGRATIONS),
            Connection::Postgresql(conn) => status_with(conn, POSTGRES_MIGRATIONS),
        }
    }
}

fn status_with<C>(
    conn: &mut C,
    migrations: EmbeddedMigrations,
) -> anyhow::Result<Vec<(String, bool)>>
where
    C: MigrationHarness<C::Backend> + diesel::Connection,
{
    let fail = |e| anyhow::anyhow!("cannot read migrations: {e}");
    let all = MigrationSource::<C::Backend>::migrations(&migrations).map_err(fail)?;
    let pending: Vec<String> = conn
        .pending_migrations(migrations)
        .map_err(fail)?
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    Ok(all
        .iter()
        .map(|m| {
            let name = m.name().to_string();
            let applied = !pending.contains(&name);
            (name, applied)
        })
        .collect())
}

fn migrate_with<C>(conn: &mut C, migrations: EmbeddedMigrations) -> anyhow::Result<Vec<String>>
where
    C: MigrationHarness<C::Backend> + diesel::Connection,
{
    let pending = conn
        .pending_migrations(migrations)
        .map_err(|e| anyhow::anyhow!("cannot read migrations: {e}"))?;
    let mut applied = Vec::with_capacity(pending.len());
    for migration in &pending {
        let name = migration.name().to_string();
        conn.run_migration(&**migration)
            .map_err(|e| anyhow::anyhow!("migration {name} failed: {e}"))?;
        applied.push(name);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use diesel::{QueryDsl, SqliteConnection, connection::SimpleConnection, sqlite::Sqlite};

    use super::*;
    use crate::db::schema;

    const REBUILD: &str = "member_ids_never_reused";

    fn sqlite(conn: &mut Connection) -> &mut SqliteConnection {
        match conn {
            Connection::Sqlite(conn) => conn,
            Connection::Postgresql(_) => unreachable!("the test opens SQLite"),
        }
    }

    fn members_of(conn: &mut Connection) -> Vec<(i64, String, i64, Option<String>, bool)> {
        use schema::members::dsl::*;
        members
            .select((
                id,
                username,
                session_generation,
                carried_session_hash,
                is_staff,
            ))
            .order(id)
            .load(conn)
            .unwrap()
    }

    fn authors_of(conn: &mut Connection) -> Vec<(String, Option<i64>)> {
        use schema::comments::dsl::*;
        comments
            .select((body, member_id))
            .order(id)
            .load(conn)
            .unwrap()
    }

    /// The rebuild that gives `members` AUTOINCREMENT keeps every row and id, the comments'
    /// references (with foreign keys enforced again), the case-blind unique index and the
    /// change-counter triggers; and from then on a deleted member's id is not given again.
    #[test]
    fn the_members_rebuild_keeps_rows_references_index_and_triggers() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::sqlite_in(dir.path());
        let mut conn = db.get().unwrap();
        let (rebuild, before): (Vec<_>, Vec<_>) =
            MigrationSource::<Sqlite>::migrations(&SQLITE_MIGRATIONS)
                .unwrap()
                .into_iter()
                .partition(|m| m.name().to_string().ends_with(REBUILD));
        // Creates diesel's own table of applied migrations.
        sqlite(&mut conn).applied_migrations().unwrap();
        for migration in &before {
            sqlite(&mut conn).run_migration(&**migration).unwrap();
        }
        conn.batch_execute(
            "INSERT INTO members (id, username, password_hash, created_at, session_generation, \
                 carried_session_hash, is_staff) VALUES \
                 (1, 'ada', 'h1', '2026-01-01 00:00:00', 3, 'carried', TRUE), \
                 (2, 'bob', 'h2', '2026-01-02 00:00:00', 0, NULL, FALSE), \
                 (3, 'cy', 'h3', '2026-01-03 00:00:00', 1, NULL, FALSE); \
             INSERT INTO comments (body, member_id, visitor_id, created_at) VALUES \
                 ('by ada', 1, 'v1', '2026-01-04 00:00:00'), \
                 ('by bob', 2, 'v2', '2026-01-04 00:00:00'), \
                 ('by nobody', NULL, 'v3', '2026-01-04 00:00:00');",
        )
        .unwrap();
        let (members_before, authors_before) = (members_of(&mut conn), authors_of(&mut conn));

        sqlite(&mut conn).run_migration(&*rebuild[0]).unwrap();

        assert_eq!(
            members_of(&mut conn),
            members_before,
            "every row and id kept"
        );
        assert_eq!(
            authors_of(&mut conn),
            authors_before,
            "every comment still theirs"
        );
        let taken = conn.batch_execute(
            "INSERT INTO members (username, password_hash, created_at) \
             VALUES ('ADA', 'h', '2026-01-05 00:00:00')",
        );
        assert!(taken.is_err(), "usernames still unique in any case");
        let counter = |conn: &mut Connection| changes::versions(conn).unwrap().members;
        let at_start = counter(&mut conn);
        conn.batch_execute("UPDATE members SET is_staff = TRUE WHERE id = 2")
            .unwrap();
        let after_update = counter(&mut conn);
        conn.batch_execute("DELETE FROM members WHERE id = 2")
            .unwrap();
        let after_delete = counter(&mut conn);
        assert_eq!(
            (after_update, after_delete),
            (at_start + 1, at_start + 2),
            "updates and deletions still move the counter"
        );
        assert_eq!(
            authors_of(&mut conn)[1],
            ("by bob".into(), None),
            "foreign keys enforced again: a deleted member's comment keeps no id"
        );
        conn.batch_execute("DELETE FROM members WHERE id = 3")
            .unwrap();
        let newcomer = members::create(&mut conn, "dee", "h4", false)
            .unwrap()
            .unwrap();
        assert_eq!(newcomer.id, 4, "the newest member's id is not given again");

        // Reverted, the table is as before, rows and references kept.
        let (members_now, authors_now) = (members_of(&mut conn), authors_of(&mut conn));
        sqlite(&mut conn).revert_migration(&*rebuild[0]).unwrap();
        assert_eq!(members_of(&mut conn), members_now);
        assert_eq!(authors_of(&mut conn), authors_now);
        conn.batch_execute("DELETE FROM members WHERE id = 1")
            .unwrap();
        assert_eq!(authors_of(&mut conn)[0], ("by ada".into(), None));
    }
}
