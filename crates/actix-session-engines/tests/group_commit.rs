//! `Database::write_batched`: writes that arrive together share a transaction (SQLite's writer,
//! PostgreSQL's group commit), and each requester is told what really became of its own
//! write, whatever the others in its batch did.

use std::{
    sync::{Arc, Mutex, mpsc},
    time::Duration,
};

mod support;

use actix_session_engines::database::{Connection, Database, DbError};
use diesel::{RunQueryDsl, connection::SimpleConnection as _, sql_types::BigInt};

use self::support::{TestDatabase, TestResources, postgres_available};

/// The backends to run on: SQLite always, PostgreSQL when `TEST_DATABASE_URL` is set.
fn backends(test: &str) -> Vec<TestDatabase> {
    let mut backends = vec![TestDatabase::Sqlite];
    if postgres_available(test) {
        backends.push(TestDatabase::Postgres);
    }
    backends
}

/// A fresh database holding `numbers (id)` with the row 0.
fn database(resources: &mut TestResources, kind: TestDatabase) -> Database {
    let db =
        Database::connect(&resources.database_settings(kind)).expect("the test database opens");
    db.get()
        .unwrap()
        .batch_execute(
            "CREATE TABLE numbers (id BIGINT PRIMARY KEY); INSERT INTO numbers VALUES (0)",
        )
        .unwrap();
    db
}

fn numbers(db: &Database) -> Vec<i64> {
    #[derive(diesel::QueryableByName)]
    struct Number {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    diesel::sql_query("SELECT id FROM numbers ORDER BY id")
        .load::<Number>(&mut *db.get().unwrap())
        .unwrap()
        .into_iter()
        .map(|row| row.id)
        .collect()
}

fn insert(conn: &mut Connection, id: i64) -> Result<(), DbError> {
    conn.batch_execute(&format!("INSERT INTO numbers (id) VALUES ({id})"))?;
    Ok(())
}

/// Runs `writes` (each queued on its first poll) as one batch: the batching thread is first
/// held inside a write of its own, `writes` are queued meanwhile, then it is let go.
async fn as_one_batch<F: std::future::Future>(db: &Database, writes: F) -> F::Output {
    let (started, has_started) = mpsc::channel::<()>();
    let (release, released) = mpsc::channel::<()>();
    let released = Arc::new(Mutex::new(released));
    let held = db.write_batched(move |_| {
        let _ = started.send(());
        let _ = released
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(5));
        Ok(())
    });
    let queued_then_released = async {
        tokio::task::spawn_blocking(move || has_started.recv().unwrap())
            .await
            .unwrap();
        let (outcomes, ()) = tokio::join!(writes, async { release.send(()).unwrap() });
        outcomes
    };
    let (held, outcomes) = tokio::join!(held, queued_then_released);
    held.unwrap();
    outcomes
}

#[actix_web::test]
async fn a_write_that_fails_in_a_batch_costs_the_others_nothing() {
    for kind in backends("a_write_that_fails_in_a_batch_costs_the_others_nothing") {
        let mut resources = TestResources::new();
        let db = database(&mut resources, kind);

        // 0 is there already: the second write fails on the primary key.
        let (first, taken, third) = as_one_batch(&db, async {
            tokio::join!(
                db.write_batched(|conn| insert(conn, 1)),
                db.write_batched(|conn| insert(conn, 0)),
                db.write_batched(|conn| insert(conn, 3)),
            )
        })
        .await;

        assert!(
            first.is_ok() && third.is_ok(),
            "{kind:?}: {first:?} {third:?}"
        );
        assert!(
            matches!(taken, Err(DbError::Query(_))),
            "{kind:?}: {taken:?}"
        );
        assert_eq!(numbers(&db), [0, 1, 3], "{kind:?}");
    }
}

#[actix_web::test]
async fn a_write_that_catches_its_own_failure_costs_the_others_nothing() {
    for kind in backends("a_write_that_catches_its_own_failure_costs_the_others_nothing") {
        let mut resources = TestResources::new();
        let db = database(&mut resources, kind);

        // The last write of the batch finds its key taken and says so, as a session store
        // does: on PostgreSQL its failed statement has aborted the batch's transaction.
        let (first, caught) = as_one_batch(&db, async {
            tokio::join!(
                db.write_batched(|conn| insert(conn, 1)),
                db.write_batched(|conn| Ok(insert(conn, 0).is_ok())),
            )
        })
        .await;

        assert!(first.is_ok(), "{kind:?}: {first:?}");
        assert_eq!(caught.ok(), Some(false), "{kind:?}: the key was taken");
        assert_eq!(numbers(&db), [0, 1], "{kind:?}: the first write was kept");
    }
}
