//! The deployment files, as far as they can be checked without a container engine: the image's
//! healthcheck script against the real app, the image's and compose.yaml's settings against the
//! real settings parser and binary, and compose.yaml through Docker Compose when it is
//! installed. Building the image is `.ci/run`'s job, where an engine answers.

use std::{
    collections::HashMap,
    net::TcpListener,
    path::PathBuf,
    process::{Command, Output},
};

use diesel::connection::SimpleConnection;
use guestbook::settings::{CacheBackend, SessionEngineKind, Settings};

use crate::helpers::{random_string, run_cli, run_cli_with_env, skip, spawn_app};

fn repo_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(name)
}

/// What follows `first`, then `second` after it, in `text`: a part of a file found by the
/// headings or keys before it.
fn after<'a>(text: &'a str, first: &str, second: &str) -> &'a str {
    let rest = text
        .split_once(first)
        .unwrap_or_else(|| panic!("{first:?}"))
        .1;
    rest.split_once(second)
        .unwrap_or_else(|| panic!("{second:?}"))
        .1
}

fn read_repo_file(name: &str) -> String {
    std::fs::read_to_string(repo_file(name)).unwrap_or_else(|err| panic!("{name}: {err}"))
}

/// Runs the image's HEALTHCHECK script with only `env` saying where the app listens.
fn healthcheck(env: &[(&str, String)]) -> Output {
    Command::new("bash")
        .arg(repo_file("deploy/healthcheck.sh"))
        .env_remove("BIND_ADDR")
        .env_remove("PORT")
        .envs(env.iter().cloned())
        .output()
        .expect("bash runs")
}

/// The same, off the async workers that serve the app under test.
async fn healthcheck_of(env: Vec<(&'static str, String)>) -> Output {
    actix_web::rt::task::spawn_blocking(move || healthcheck(&env))
        .await
        .unwrap()
}

#[actix_web::test]
async fn the_image_healthcheck_passes_only_while_the_instance_is_ready() {
    let app = spawn_app().await;
    let bind_addr = app.address.trim_start_matches("http://").to_owned();
    let port = bind_addr.rsplit(':').next().unwrap().to_owned();

    let ready = healthcheck_of(vec![("BIND_ADDR", bind_addr.clone())]).await;
    let on_every_address = healthcheck_of(vec![("BIND_ADDR", format!("0.0.0.0:{port}"))]).await;
    let by_port = healthcheck_of(vec![("PORT", port)]).await;
    app.db().batch_execute("DROP TABLE sessions").unwrap();
    let not_ready = healthcheck_of(vec![("BIND_ADDR", bind_addr)]).await;

    for (case, output) in [
        ("BIND_ADDR", &ready),
        ("BIND_ADDR on 0.0.0.0", &on_every_address),
        ("PORT", &by_port),
    ] {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{case}: {stderr}");
    }
    assert!(
        !not_ready.status.success(),
        "a 503 from /readyz fails the check"
    );
}

#[test]
fn the_image_healthcheck_fails_when_nothing_listens() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();

    let output = healthcheck(&[("BIND_ADDR", format!("127.0.0.1:{port}"))]);

    assert!(!output.status.success());
}

/// The variables the Dockerfile's `ENV` instructions set (`KEY=VALUE` pairs, unquoted).
fn dockerfile_env() -> HashMap<String, String> {
    let dockerfile = read_repo_file("Dockerfile").replace("\\\n", " ");
    dockerfile
        .lines()
        .filter_map(|line| line.strip_prefix("ENV "))
        .flat_map(str::split_whitespace)
        .map(|pair| {
            let (key, value) = pair.split_once('=').expect("ENV KEY=VALUE");
            (key.to_owned(), value.to_owned())
        })
        .collect()
}

#[test]
fn the_image_settings_serve_sqlite_from_the_volume_with_its_key_beside_it() {
    let env = dockerfile_env();
    assert_eq!(env["DATABASE_URL"], "/data/db.sqlite3");
    assert_eq!(env["BIND_ADDR"], "0.0.0.0:8000");
    // /data exists only in the image: the same settings, with the database in a folder here.
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("db.sqlite3").display().to_string();
    let mut vars: Vec<(&str, &str)> = env
        .iter()
        .filter(|(key, _)| *key != "DATABASE_URL")
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();
    vars.push(("DATABASE_URL", &database));

    let output = run_cli_with_env(&["migrate"], "", &vars);

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        dir.path().join("db.sqlite3.secret-key").exists(),
        "without SECRET_KEY the key is kept beside the database"
    );
}

/// The settings of compose.yaml's instances: the `environment` of its `x-guestbook` block,
/// each `${NAME:-default}` taken at its default and `${NAME:?message}` given `required`.
fn compose_instance_env(required: &str) -> HashMap<String, String> {
    let compose = read_repo_file("compose.yaml");
    after(&compose, "\nx-guestbook:", "\n  environment:\n")
        .lines()
        .take_while(|line| line.is_empty() || line.starts_with("    "))
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (key, value) = line.split_once(": ").expect("KEY: value");
            let value = value.trim_matches('"');
            let value = match value.split_once("${") {
                None => value.to_owned(),
                Some((before, rest)) => {
                    let (expression, after) = rest.split_once('}').expect("a closing brace");
                    let substituted = match expression.split_once(":-") {
                        Some((_, default)) => default,
                        None => required,
                    };
                    format!("{before}{substituted}{after}")
                }
            };
            (key.to_owned(), value)
        })
        .collect()
}

