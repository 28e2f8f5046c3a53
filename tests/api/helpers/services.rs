//! The real services some tests need: PostgreSQL (`TEST_DATABASE_URL`) and Redis
//! (`REDIS_URL`), each test with a database or key prefix of its own, and a TCP proxy the tests
//! can cut and restore to take a service away mid-test.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use diesel::{Connection as _, connection::SimpleConnection};
use tokio::{
    io::copy_bidirectional,
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

use super::{postgres_url, random_string, redis_url};

/// Creates an empty PostgreSQL schema for one test and returns a URL whose connections use
/// it (libpq's `options` sets their `search_path`). A schema is made in milliseconds where a
/// database takes a quarter of a second, and creating databases serialises on the template.
pub fn create_postgres_schema() -> String {
    let admin_url = postgres_url().expect("checked by postgres_available");
    let name = format!("guestbook_test_{}", random_string(16).to_ascii_lowercase());
    let mut admin = diesel::PgConnection::establish(&admin_url).expect("TEST_DATABASE_URL answers");
    admin
        .batch_execute(&format!("CREATE SCHEMA {name}"))
        .unwrap();
    let separator = if admin_url.contains('?') { '&' } else { '?' };
    format!("{admin_url}{separator}options=-csearch_path%3D{name}")
}

/// Drops a schema [`create_postgres_schema`] made, with everything in it.
pub fn drop_postgres_schema(url: &str) {
    let (Some(admin_url), Some((_, name))) = (postgres_url(), url.rsplit_once("search_path%3D"))
    else {
        return;
    };
    if !name.starts_with("guestbook_test_")
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return;
    }
    if let Ok(mut admin) = diesel::PgConnection::establish(&admin_url) {
        let _ = admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"));
    }
}

/// Deletes the keys starting with `prefix` from the Redis at `url`; how many there were.
///
/// # Errors
/// When that Redis does not answer within a second.
pub fn delete_redis_keys(url: &str, prefix: &str) -> redis::RedisResult<usize> {
    let timeout = Some(Duration::from_secs(1));
    let mut conn = redis::Client::open(url)?.get_connection_with_timeout(Duration::from_secs(1))?;
    conn.set_read_timeout(timeout)?;
    conn.set_write_timeout(timeout)?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query(&mut conn)?;
    if !keys.is_empty() {
        redis::cmd("DEL").arg(&keys).exec(&mut conn)?;
    }
    Ok(keys.len())
}

/// `host:port` of `REDIS_URL`.
pub fn redis_addr() -> String {
    host_and_port(&redis_url().expect("checked by redis_available")).to_owned()
}

/// Whether `url` names the test Redis itself (any database number), not a proxy to it.
pub fn on_test_redis(url: &str) -> bool {
    redis_url().is_some_and(|test_redis| host_and_port(url) == host_and_port(&test_redis))
}

fn host_and_port(url: &str) -> &str {
    let rest = url.trim_start_matches("redis://");
    rest.split('/').next().unwrap_or(rest)
}

/// A TCP proxy the tests can cut and restore, to take a real service away mid-test.
///
/// It runs on a runtime of its own, so it keeps forwarding while the test's runtime is blocked
/// in synchronous code (a connection pool connecting while the app is built, say).
pub struct TcpProxy {
    addr: std::net::SocketAddr,
    target: String,
    runtime: Option<tokio::runtime::Runtime>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards every connection to `target`.
    pub async fn start(target: String) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = Self {
            addr: listener.local_addr().unwrap(),
            target,
            runtime: Some(runtime),
            tasks: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("kept until dropped")
    }

