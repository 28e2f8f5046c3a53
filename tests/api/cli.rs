//! The `guestbook` command line, run as the real binary.

use actix_web::http::StatusCode;

use crate::helpers::{PASSWORD, run_cli_with_env, spawn_app};

#[actix_web::test]
async fn migrate_lists_what_it_applied_then_says_nothing_is_pending() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir
        .path()
        .join("fresh.sqlite3")
        .to_string_lossy()
        .into_owned();

    let first = run_cli_with_env(&["migrate"], "", &[("DATABASE_URL", &url)]);
    let second = run_cli_with_env(&["migrate"], "", &[("DATABASE_URL", &url)]);

    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        String::from_utf8_lossy(&first.stdout).contains("Applied 2026-11-25-000001_create_tables")
    );
    assert_eq!(
        String::from_utf8_lossy(&second.stdout).trim(),
        "No migrations to apply."
    );
    let key_file = dir.path().join("fresh.sqlite3.secret-key");
    assert!(
        key_file.exists(),
        "a generated SECRET_KEY is kept beside the database"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(key_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

#[actix_web::test]
async fn createmember_reads_the_password_from_stdin_and_the_member_can_log_in() {
    let app = spawn_app().await;
    let url = app.state.settings.database.url.clone();

    let created = run_cli_with_env(
        &["createmember", "victor", "--password-stdin"],
        &format!("{PASSWORD}\n"),
        &[("DATABASE_URL", &url)],
    );
    let refused = run_cli_with_env(
        &["createmember", "x", "--password-stdin"],
        &format!("{PASSWORD}\n"),
        &[("DATABASE_URL", &url)],
    );
    let no_tty = run_cli_with_env(&["createmember", "walter"], "", &[("DATABASE_URL", &url)]);

    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    assert!(String::from_utf8_lossy(&created.stdout).contains("Created member victor"));
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("Usernames are 3 to 32 characters"));
    assert!(!no_tty.status.success());
    assert!(String::from_utf8_lossy(&no_tty.stderr).contains("--password-stdin"));
    let mut browser = app.browser();
    assert_eq!(
        browser.log_in("victor", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
}

#[actix_web::test]
async fn an_invalid_setting_stops_start_up_with_a_message_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("db.sqlite3").to_string_lossy().into_owned();

    let bad_engine = run_cli_with_env(
        &["migrate"],
        "",
        &[("DATABASE_URL", &url), ("SESSION_ENGINE", "carrier-pigeon")],
    );
    let short_key = run_cli_with_env(
        &["migrate"],
        "",
        &[("DATABASE_URL", &url), ("SECRET_KEY", "short")],
    );

    assert!(!bad_engine.status.success());
    assert!(String::from_utf8_lossy(&bad_engine.stderr).contains("SESSION_ENGINE"));
    assert!(!short_key.status.success());
    let stderr = String::from_utf8_lossy(&short_key.stderr);
    assert!(
        stderr.contains("SECRET_KEY") && stderr.contains("at least 32 bytes"),
        "{stderr}"
    );
}
