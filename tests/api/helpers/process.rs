//! The real binary as a process of its own, for what only a process shows: its log.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use actix_web::http::StatusCode;

use super::random_string;

/// A `guestbook serve` process logging to a file, killed when dropped.
pub struct Server {
    child: Child,
    pub address: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn start_server(env: &[(&str, &str)], log: &std::path::Path) -> Server {
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
        // Tests post right after reading the form, as no person could: as in
        // `Flavor::spawn_app_with`, the spam trap's form stamp is not checked.
        .env("COMMENT_MIN_SECONDS", "0")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut server = Server {
        child: command.spawn().expect("guestbook runs"),
        address: format!("http://127.0.0.1:{port}"),
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
            panic!(
                "server exited ({status}):\n{}",
                std::fs::read_to_string(log).unwrap()
            );
        }
        assert!(Instant::now() < deadline, "server did not come up");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}