#[test]
fn the_compose_instances_share_sessions_through_postgresql_and_redis() {
    let env = compose_instance_env(&random_string(48));

    let settings = Settings::from_lookup(|name| env.get(name).cloned())
        .expect("compose.yaml's settings are valid");

    assert!(
        env["DATABASE_URL"].starts_with("postgres://"),
        "{}",
        env["DATABASE_URL"]
    );
    assert_eq!(settings.session.engine, SessionEngineKind::CachedDb);
    assert!(
        matches!(settings.session_cache.backend, CacheBackend::Redis { .. }),
        "the session cache is shared: {:?}",
        settings.session_cache.backend
    );
    assert!(
        settings.security.secret_key.is_some(),
        "one SECRET_KEY for every instance"
    );
    assert!(
        !settings.security.trusted_proxies.is_empty(),
        "the proxy's X-Forwarded-* are believed"
    );
}

/// `docker compose`, or the older `docker-compose`, when one is installed (neither needs an
/// engine to check a file).
fn compose_command() -> Option<Command> {
    let answers = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .is_ok_and(|output| output.status.success())
    };
    if answers("docker", &["compose", "version"]) {
        let mut command = Command::new("docker");
        command.arg("compose");
        Some(command)
    } else if answers("docker-compose", &["version"]) {
        Some(Command::new("docker-compose"))
    } else {
        None
    }
}

#[test]
fn compose_yaml_is_a_valid_compose_file_that_requires_a_secret_key() {
    let Some(mut compose) = compose_command() else {
        return skip(
            "compose_yaml_is_a_valid_compose_file_that_requires_a_secret_key",
            "install `docker compose` or `docker-compose` (no container engine needed)",
        );
    };
    let file = repo_file("compose.yaml");
    let check = |command: &mut Command, secret_key: Option<&str>| {
        command.args(["--file", file.to_str().unwrap(), "config", "--quiet"]);
        command.env_remove("SECRET_KEY");
        if let Some(key) = secret_key {
            command.env("SECRET_KEY", key);
        }
        command.output().expect("compose runs")
    };

    let with_key = check(&mut compose, Some(&random_string(48)));
    let without_key = check(&mut compose_command().unwrap(), None);

    let stderr = String::from_utf8_lossy(&with_key.stderr);
    assert!(with_key.status.success(), "{stderr}");
    assert!(!without_key.status.success(), "SECRET_KEY has no default");
    assert!(String::from_utf8_lossy(&without_key.stderr).contains("SECRET_KEY"));
}

/// `.env.example` is safe to copy to `.env`: every line is a comment, so the copy changes
/// nothing (a `BIND_ADDR` line once switched `PORT` off and kept containers on loopback), and
/// every setting docs/settings.md lists is there to uncomment.
#[test]
fn env_example_changes_nothing_when_copied_and_names_every_setting() {
    let example = read_repo_file(".env.example");
    let settings_doc = read_repo_file("docs/settings.md");

    let live: Vec<&str> = example
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .collect();
    let documented: Vec<&str> = settings_doc
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|cell| cell.split_once('`'))
        .map(|(name, _)| name)
        .filter(|name| {
            name.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .collect();
    let missing: Vec<&&str> = documented
        .iter()
        .filter(|name| !example.contains(&format!("# {name}=")))
        .collect();

    assert_eq!(live, Vec::<&str>::new(), "uncommented lines");
    assert!(documented.len() >= 40, "{documented:?}");
    assert_eq!(missing, Vec::<&&str>::new(), "settings .env.example lacks");
    // As `main` reads a `.env`: not one variable.
    let read = dotenvy::from_read_iter(example.as_bytes()).count();
    assert_eq!(read, 0);
}

/// The settings docs/deploying.md recommends ("Settings to change"), as name and value.
fn recommended_settings() -> Vec<(String, String)> {
    let doc = read_repo_file("docs/deploying.md");
    let block = after(&doc, "## Settings to change", "```sh\n");
    block
        .split_once("```")
        .expect("the block's end")
        .0
        .lines()
        .filter_map(|line| line.split('#').next().unwrap().trim().split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

#[actix_web::test]
async fn check_deploy_warns_on_a_laptop_configuration_and_is_quiet_on_the_recommended_one() {
    let app = spawn_app().await;
    let database = app.state.settings.database.url.clone();
    let mut recommended = recommended_settings();
    assert!(recommended.len() >= 10, "{recommended:?}");
    // What only a real deployment has: its database, its Redis and its secret.
    let secret = random_string(64);
    for (name, value) in &mut recommended {
        match name.as_str() {
            "DATABASE_URL" => value.clone_from(&database),
            "CACHE_URL" => *value = "memory://".into(),
            "SECRET_KEY" => value.clone_from(&secret),
            _ => {}
        }
    }
    let recommended: Vec<(&str, &str)> = recommended
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();

    let laptop = run_cli(&app, &["check", "--deploy"], "");
    let laptop_strict = run_cli(&app, &["check", "--deploy", "--fail-level", "warning"], "");
    let deployed = run_cli_with_env(
        &["check", "--deploy", "--fail-level", "warning"],
        "",
        &recommended,
    );

    let laptop_out = String::from_utf8_lossy(&laptop.stdout);
    assert!(
        laptop.status.success(),
        "warnings alone do not fail: {laptop:?}"
    );
    for id in [
        "security.W004",
        "security.W008",
        "security.W012",
        "security.W016",
    ] {
        assert!(
            laptop_out.contains(&format!("WARN  {id}: ")),
            "{id}: {laptop_out}"
        );
    }
    assert!(
        laptop_out.contains("4 deployment warning(s)"),
        "{laptop_out}"
    );
    assert!(!laptop_strict.status.success());
    let deployed_out = String::from_utf8_lossy(&deployed.stdout);
    assert!(deployed.status.success(), "{deployed:?}");
    assert!(!deployed_out.contains("WARN"), "{deployed_out}");
    assert!(
        deployed_out.contains("ok    deployment settings"),
        "{deployed_out}"
    );
}
