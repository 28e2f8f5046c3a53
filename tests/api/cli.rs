//! The `guestbook` command line, run as the real binary.

use actix_web::http::StatusCode;

use diesel::{QueryableByName, RunQueryDsl, sql_types};

use crate::helpers::{Flavor, PASSWORD, TestApp, run_cli_with_env, spawn_app};

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
async fn a_mistyped_command_is_refused_with_the_command_it_resembles() {
    let mistyped = run_cli_with_env(&["migrat"], "", &[]);

    assert!(!mistyped.status.success());
    let said = String::from_utf8_lossy(&mistyped.stderr);
    assert!(said.contains("unrecognized subcommand 'migrat'"), "{said}");
    assert!(said.contains("similar subcommand"), "{said}");
    assert!(said.contains("'migrate'"), "{said}");
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

// ---------- staff and moderation ----------

/// What `guestbook` printed, and whether it succeeded.
struct Ran {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs the binary against `app`'s database with its secret key (PostgreSQL needs one).
fn guestbook(app: &TestApp, args: &[&str]) -> Ran {
    guestbook_with_stdin(app, args, "")
}

fn guestbook_with_stdin(app: &TestApp, args: &[&str], stdin: &str) -> Ran {
    let key = app.secret_key();
    let out = run_cli_with_env(
        args,
        stdin,
        &[
            ("DATABASE_URL", &app.state.settings.database.url),
            ("SECRET_KEY", &key),
        ],
    );
    Ran {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        // The exit status first: a command killed by a signal has nothing else to say.
        stderr: format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr)),
    }
}

fn is_staff(app: &TestApp, username: &str) -> bool {
    #[derive(QueryableByName)]
    struct Staff {
        #[diesel(sql_type = sql_types::Bool)]
        is_staff: bool,
    }
    diesel::sql_query("SELECT is_staff FROM members WHERE username = $1")
        .bind::<sql_types::Text, _>(username)
        .get_result::<Staff>(&mut app.db())
        .unwrap()
        .is_staff
}

/// The stored comments, oldest first: `(id, visitor_id)`.
fn stored_comments(app: &TestApp) -> Vec<(i64, String)> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = sql_types::BigInt)]
        id: i64,
        #[diesel(sql_type = sql_types::Text)]
        visitor_id: String,
    }
    diesel::sql_query("SELECT id, visitor_id FROM comments ORDER BY id")
        .load::<Row>(&mut app.db())
        .unwrap()
        .into_iter()
        .map(|row| (row.id, row.visitor_id))
        .collect()
}

/// Posts `text` as a new anonymous visitor.
async fn post_comment(app: &TestApp, text: &str) {
    let posted = app.browser().comment(text).await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.body);
}

/// The list's lines after its header.
fn listed_lines(ran: &Ran) -> Vec<&str> {
    assert!(ran.ok, "{}", ran.stderr);
    let mut lines = ran.stdout.lines();
    let header = lines.next().unwrap_or_default();
    assert!(
        header.starts_with("ID") && header.contains("AUTHOR") && header.contains("TEXT"),
        "{}",
        ran.stdout
    );
    lines.collect()
}

