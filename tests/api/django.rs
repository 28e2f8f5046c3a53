//! Beside a running Django site (`DJANGO_COMPAT`): a real Django 5.2 (`tests/django_site`)
//! served by `manage.py runserver`, sharing the guestbook's `SECRET_KEY`, database and cookie
//! host, on SQLite and on PostgreSQL. One cookie jar visits both sites, as one browser would.

use actix_web::http::StatusCode;
use diesel::{QueryableByName, RunQueryDsl, connection::SimpleConnection, sql_types::Text};
use guestbook::settings::SessionEngineKind;

use crate::helpers::{
    Browser, PASSWORD, TestDatabase,
    django::{Shared, Sites, django_python},
    postgres_available,
};

const NEW_PASSWORD: &str = "a new horse battery staple";

/// SQLite always; PostgreSQL when its server is there (under CI it must be).
fn databases(test: &str) -> Vec<TestDatabase> {
    let mut databases = vec![TestDatabase::Sqlite];
    if postgres_available(test) {
        databases.push(TestDatabase::Postgres);
    }
    databases
}

#[derive(QueryableByName)]
struct Password {
    #[diesel(sql_type = Text)]
    password: String,
}

/// The hash `auth_user` holds for `username`.
fn stored_hash(sites: &Sites, username: &str) -> String {
    let mut conn = sites.guestbook.db();
    diesel::sql_query("SELECT password FROM auth_user WHERE username = $1")
        .bind::<Text, _>(username)
        .get_result::<Password>(&mut conn)
        .expect("the user's row")
        .password
}

/// Visits the sites with `to` (another device) from now on, returning the browser that was.
fn switch_browser(sites: &mut Sites, to: Browser) -> Browser {
    std::mem::replace(&mut sites.browser, to)
}

/// Visits the sites with a new device from now on, returning the browser that was.
fn new_device(sites: &mut Sites) -> Browser {
    let fresh = Browser::at(&sites.guestbook.address);
    switch_browser(sites, fresh)
}