    fn serve(&self, listener: std::net::TcpListener) {
        listener.set_nonblocking(true).unwrap();
        let runtime = self.runtime();
        let listener = {
            let _entered = runtime.enter();
            TcpListener::from_std(listener).unwrap()
        };
        let (target, tasks) = (self.target.clone(), Arc::clone(&self.tasks));
        let accept = runtime.spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(pipe);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Closes the listener and every open connection: the service is gone when this returns.
    pub async fn stop(&self) {
        let tasks: Vec<_> = self.tasks.lock().unwrap().drain(..).collect();
        for task in &tasks {
            task.abort();
        }
        // A cancelled task has dropped its sockets by the time its handle answers.
        for task in tasks {
            let _ = task.await;
        }
    }

    /// Listens again on the same port.
    pub async fn start_again(&self) {
        self.serve(std::net::TcpListener::bind(self.addr).unwrap());
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A `redis-server` of the test's own on a free loopback port, which the test can pause
/// (`SIGSTOP`: connections stay open and nothing answers, as a stalled server) and resume;
/// killed when dropped. Call only when `redis_available` (CI has `redis-server`).
pub struct RedisServer {
    child: std::process::Child,
    pub port: u16,
}

impl RedisServer {
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("redis-server runs");
        // The signal is the server's own: its log says when it accepts connections. The log
        // is read to its end, so a full pipe never blocks the server.
        let log = child.stdout.take().expect("redis-server's log");
        let (ready, is_ready) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut ready = Some(ready);
            for line in std::io::BufRead::lines(std::io::BufReader::new(log)).map_while(Result::ok)
            {
                if line.contains("Ready to accept connections") {
                    ready.take().map(|ready| ready.send(()));
                }
            }
        });
        let mut server = Self { child, port };
        // A bound on a hang, never a measure of speed; a server that exits ends the wait
        // at once (its log closes).
        if is_ready.recv_timeout(Duration::from_secs(30)).is_err() {
            let status = server.child.try_wait();
            panic!("redis-server never said it was ready (exit status: {status:?})");
        }
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Stops the server where it stands: it keeps its connections and answers nothing.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal}");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // SIGKILL ends a paused server too; nothing here may panic (a test may be failing).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `POST` the test holds in flight: sent by hand on a connection of its own, with
/// `Expect: 100-continue`, so the server's `100 Continue` says when it has taken the request
/// and started on it (a worker has accepted the connection and called the app). The body
/// follows only when the test sends it, and never if it does not.
pub struct HeldPost {
    stream: TcpStream,
    body: String,
}

/// How long a held request's reads and writes may take before the test fails: a bound on a
/// hang, never a measure of speed.
const HELD_POST_DEADLINE: Duration = Duration::from_secs(60);

impl HeldPost {
    /// Sends the head of `POST path` to `address` (`http://127.0.0.1:port`) with `cookies`,
    /// announcing the form `body`, and waits for the server's `100 Continue`.
    pub async fn start(address: &str, path: &str, cookies: &str, body: String) -> Self {
        use tokio::io::AsyncWriteExt as _;
        let host = address.trim_start_matches("http://");
        let mut stream = TcpStream::connect(host).await.expect("the server listens");
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nCookie: {cookies}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
             Expect: 100-continue\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut held = Self { stream, body };
        let interim = held.read_head().await;
        assert!(
            interim.starts_with("HTTP/1.1 100 "),
            "the server took the request: {interim:?}"
        );
        held
    }

    /// Sends the body: the request goes on.
    pub async fn send_body(&mut self) {
        use tokio::io::AsyncWriteExt as _;
        let body = std::mem::take(&mut self.body);
        within_deadline(self.stream.write_all(body.as_bytes()))
            .await
            .unwrap();
    }

    /// The answer: its status line and headers and its body, read to the end (the request
    /// said `Connection: close`); `None` when the server closed the connection, or it was
    /// reset, without an answer.
    pub async fn response(mut self) -> Option<String> {
        use tokio::io::AsyncReadExt as _;
        let mut answer = Vec::new();
        match within_deadline(self.stream.read_to_end(&mut answer)).await {
            Ok(_) if answer.starts_with(b"HTTP/1.1 ") => {
                Some(String::from_utf8_lossy(&answer).into_owned())
            }
            Ok(_) | Err(_) => None,
        }
    }

    /// The status of the answer, as [`HeldPost::response`].
    pub async fn status(self) -> Option<u16> {
        let answer = self.response().await?;
        answer.get(9..12).and_then(|code| code.parse().ok())
    }

    /// Reads up to the end of a response head (`\r\n\r\n`), byte by byte so nothing after it
    /// is taken.
    async fn read_head(&mut self) -> String {
        use tokio::io::AsyncReadExt as _;
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0; 1];
            let read = within_deadline(self.stream.read(&mut byte)).await;
            match read {
                Ok(1) => head.push(byte[0]),
                other => panic!(
                    "the connection ended ({other:?}) after {:?}",
                    String::from_utf8_lossy(&head)
                ),
            }
        }
        String::from_utf8_lossy(&head).into_owned()
    }
}

async fn within_deadline<T>(io: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(HELD_POST_DEADLINE, io)
        .await
        .unwrap_or_else(|_| panic!("no progress on a held request in {HELD_POST_DEADLINE:?}"))
}