#[actix_web::test]
async fn createmember_staff_and_setstaff_turn_staff_status_on_and_off() {
    for flavor in Flavor::on_each_database("createmember_staff_and_setstaff") {
        let app = flavor.spawn_app().await;
        let stdin = format!("{PASSWORD}\n");

        let alice = guestbook_with_stdin(
            &app,
            &["createmember", "alice", "--staff", "--password-stdin"],
            &stdin,
        );
        let bob = guestbook_with_stdin(&app, &["createmember", "bob", "--password-stdin"], &stdin);
        let alice_staff = is_staff(&app, "alice");
        let bob_staff = is_staff(&app, "bob");
        let bob_on = guestbook(&app, &["setstaff", "bob"]);
        let bob_on_again = guestbook(&app, &["setstaff", "BOB"]);
        let bob_after = is_staff(&app, "bob");
        let alice_off = guestbook(&app, &["setstaff", "alice", "--off"]);
        let alice_off_again = guestbook(&app, &["setstaff", "alice", "--off"]);
        let alice_after = is_staff(&app, "alice");
        let nobody = guestbook(&app, &["setstaff", "nobody"]);

        assert!(alice.ok, "{flavor:?}: {}", alice.stderr);
        assert!(
            alice.stdout.starts_with("Created staff member alice (id "),
            "{}",
            alice.stdout
        );
        assert!(
            bob.stdout.starts_with("Created member bob (id "),
            "{}",
            bob.stdout
        );
        assert!(alice_staff && !bob_staff, "{flavor:?}");
        assert!(bob_on.ok, "{}", bob_on.stderr);
        assert_eq!(bob_on.stdout.trim(), "bob is staff now.");
        assert_eq!(bob_on_again.stdout.trim(), "bob is already staff.");
        assert!(bob_after, "{flavor:?}");
        assert_eq!(alice_off.stdout.trim(), "alice is no longer staff.");
        assert!(alice_off_again.ok, "{}", alice_off_again.stderr);
        assert_eq!(
            alice_off_again.stdout.trim(),
            "alice is not staff (nothing to change)."
        );
        assert!(!alice_after, "{flavor:?}");
        assert!(!nobody.ok);
        assert!(
            nobody.stderr.contains(r#"no member is called "nobody""#),
            "{}",
            nobody.stderr
        );
    }
}

#[actix_web::test]
async fn comments_lists_the_newest_first_with_visitor_tags_not_visitor_ids() {
    for flavor in Flavor::on_each_database("comments_lists_the_newest_first") {
        let app = flavor.spawn_app().await;
        let empty = guestbook(&app, &["comments"]);
        app.create_member("carol").await;
        let mut carol = app.browser();
        carol.log_in("carol", PASSWORD).await;
        assert_eq!(
            carol.comment("carol was here").await.status,
            StatusCode::SEE_OTHER
        );
        post_comment(&app, "second\r\nline\tof text").await;
        post_comment(&app, &format!("third {}", "x".repeat(100))).await;

        let all = guestbook(&app, &["comments"]);
        let two = guestbook(&app, &["comments", "--limit", "2"]);
        let no_hidden = guestbook(&app, &["comments", "--hidden"]);
        let bad_limit = guestbook(&app, &["comments", "--limit", "0"]);

        assert!(empty.ok, "{}", empty.stderr);
        assert_eq!(empty.stdout.trim(), "No comments.");
        let lines = listed_lines(&all);
        assert_eq!(lines.len(), 3, "{flavor:?}: {}", all.stdout);
        let stored = stored_comments(&app);
        let ids: Vec<String> = stored.iter().rev().map(|(id, _)| id.to_string()).collect();
        for (line, id) in lines.iter().zip(&ids) {
            assert_eq!(line.split_whitespace().next(), Some(id.as_str()), "{line}");
        }
        assert!(lines[0].contains("Anonymous") && lines[0].contains("third xxx"));
        assert!(
            !lines[0].contains(&"x".repeat(70)),
            "the text is cut: {}",
            lines[0]
        );
        assert!(lines[1].ends_with("second line of text"), "{}", lines[1]);
        assert!(lines[2].contains("carol") && lines[2].ends_with("carol was here"));
        assert!(
            lines.iter().all(|line| line.contains(" UTC ")),
            "{}",
            all.stdout
        );
        let tags: Vec<&str> = lines
            .iter()
            .map(|line| line.split_whitespace().nth(2).unwrap())
            .collect();
        assert!(tags.iter().all(|tag| tag.len() == 8), "{tags:?}");
        assert!(tags[0] != tags[1] && tags[1] != tags[2] && tags[0] != tags[2]);
        for (_, visitor_id) in &stored {
            assert!(!all.stdout.contains(visitor_id.as_str()), "{}", all.stdout);
        }
        assert_eq!(listed_lines(&two), &lines[..2]);
        assert_eq!(no_hidden.stdout.trim(), "No hidden comments.");
        assert!(!bad_limit.ok);
        assert!(bad_limit.stderr.contains("--limit"), "{}", bad_limit.stderr);
    }
}

#[actix_web::test]
async fn hide_unhide_and_delete_change_what_visitors_see() {
    for flavor in Flavor::on_each_database("hide_unhide_and_delete") {
        let app = flavor.spawn_app().await;
        post_comment(&app, "an unkind remark").await;
        post_comment(&app, "a kind remark").await;
        let unkind = stored_comments(&app)[0].0.to_string();
        let home = || async { app.browser().get("/").await.body };

        let hidden = guestbook(&app, &["comments", "hide", &unkind]);
        let page_while_hidden = home().await;
        let hidden_list = guestbook(&app, &["comments", "--hidden"]);
        let hidden_again = guestbook(&app, &["comments", "hide", &unkind]);
        let shown = guestbook(&app, &["comments", "unhide", &unkind]);
        let page_when_shown = home().await;
        let shown_again = guestbook(&app, &["comments", "unhide", &unkind]);
        let deleted = guestbook(&app, &["comments", "delete", &unkind]);
        let page_after_delete = home().await;
        let list_after_delete = guestbook(&app, &["comments"]);
        let deleted_again = guestbook(&app, &["comments", "delete", &unkind]);
        let unknown = guestbook(&app, &["comments", "hide", "9999"]);

        assert!(hidden.ok, "{flavor:?}: {}", hidden.stderr);
        assert_eq!(hidden.stdout.trim(), format!("Comment {unkind} is hidden."));
        assert!(
            !page_while_hidden.contains("an unkind remark"),
            "{flavor:?}"
        );
        assert!(page_while_hidden.contains("a kind remark"));
        let hidden_lines = listed_lines(&hidden_list);
        assert_eq!(hidden_lines.len(), 1, "{}", hidden_list.stdout);
        assert_eq!(
            hidden_lines[0].split_whitespace().next(),
            Some(unkind.as_str())
        );
        assert!(hidden_lines[0].contains(" hidden "), "{}", hidden_lines[0]);
        assert!(hidden_again.ok);
        assert_eq!(
            hidden_again.stdout.trim(),
            format!("Comment {unkind} was already hidden.")
        );
        assert_eq!(
            shown.stdout.trim(),
            format!("Comment {unkind} is shown again.")
        );
        assert!(page_when_shown.contains("an unkind remark"), "{flavor:?}");
        assert_eq!(
            shown_again.stdout.trim(),
            format!("Comment {unkind} was not hidden.")
        );
        assert_eq!(
            deleted.stdout.trim(),
            format!("Comment {unkind} is deleted.")
        );
        assert!(
            !page_after_delete.contains("an unkind remark"),
            "{flavor:?}"
        );
        assert!(page_after_delete.contains("a kind remark"));
        let remaining = listed_lines(&list_after_delete);
        assert_eq!(remaining.len(), 1, "{}", list_after_delete.stdout);
        assert!(remaining[0].ends_with("a kind remark"));
        assert!(!deleted_again.ok);
        assert!(
            deleted_again
                .stderr
                .contains(&format!("No comment {unkind}.")),
            "{}",
            deleted_again.stderr
        );
        assert!(!unknown.ok);
        assert!(
            unknown.stderr.contains("No comment 9999."),
            "{}",
            unknown.stderr
        );
    }
}

#[actix_web::test]
async fn the_comments_command_takes_either_list_options_or_an_action() {
    let app = spawn_app().await;

    let both = guestbook(&app, &["comments", "--hidden", "hide", "1"]);
    let negative = guestbook(&app, &["comments", "delete", "-1"]);
    let not_a_number = guestbook(&app, &["comments", "delete", "one"]);

    for (ran, why) in [
        (both, "'hide' cannot be used with '--hidden'"),
        (negative, "unexpected argument '-1'"),
        (not_a_number, "invalid value 'one'"),
    ] {
        assert!(!ran.ok);
        assert!(ran.stdout.is_empty(), "{}", ran.stdout);
        assert!(ran.stderr.contains(why), "{}", ran.stderr);
    }
}