#[actix_web::test]
async fn logins_comments_logouts_and_passwords_are_shared_with_django_on_the_db_engine() {
    let Some(python) = django_python("django_db_engine") else {
        return;
    };
    for database in databases("django_db_engine") {
        // Django's own defaults on both sides: PBKDF2 with 1,000,000 iterations.
        let mut sites = Sites::start(&python, database, Shared::new(SessionEngineKind::Db)).await;
        sites.django.create_superuser("ada", PASSWORD);
        assert!(stored_hash(&sites, "ada").starts_with("pbkdf2_sha256$1000000$"));

        // Logged in on Django: the guestbook's page says so, and the reverse.
        assert_eq!(sites.guestbook_user().await, None, "{database:?}");
        let logged_in = sites.django_log_in("ada", PASSWORD).await;
        assert_eq!(logged_in.status, StatusCode::FOUND, "{}", logged_in.body);
        assert_eq!(
            sites.guestbook_user().await.as_deref(),
            Some("ada"),
            "{database:?}"
        );
        let key = sites
            .browser
            .session_cookie()
            .expect("Django's session cookie");
        assert!(
            key.len() == 32
                && key
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
            "the cookie holds a Django session key: {key}"
        );

        // A comment here is in the session Django reads; a second one is refused.
        let posted = sites.on_guestbook().comment("Hello from both sites").await;
        assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.body);
        let state = sites.django_whoami().await;
        assert_eq!(state["session"]["has_commented"], true, "{state}");
        assert_eq!(state["session"]["_auth_user_id"], "1", "{state}");
        assert_eq!(
            state["session"]["_auth_user_backend"],
            "django.contrib.auth.backends.ModelBackend"
        );
        let second = sites.on_guestbook().comment("And again").await;
        assert_eq!(second.status, StatusCode::CONFLICT);

        // A logout on Django ends the session on both; a copy of the old cookie is logged out.
        let copy = sites.browser.session_cookie().unwrap();
        let logged_out = sites.django_log_out().await;
        assert_eq!(logged_out.status, StatusCode::FOUND, "{}", logged_out.body);
        assert_eq!(sites.guestbook_user().await, None);
        assert_eq!(sites.django_user().await, None);
        sites.browser.set_cookie("sessionid", &copy);
        assert_eq!(sites.guestbook_user().await, None, "the old cookie, here");
        assert_eq!(sites.django_user().await, None, "the old cookie, on Django");

        // Logged in here with the hash `createsuperuser` made: Django sees the login, and the
        // session key rotated as Django's `login()` rotates it.
        let before = sites.browser.session_cookie();
        let logged_in = sites.on_guestbook().log_in("ada", PASSWORD).await;
        assert_eq!(
            logged_in.status,
            StatusCode::SEE_OTHER,
            "{}",
            logged_in.body
        );
        assert_ne!(sites.browser.session_cookie(), before, "a new key at login");
        let state = sites.django_whoami().await;
        assert_eq!(state["user"]["username"], "ada", "{state}");
        assert_eq!(
            state["session"]["_session_expiry"], 0,
            "\"Remember me\" unticked, as Django's set_expiry(0) records it"
        );
        assert_eq!(sites.guestbook_user().await.as_deref(), Some("ada"));

        // A logout here ends it on both, the old cookie included.
        let copy = sites.browser.session_cookie().unwrap();
        sites.on_guestbook().post("/logout", &[]).await;
        assert_eq!(sites.django_user().await, None);
        assert_eq!(sites.guestbook_user().await, None);
        sites.browser.set_cookie("sessionid", &copy);
        assert_eq!(sites.django_user().await, None, "the old cookie, on Django");
        assert_eq!(sites.guestbook_user().await, None, "the old cookie, here");

        // A password changed on Django logs the guestbook session of another device out, on
        // both sites; the device that changed it stays logged in.
        sites.on_guestbook().log_in("ada", PASSWORD).await;
        assert_eq!(sites.guestbook_user().await.as_deref(), Some("ada"));
        let laptop = new_device(&mut sites);
        sites.django_log_in("ada", PASSWORD).await;
        let changed = sites.django_change_password(PASSWORD, NEW_PASSWORD).await;
        assert_eq!(changed.status, StatusCode::FOUND, "{}", changed.body);
        assert_eq!(
            sites.guestbook_user().await.as_deref(),
            Some("ada"),
            "the changer"
        );
        let phone = switch_browser(&mut sites, laptop);
        assert_eq!(sites.guestbook_user().await, None, "the other device, here");
        assert_eq!(
            sites.django_user().await,
            None,
            "the other device, on Django"
        );

        // And the other way round: changed here, Django logs the other device out.
        sites.on_guestbook().log_in("ada", NEW_PASSWORD).await;
        let laptop = switch_browser(&mut sites, phone);
        assert_eq!(sites.django_user().await.as_deref(), Some("ada"));
        let phone = switch_browser(&mut sites, laptop);
        let changed = sites
            .on_guestbook()
            .post(
                "/account/password",
                &[
                    ("current_password", NEW_PASSWORD),
                    ("new_password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
        assert_eq!(
            sites.django_user().await.as_deref(),
            Some("ada"),
            "the changer"
        );
        assert!(
            stored_hash(&sites, "ada").starts_with("pbkdf2_sha256$1000000$"),
            "written as Django writes it"
        );
        switch_browser(&mut sites, phone);
        assert_eq!(
            sites.django_user().await,
            None,
            "the other device, on Django"
        );
        assert_eq!(sites.guestbook_user().await, None, "the other device, here");

        // A member who signs up here logs in on Django.
        new_device(&mut sites);
        let signed_up = sites.on_guestbook().sign_up("bea", PASSWORD).await;
        assert_eq!(
            signed_up.status,
            StatusCode::SEE_OTHER,
            "{}",
            signed_up.body
        );
        new_device(&mut sites);
        let logged_in = sites.django_log_in("bea", PASSWORD).await;
        assert_eq!(logged_in.status, StatusCode::FOUND, "{}", logged_in.body);
        assert_eq!(sites.django_user().await.as_deref(), Some("bea"));
        assert_eq!(sites.guestbook_user().await.as_deref(), Some("bea"));

        // Django's data tampered with is a fresh anonymous session here, never an error.
        sites
            .guestbook
            .db()
            .batch_execute("UPDATE django_session SET session_data = 'x' || session_data")
            .unwrap();
        assert_eq!(sites.guestbook_user().await, None, "tampered data");
        sites.browser.set_cookie("sessionid", "../../etc/passwd");
        assert_eq!(
            sites.guestbook_user().await,
            None,
            "a key Django never made"
        );
        assert!(
            !sites.django.logged().contains("Traceback"),
            "{}",
            sites.django.logged()
        );
    }
}

#[actix_web::test]
async fn signed_cookie_sessions_are_shared_with_django() {
    let Some(python) = django_python("django_signed_cookies") else {
        return;
    };
    for database in databases("django_signed_cookies") {
        let shared = Shared::new(SessionEngineKind::SignedCookies).with_argon2();
        let mut sites = Sites::start(&python, database, shared).await;
        sites.django.create_superuser("ada", PASSWORD);
        assert!(stored_hash(&sites, "ada").starts_with("argon2$argon2id$v=19$m=102400,t=2,p=8$"));

        let logged_in = sites.django_log_in("ada", PASSWORD).await;
        assert_eq!(logged_in.status, StatusCode::FOUND, "{}", logged_in.body);
        assert_eq!(
            sites.guestbook_user().await.as_deref(),
            Some("ada"),
            "{database:?}"
        );
        assert_eq!(
            sites.guestbook.count("django_session"),
            0,
            "nothing on the server"
        );

        let posted = sites.on_guestbook().comment("Signed, sealed").await;
        assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.body);
        let state = sites.django_whoami().await;
        assert_eq!(state["session"]["has_commented"], true, "{state}");
        assert_eq!(
            sites.on_guestbook().comment("Twice").await.status,
            StatusCode::CONFLICT
        );

        // Logouts on either side. (A copy of an old signed cookie stays valid until it
        // expires, on both sites alike: nothing on the server could be deleted. A password
        // change is what ends those, below.)
        sites.django_log_out().await;
        assert_eq!(sites.guestbook_user().await, None);
        sites.on_guestbook().log_in("ada", PASSWORD).await;
        assert_eq!(sites.django_user().await.as_deref(), Some("ada"));
        let copy = sites.browser.session_cookie().unwrap();
        sites.on_guestbook().post("/logout", &[]).await;
        assert_eq!(sites.django_user().await, None);

        // A password change on Django ends that copy on both sites.
        let laptop = new_device(&mut sites);
        sites.django_log_in("ada", PASSWORD).await;
        sites.django_change_password(PASSWORD, NEW_PASSWORD).await;
        switch_browser(&mut sites, laptop);
        sites.browser.set_cookie("sessionid", &copy);
        assert_eq!(sites.guestbook_user().await, None, "the old cookie, here");
        assert_eq!(sites.django_user().await, None, "the old cookie, on Django");

        // A tampered cookie is a fresh anonymous session.
        sites.on_guestbook().log_in("ada", NEW_PASSWORD).await;
        let cookie = sites.browser.session_cookie().unwrap();
        let (value, signature) = cookie.rsplit_once(':').unwrap();
        let forged = format!("{value}:{}", signature.chars().rev().collect::<String>());
        sites.browser.set_cookie("sessionid", &forged);
        assert_eq!(sites.guestbook_user().await, None, "a forged signature");
        assert_eq!(sites.django_user().await, None);
    }
}

#[actix_web::test]
async fn file_sessions_are_shared_with_django() {
    let Some(python) = django_python("django_file_sessions") else {
        return;
    };
    let shared = Shared {
        hashers: vec!["django.contrib.auth.hashers.BCryptSHA256PasswordHasher"],
        ..Shared::new(SessionEngineKind::File)
    };
    let mut sites = Sites::start(&python, TestDatabase::Sqlite, shared).await;
    let signed_up = sites.on_guestbook().sign_up("cyd", PASSWORD).await;
    assert_eq!(
        signed_up.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_up.body
    );
    assert!(stored_hash(&sites, "cyd").starts_with("bcrypt_sha256$$2b$12$"));

    assert_eq!(sites.django_user().await.as_deref(), Some("cyd"));
    let key = sites.browser.session_cookie().unwrap();
    let file = sites
        .guestbook
        .state
        .settings
        .session
        .file_path
        .join(format!("sessionid{key}"));
    assert!(file.exists(), "Django's file name: {}", file.display());

    sites.django_log_out().await;
    assert_eq!(sites.guestbook_user().await, None);
    assert!(!file.exists(), "Django's logout deleted the file");
    sites.django_log_in("cyd", PASSWORD).await;
    assert_eq!(sites.guestbook_user().await.as_deref(), Some("cyd"));
}

#[actix_web::test]
async fn rotating_the_secret_key_logs_nobody_out_on_either_site() {
    let Some(python) = django_python("django_key_rotation") else {
        return;
    };
    for engine in [SessionEngineKind::Db, SessionEngineKind::SignedCookies] {
        let old_key = format!("django-insecure-old-{}", crate::helpers::random_string(40));
        let shared = Shared {
            fallbacks: vec![old_key.clone()],
            ..Shared::new(engine).with_argon2()
        };
        let mut sites = Sites::start(&python, TestDatabase::Sqlite, shared).await;
        sites.django.create_superuser("ada", PASSWORD);
        // Logged in on the Django site as it was before the rotation (the old key alone).
        let before = sites.django_before_rotation(&old_key).await;
        let browser_address = before.address.clone();
        sites.browser.address = browser_address;
        let logged_in = sites
            .django_post_on(
                &before.address,
                "/accounts/login/",
                &[("username", "ada"), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(logged_in.status, StatusCode::FOUND, "{}", logged_in.body);

        assert_eq!(
            sites.guestbook_user().await.as_deref(),
            Some("ada"),
            "{engine:?}"
        );
        assert_eq!(
            sites.django_user().await.as_deref(),
            Some("ada"),
            "{engine:?}"
        );
        // Re-signed with the new key on the way (both sites restamp the auth hash).
        sites.on_guestbook().comment("After the rotation").await;
        drop(before);
        assert_eq!(
            sites.django_user().await.as_deref(),
            Some("ada"),
            "{engine:?}"
        );
    }
}

#[actix_web::test]
async fn csrf_tokens_from_either_site_pass_on_the_other() {
    let Some(python) = django_python("django_csrf") else {
        return;
    };
    let mut sites = Sites::start(
        &python,
        TestDatabase::Sqlite,
        Shared::new(SessionEngineKind::Db),
    )
    .await;
    // Django sets the cookie; its token, in Django's field, posts a comment here.
    let token = sites.on_django().get("/csrf/").await.json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(sites.browser.cookie("csrftoken").map(|c| c.len()), Some(32));
    let body = crate::helpers::encode(&[
        ("comment", "Posted with Django's token"),
        ("csrfmiddlewaretoken", &token),
    ]);
    let posted = sites.on_guestbook().post_raw("/comments", &body, &[]).await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.body);

    // The guestbook's form token passes Django's middleware, in the form and in X-CSRFToken.
    let page = sites.on_guestbook().get("/").await;
    let token = page
        .csrf_token()
        .or_else(|| page.meta_csrf_token())
        .expect("the guestbook's token");
    assert_eq!(token.len(), 64, "Django's masked format");
    let body = crate::helpers::encode(&[("csrfmiddlewaretoken", &token)]);
    let checked = sites.on_django().post_raw("/csrf/check/", &body, &[]).await;
    assert_eq!(checked.status, StatusCode::OK, "{}", checked.body);
    let checked = sites
        .on_django()
        .post_raw("/csrf/check/", "", &[("X-CSRFToken", &token)])
        .await;
    assert_eq!(checked.status, StatusCode::OK, "{}", checked.body);

    // And a token the cookie does not hold is refused by both.
    let forged = "a".repeat(64);
    let body = crate::helpers::encode(&[("csrfmiddlewaretoken", forged.as_str())]);
    let refused = sites.on_django().post_raw("/csrf/check/", &body, &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let refused = sites
        .on_guestbook()
        .post_raw("/logout", "", &[("X-CSRFToken", &forged)])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

/// The environment that points `guestbook` commands at the sites' database, as Django's.
fn cli_env(sites: &Sites) -> Vec<(&'static str, String)> {
    let settings = &sites.guestbook.state.settings;
    vec![
        ("DJANGO_COMPAT", "true".into()),
        ("SECRET_KEY", sites.shared.secret_key.clone()),
        ("DATABASE_URL", settings.database.url.clone()),
        ("SESSION_ENGINE", sites.shared.engine.name().into()),
        ("PASSWORD_HASHERS", sites.shared.hashers.join(",")),
    ]
}

fn run(sites: &Sites, args: &[&str], stdin: &str) -> std::process::Output {
    let env = cli_env(sites);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    crate::helpers::run_cli_with_env(args, stdin, &env)
}

#[actix_web::test]
async fn djangos_users_are_the_members_here_with_their_rules() {
    let Some(python) = django_python("django_users") else {
        return;
    };
    for database in databases("django_users") {
        let shared = Shared::new(SessionEngineKind::Db).with_argon2();
        let mut sites = Sites::start(&python, database, shared).await;

        // `guestbook check` finds Django's tables.
        let checked = run(&sites, &["check"], "");
        let report = String::from_utf8_lossy(&checked.stdout);
        assert!(
            checked.status.success(),
            "{report}{}",
            String::from_utf8_lossy(&checked.stderr)
        );
        assert!(
            report.contains("ok    Django's tables (DJANGO_COMPAT): found auth_user"),
            "{report}"
        );

        // A superuser with a name Django allows and the sign-up form would not: staff here.
        let name = "dee.e@example.com";
        sites.django.create_superuser(name, PASSWORD);
        let logged_in = sites.on_guestbook().log_in(name, PASSWORD).await;
        assert_eq!(
            logged_in.status,
            StatusCode::SEE_OTHER,
            "{}",
            logged_in.body
        );
        assert_eq!(sites.guestbook_user().await.as_deref(), Some(name));
        sites
            .on_guestbook()
            .comment("Moderated by Django's staff")
            .await;
        let page = sites.on_guestbook().get("/").await;
        assert!(page.body.contains("/hide\""), "staff see the Hide button");

        // Made inactive on Django: logged out here at the next request, and refused.
        sites
            .guestbook
            .db()
            .batch_execute("UPDATE auth_user SET is_active = FALSE")
            .unwrap();
        assert_eq!(sites.guestbook_user().await, None, "{database:?}");
        let refused = sites.on_guestbook().log_in(name, PASSWORD).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);

        // Made on the command line here: a staff user Django logs in.
        let made = run(
            &sites,
            &["createmember", "eve", "--staff", "--password-stdin"],
            PASSWORD,
        );
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        assert!(stored_hash(&sites, "eve").starts_with("argon2$argon2id$"));
        new_device(&mut sites);
        sites.django_log_in("eve", PASSWORD).await;
        let state = sites.django_whoami().await;
        assert_eq!(state["user"]["username"], "eve", "{state}");
        assert_eq!(state["user"]["is_staff"], true, "{state}");
        let unstaffed = run(&sites, &["setstaff", "eve", "--off"], "");
        assert!(
            unstaffed.status.success(),
            "{}",
            String::from_utf8_lossy(&unstaffed.stderr)
        );
        assert_eq!(sites.django_whoami().await["user"]["is_staff"], false);

        // A hash made with another hasher is rewritten at login in the preferred one (Django's
        // `must_update`), and Django still verifies it.
        let pbkdf2 = django_hashers::Hasher::Pbkdf2Sha256 { iterations: 1_000 }
            .encode(PASSWORD)
            .unwrap();
        diesel::sql_query("UPDATE auth_user SET password = $1 WHERE username = 'eve'")
            .bind::<Text, _>(&pbkdf2)
            .execute(&mut sites.guestbook.db())
            .unwrap();
        new_device(&mut sites);
        let logged_in = sites.on_guestbook().log_in("eve", PASSWORD).await;
        assert_eq!(
            logged_in.status,
            StatusCode::SEE_OTHER,
            "{}",
            logged_in.body
        );
        assert!(
            stored_hash(&sites, "eve").starts_with("argon2$argon2id$"),
            "upgraded"
        );
        assert_eq!(
            sites.django_user().await.as_deref(),
            Some("eve"),
            "Django verifies it"
        );

        // "Log out everywhere else" ends what this site wrote, and says what it cannot end: a
        // session logged in only on Django stays until the password changes.
        let here = new_device(&mut sites);
        sites.django_log_in("eve", PASSWORD).await;
        let on_django = switch_browser(&mut sites, here);
        let ended = sites
            .on_guestbook()
            .post("/account/sessions/end-others", &[])
            .await;
        assert_eq!(ended.status, StatusCode::SEE_OTHER, "{}", ended.body);
        let page = sites.on_guestbook().get("/account/sessions").await;
        assert!(
            page.body.contains("Sessions started on the Django site"),
            "{}",
            page.body
        );
        let revoked = run(&sites, &["sessions", "eve", "--revoke-all"], "");
        assert!(
            !revoked.status.success(),
            "not every session could be ended"
        );
        assert!(
            String::from_utf8_lossy(&revoked.stderr).contains("guestbook changepassword eve"),
            "{}",
            String::from_utf8_lossy(&revoked.stderr)
        );
        let here = switch_browser(&mut sites, on_django);
        assert_eq!(
            sites.django_user().await.as_deref(),
            Some("eve"),
            "as the page said"
        );
        switch_browser(&mut sites, here);
        assert_eq!(
            sites.guestbook_user().await,
            None,
            "--revoke-all ended this one"
        );
        sites.on_guestbook().log_in("eve", PASSWORD).await;

        // Deleting the account here deletes Django's user: Django logs them out too.
        let deleted = sites
            .on_guestbook()
            .post("/account/delete", &[("current_password", PASSWORD)])
            .await;
        assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{}", deleted.body);
        assert_eq!(sites.django_user().await, None);
        assert_eq!(sites.guestbook.count("auth_user"), 1, "only dee is left");
        let refused = sites.django_log_in("eve", PASSWORD).await;
        assert_eq!(
            refused.status,
            StatusCode::OK,
            "the form again, with an error"
        );
    }
}

#[actix_web::test]
async fn a_database_django_never_migrated_is_named_by_check_and_refused_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("db.sqlite3").display().to_string();
    let env = [
        ("DJANGO_COMPAT", "true"),
        (
            "SECRET_KEY",
            "a Django site's secret key, long enough to use",
        ),
        ("DATABASE_URL", database.as_str()),
    ];
    crate::helpers::run_cli_with_env(&["migrate"], "", &env);

    let checked = crate::helpers::run_cli_with_env(&["check"], "", &env);
    let report = String::from_utf8_lossy(&checked.stdout);

    assert!(!checked.status.success());
    assert!(
        report.contains(
            "FAIL  Django's tables (DJANGO_COMPAT): the database has no auth_user, \
             auth_user_groups, auth_user_user_permissions, django_session (run the Django \
             site's manage.py migrate on it first"
        ),
        "{report}"
    );
    let served = crate::helpers::run_cli_with_env(&["serve", "--bind", "127.0.0.1:0"], "", &env);
    let stderr = String::from_utf8_lossy(&served.stderr);
    assert!(!served.status.success());
    assert!(
        stderr.contains("run the Django site's manage.py migrate on it first"),
        "{stderr}"
    );
}

/// Two devices change a Django user's password at once: exactly one change applies (the
/// `UPDATE` is conditional on the hash both read), and both sites go by the winner's.
#[actix_web::test]
async fn two_password_changes_at_once_apply_exactly_one_on_both_sites() {
    let Some(python) = django_python("django_password_race") else {
        return;
    };
    for database in databases("django_password_race") {
        let shared = Shared::new(SessionEngineKind::Db).with_argon2();
        let mut sites = Sites::start(&python, database, shared).await;
        sites.django.create_superuser("ada", PASSWORD);
        let mut devices = Vec::new();
        for _ in 0..2 {
            sites.on_guestbook().log_in("ada", PASSWORD).await;
            sites.on_guestbook().csrf().await;
            devices.push(new_device(&mut sites));
        }
        let [laptop, phone] = &mut devices[..] else {
            unreachable!()
        };
        let change = |new: &'static str| [("current_password", PASSWORD), ("new_password", new)];

        let (to_laptops, to_phones) = (
            change("laptop's new password"),
            change("phone's new password"),
        );

        // Both held after checking the current password, before their conditional write.
        let (a, b) = sites
            .guestbook
            .at_the_credential_write(
                laptop.post("/account/password", &to_laptops),
                phone.post("/account/password", &to_phones),
            )
            .await;

        let winners: Vec<&str> = [(&a, "laptop's new password"), (&b, "phone's new password")]
            .into_iter()
            .filter(|(page, _)| page.status == StatusCode::SEE_OTHER)
            .map(|(_, password)| password)
            .collect();
        assert_eq!(
            winners.len(),
            1,
            "{database:?}: {} / {}",
            a.status,
            b.status
        );
        let loser = if a.status == StatusCode::SEE_OTHER {
            &b
        } else {
            &a
        };
        assert_eq!(loser.status, StatusCode::CONFLICT, "{database:?}");
        // What makes it structural, pinned whatever order the two ran in: a change made
        // against a hash that is no longer stored writes nothing.
        let stored = stored_hash(&sites, "ada");
        let stale = guestbook::db::django_users::set_password(
            &mut sites.guestbook.db(),
            1,
            "pbkdf2_sha256$1$read$before",
            "argon2$written$after",
        );
        assert!(!stale.unwrap(), "a stale expectation applies nothing");
        assert_eq!(stored_hash(&sites, "ada"), stored);
        let logged_in = sites.django_log_in("ada", winners[0]).await;
        assert_eq!(
            logged_in.status,
            StatusCode::FOUND,
            "Django takes the winner's"
        );
        assert_eq!(sites.guestbook_user().await.as_deref(), Some("ada"));
    }
}

#[actix_web::test]
async fn a_guestbook_with_members_of_its_own_is_not_shared_with_django() {
    let Some(python) = django_python("django_own_members") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("db.sqlite3").display().to_string();
    let key = "a Django site's secret key, long enough to use";
    // A guestbook that had members of its own, then Django's tables beside them.
    let own = [("SECRET_KEY", key), ("DATABASE_URL", database.as_str())];
    let made = crate::helpers::run_cli_with_env(
        &["createmember", "olga", "--password-stdin"],
        PASSWORD,
        &own,
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let migrated = std::process::Command::new(&python)
        .args(["manage.py", "migrate", "-v0"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/django_site"))
        .env("SECRET_KEY", key)
        .env("DJANGO_DATABASE_URL", format!("sqlite://{database}"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .status()
        .unwrap();
    assert!(migrated.success());

    let shared = [
        ("DJANGO_COMPAT", "true"),
        ("SECRET_KEY", key),
        ("DATABASE_URL", database.as_str()),
    ];
    let checked = crate::helpers::run_cli_with_env(&["check"], "", &shared);
    let report = String::from_utf8_lossy(&checked.stdout);

    assert!(!checked.status.success());
    assert!(
        report.contains("the database holds 1 member(s) of this site's own"),
        "{report}"
    );
}
