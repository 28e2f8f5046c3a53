//! Fills a guestbook's storage for `scripts/bench.sh`, in bulk and before the server starts,
//! from the same settings the server reads (`DATABASE_URL`, `SESSION_ENGINE`,
//! `SESSION_SERIALIZER`, `CACHE_URL`, `SESSION_FILE_PATH`, ...).
//!
//! ```text
//! bench_seed comments N   N comments from N visitors, every fifth by a member who has not commented yet
//! bench_seed sessions N   N stored sessions of visitors who commented, in the configured engine
//! bench_seed csrf-pairs N N fresh browsers' CSRF pairs, one a line: `cookie token`
//! ```
//!
//! The site knows a visitor by their CSRF cookie before any session exists (one comment per
//! visitor), so a load of fresh visitors needs a fresh cookie per request: `csrf-pairs` makes
//! them as the site does (the secret signed with `SECRET_KEY` for the cookie, masked with a
//! random pad for the form), for the wrk scripts in `scripts/bench/` to read.
//!
//! The db engine gets its rows in batched multi-row inserts inside one transaction (a million
//! in seconds); the other server-side engines get theirs through the engine itself, so keys,
//! values and indexes are exactly what the server writes. The in-process memory cache and
//! signed cookies have no store another process can fill: the command says so and does
//! nothing. Run it after `guestbook migrate` and `guestbook createmember`.

use std::{
    collections::HashMap,
    io::{BufWriter, Write as _},
    time::Duration,
};

use diesel::{Connection as _, prelude::*};
use futures_util::future::join_all;
use guestbook::{
    db::{
        Connection, Database, DbError,
        models::now_utc,
        schema::{comments, members, sessions},
    },
    security::{csrf::CsrfConfig, proxies::TrustedProxies, secret_key, signing::Signer},
    sessions::{SessionBackend, SessionEngine, keys},
    settings::{CacheBackend, SessionEngineKind, SessionSerializer, Settings},
    state::AppState,
};
use rand::{Rng, distr::Alphanumeric};
use time::PrimitiveDateTime;

/// Rows per INSERT: 4 parameters each stays under SQLite's 32,766 and PostgreSQL's 65,535.
const ROWS_PER_INSERT: usize = 5_000;
/// Sessions created at once through an engine (one Redis pipeline's worth, roughly).
const CREATES_IN_FLIGHT: usize = 64;

#[derive(Insertable)]
#[diesel(table_name = sessions, treat_none_as_default_value = false)]
struct SessionRow {
    session_key: String,
    session_data: Vec<u8>,
    expire_date: PrimitiveDateTime,
    user_id: Option<i64>,
}

#[derive(Insertable)]
#[diesel(table_name = comments, treat_none_as_default_value = false)]
struct CommentRow {
    body: String,
    member_id: Option<i64>,
    visitor_id: String,
    created_at: PrimitiveDateTime,
}

/// Runs the same Diesel statement on whichever backend `conn` is; batched inserts are
/// written per backend, not through the multi-connection.
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            Connection::Sqlite($c) => $body,
            Connection::Postgresql($c) => $body,
        }
    };
}

