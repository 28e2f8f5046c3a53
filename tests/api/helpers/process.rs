//! The real binary as a process of its own, for what only a process shows: its log.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use actix_web::http::StatusCode;
use tempfile::TempDir;

use super::random_string;

/// A `guestbook serve` process on a SQLite file of its own, logging to a file, in a folder
/// removed when it is dropped (the process killed first).
pub struct Server {
    child: Child,
    pub address: String,
    /// Its `DATABASE_URL`, for commands run against it.
    pub database: String,
    log: PathBuf,
    _dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts one with `env` on top of its own database and secret key, and waits until it
    /// answers.
    pub async fn start(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("stderr.log");
        let database = dir.path().join("db.sqlite3").to_string_lossy().into_owned();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_guestbook"));
        command
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .env_remove("SESSION_ENGINE")
            .env("SECRET_KEY", random_string(40))
            .env("DATABASE_URL", &database)
            // Tests post right after reading the form, as no person could: as in
            // `Flavor::spawn_app_with`, the spam trap's form stamp is not checked.
            .env("COMMENT_MIN_SECONDS", "0")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut server = Self {
            child: command.spawn().expect("guestbook runs"),
            address: format!("http://127.0.0.1:{port}"),
            database,
            log,
            _dir: dir,
        };
        let client = awc::Client::default();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(res) = client.get(format!("{}/livez", server.address)).send().await
                && res.status() == StatusCode::OK
            {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("server exited ({status}):\n{}", server.logged());
            }
            assert!(Instant::now() < deadline, "server did not come up");
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the server and gives what it logged.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.logged()
    }

    fn logged(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}