fn random_id(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// What a visitor's session holds after commenting, in the configured serializer's form.
fn visitor_session(serializer: SessionSerializer) -> anyhow::Result<Vec<u8>> {
    let state: HashMap<String, String> = [
        ("_visitor_id".to_owned(), format!("\"{}\"", random_id(22))),
        ("has_commented".to_owned(), "true".to_owned()),
    ]
    .into();
    serializer.encode(&state)
}

fn insert_in_batches<R>(
    db: &Database,
    rows: impl Iterator<Item = anyhow::Result<R>>,
    insert: impl Fn(&mut Connection, &[R]) -> QueryResult<usize>,
) -> anyhow::Result<usize> {
    let mut conn = db.get()?;
    let mut rows = rows.peekable();
    let mut done = 0;
    conn.transaction(|conn| {
        while rows.peek().is_some() {
            let batch = rows
                .by_ref()
                .take(ROWS_PER_INSERT)
                .collect::<anyhow::Result<Vec<R>>>()
                .map_err(|e| DbError::Unavailable(e.to_string()))?;
            done += insert(conn, &batch)?;
        }
        Ok::<_, DbError>(())
    })?;
    Ok(done)
}

fn seed_comments(state: &AppState, count: usize) -> anyhow::Result<usize> {
    let member_ids: Vec<i64> = members::table
        .select(members::id)
        .order(members::id)
        .load(&mut *state.db.get()?)?;
    let now = now_utc();
    // Oldest first, a minute apart, so ids and times agree as they would on a real site.
    let rows = (0..count).map(|i| {
        // A member comments once at most (the `comments_one_per_member` index).
        let author = (i % 5 == 0)
            .then(|| member_ids.get(i / 5).copied())
            .flatten();
        Ok(CommentRow {
            body: format!(
                "Benchmark comment number {i}: long enough to look like a real one, with a \
                 sentence or two about the visit."
            ),
            member_id: author,
            visitor_id: format!("bench-{}", random_id(22)),
            created_at: now - time::Duration::minutes((count - i) as i64),
        })
    });
    insert_in_batches(&state.db, rows, |conn, batch| {
        on_backend!(conn, |c| diesel::insert_into(comments::table)
            .values(batch)
            .execute(c))
    })
}

async fn seed_sessions(state: &AppState, count: usize) -> anyhow::Result<usize> {
    let settings = &state.settings;
    let serializer = settings.session.serializer;
    let ttl = Duration::from_secs(settings.session.cookie_age.unsigned_abs());
    let engine = settings.session.engine;
    let in_process = matches!(settings.session_cache.backend, CacheBackend::Memory { .. });
    if engine == SessionEngineKind::Db {
        let expire_date = now_utc() + ttl;
        let rows = (0..count).map(|_| {
            Ok(SessionRow {
                session_key: keys::generate().as_ref().to_owned(),
                session_data: visitor_session(serializer)?,
                expire_date,
                user_id: None,
            })
        });
        return insert_in_batches(&state.db, rows, |conn, batch| {
            on_backend!(conn, |c| diesel::insert_into(sessions::table)
                .values(batch)
                .execute(c))
        });
    }
    let SessionEngine::ServerSide { backend, .. } = &**state.sessions else {
        eprintln!("bench_seed: {engine:?} keeps no sessions on the server: nothing to seed");
        return Ok(0);
    };
    if engine == SessionEngineKind::Cache && in_process {
        eprintln!("bench_seed: the memory cache lives inside the server: nothing to seed");
        return Ok(0);
    }
    let mut done = 0;
    for start in (0..count).step_by(CREATES_IN_FLIGHT) {
        let creates = (start..count.min(start + CREATES_IN_FLIGHT)).map(|_| async {
            let key = keys::generate();
            let data = visitor_session(serializer)?;
            anyhow::Ok(backend.create(key.as_ref(), &data, None, ttl).await?)
        });
        for created in join_all(creates).await {
            done += usize::from(created?);
        }
    }
    Ok(done)
}

/// `count` lines of `cookie token`: a new browser's signed `csrftoken` cookie and a masked form
/// token for it.
fn print_csrf_pairs(settings: &Settings, count: usize) -> anyhow::Result<usize> {
    let signer = Signer::new(
        secret_key::resolve(settings)?,
        settings.security.secret_key_fallbacks.clone(),
    );
    let csrf = CsrfConfig::new(signer, TrustedProxies::new(Vec::new()), Vec::new(), false);
    let mut out = BufWriter::new(std::io::stdout().lock());
    for _ in 0..count {
        let (cookie, token) = csrf.new_visitor();
        writeln!(out, "{cookie} {token}")?;
    }
    out.flush()?;
    Ok(count)
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let usage = "usage: bench_seed comments|sessions|csrf-pairs COUNT";
    let mut args = std::env::args().skip(1);
    let (what, count) = match (args.next(), args.next().map(|n| n.parse::<usize>())) {
        (Some(what), Some(Ok(count))) => (what, count),
        _ => anyhow::bail!(usage),
    };
    let settings = Settings::from_env()?;
    if what == "csrf-pairs" {
        // Nothing to open: only the secret key is needed.
        print_csrf_pairs(&settings, count)?;
        return Ok(());
    }
    let state = AppState::new(settings)?;
    let started = std::time::Instant::now();
    let done = match what.as_str() {
        "comments" => seed_comments(&state, count)?,
        "sessions" => seed_sessions(&state, count).await?,
        _ => anyhow::bail!(usage),
    };
    eprintln!(
        "bench_seed: {done} {what} in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
