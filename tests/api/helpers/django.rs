//! A real Django 5.2 site beside the guestbook (`tests/django_site`, installed by `.ci/run` into
//! a virtual environment that `DJANGO_PYTHON` names), sharing its `SECRET_KEY`, its database
//! (or sessions folder) and, on one host, its cookies: one cookie jar visits both.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use actix_web::http::StatusCode;
use guestbook::settings::{DjangoSettings, SecretKey, SessionEngineKind, SessionSerializer};
use serde_json::Value;
use tempfile::TempDir;

use super::{Browser, Engine, Flavor, Page, TestApp, TestDatabase, random_string};

/// The Python of the virtual environment with the Django site's requirements, when
/// `DJANGO_PYTHON` names one; otherwise the test is skipped with a printed reason, except under
/// CI (`CI=true`), where that is a failure.
pub fn django_python(test: &str) -> Option<PathBuf> {
    if let Some(python) = std::env::var_os("DJANGO_PYTHON") {
        return Some(PathBuf::from(python));
    }
    super::skip(
        test,
        "set DJANGO_PYTHON to a Python with tests/django_site/requirements.txt installed \
         (.ci/run makes one: target/django-venv/bin/python)",
    );
    None
}

fn site_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/django_site")
}

/// How both sites are configured: Django's names on both sides.
#[derive(Clone)]
pub struct Shared {
    pub engine: SessionEngineKind,
    pub secret_key: String,
    pub fallbacks: Vec<String>,
    /// `PASSWORD_HASHERS` on both sides (Django's dotted paths); empty for Django's default.
    pub hashers: Vec<&'static str>,
}

impl Shared {
    pub fn new(engine: SessionEngineKind) -> Self {
        Self {
            engine,
            secret_key: format!("django-insecure-{}", random_string(40)),
            fallbacks: Vec::new(),
            hashers: Vec::new(),
        }
    }

    /// Argon2 first on both sides: what Django recommends, and cheap enough for a test to log
    /// in often (PBKDF2 is checked by the tests that ask for it).
    pub fn with_argon2(mut self) -> Self {
        self.hashers = vec![
            "django.contrib.auth.hashers.Argon2PasswordHasher",
            "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        ];
        self
    }

    fn django_env(&self, database_url: &str, sessions: &Path) -> Vec<(String, String)> {
        let engine = format!("django.contrib.sessions.backends.{}", self.engine.name());
        let mut env = vec![
            ("SECRET_KEY".into(), self.secret_key.clone()),
            ("SECRET_KEY_FALLBACKS".into(), self.fallbacks.join(",")),
            (
                "DJANGO_DATABASE_URL".into(),
                django_database_url(database_url),
            ),
            ("SESSION_ENGINE".into(), engine),
            ("SESSION_FILE_PATH".into(), sessions.display().to_string()),
            ("DJANGO_RUNSERVER_HIDE_WARNING".into(), "true".into()),
        ];
        if !self.hashers.is_empty() {
            env.push(("PASSWORD_HASHERS".into(), self.hashers.join(",")));
        }
        env
    }
}

/// The guestbook's `DATABASE_URL` as the Django site's settings read it.
fn django_database_url(url: &str) -> String {
    if url.starts_with("postgres") {
        url.to_owned()
    } else {
        format!("sqlite://{url}")
    }
}

/// `manage.py` with `args`, for the site configured by `env`.
fn manage(python: &Path, env: &[(String, String)], args: &[&str]) -> Output {
    let output = Command::new(python)
        .arg("manage.py")
        .args(args)
        .current_dir(site_dir())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("the Django site's Python runs");
    assert!(
        output.status.success(),
        "manage.py {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A `manage.py runserver` process, killed when dropped.
pub struct DjangoSite {
    child: Child,
    pub address: String,
    python: PathBuf,
    env: Vec<(String, String)>,
    log: PathBuf,
    _dir: TempDir,
}

impl Drop for DjangoSite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl DjangoSite {
    /// Serves the site (on a database Django's `migrate` made) on a free port, and waits until
    /// it answers.
    async fn start(python: &Path, env: Vec<(String, String)>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("django.log");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(python)
            .args([
                "manage.py",
                "runserver",
                &format!("127.0.0.1:{port}"),
                "--noreload",
            ])
            .current_dir(site_dir())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("the Django site's Python runs");
        let mut site = Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
            python: python.to_owned(),
            env,
            log,
            _dir: dir,
        };
        let client = awc::Client::default();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(res) = client.get(format!("{}/whoami/", site.address)).send().await
                && res.status() == StatusCode::OK
            {
                return site;
            }
            if let Ok(Some(status)) = site.child.try_wait() {
                panic!("Django exited ({status}):\n{}", site.logged());
            }
            assert!(
                Instant::now() < deadline,
                "Django did not come up:\n{}",
                site.logged()
            );
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `manage.py createsuperuser`, as an operator makes the first user.
    pub fn create_superuser(&self, username: &str, password: &str) {
        let mut env = self.env.clone();
        env.push(("DJANGO_SUPERUSER_PASSWORD".into(), password.into()));
        manage(
            &self.python,
            &env,
            &[
                "createsuperuser",
                "--noinput",
                "--username",
                username,
                "--email",
                "admin@example.com",
            ],
        );
    }

    /// What Django logged (its errors and refused requests).
    pub fn logged(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Both sites, sharing everything [`Shared`] says, and one browser visiting both. Fields drop
/// in order: Django stops before the guestbook's resources (the database) go.
pub struct Sites {
    pub browser: Browser,
    pub django: DjangoSite,
    pub guestbook: TestApp,
    pub shared: Shared,
}

impl Sites {
    /// A guestbook on `database` with `DJANGO_COMPAT`, and a Django site migrated onto the same
    /// database first (Django's migrations own Django's tables; the guestbook's, its own).
    pub async fn start(python: &Path, database: TestDatabase, shared: Shared) -> Self {
        let engine = match shared.engine {
            SessionEngineKind::Db => Engine::Db,
            SessionEngineKind::File => Engine::File,
            SessionEngineKind::SignedCookies => Engine::SignedCookies,
            other => panic!("{other:?} is not shared with Django"),
        };
        let flavor = Flavor {
            engine,
            serializer: SessionSerializer::Json,
            database,
        };
        let mut django_env = None;
        let guestbook = flavor
            .spawn_app_with(|settings| {
                let env = shared.django_env(&settings.database.url, &settings.session.file_path);
                // Django's tables first, as a Django site would have them.
                manage(python, &env, &["migrate", "-v0"]);
                django_env = Some(env);
                settings.session.django_compat = true;
                settings.session.user_key = "_auth_user_id".into();
                settings.security.secret_key =
                    Some(SecretKey::new(shared.secret_key.clone()).unwrap());
                settings.security.secret_key_fallbacks = shared
                    .fallbacks
                    .iter()
                    .map(|key| SecretKey::new(key.clone()).unwrap())
                    .collect();
                let password_hasher = shared
                    .hashers
                    .first()
                    .map_or_else(django_hashers::Hasher::django_default, |path| {
                        django_hashers::Hasher::from_django_path(path).unwrap()
                    });
                settings.django = Some(DjangoSettings { password_hasher });
            })
            .await;
        let django = DjangoSite::start(python, django_env.expect("set up above")).await;
        Self {
            browser: guestbook.browser(),
            django,
            guestbook,
            shared,
        }
    }

    /// The browser, on the guestbook.
    pub fn on_guestbook(&mut self) -> &mut Browser {
        self.browser.address.clone_from(&self.guestbook.address);
        &mut self.browser
    }

    /// The browser, on the Django site.
    pub fn on_django(&mut self) -> &mut Browser {
        self.browser.address.clone_from(&self.django.address);
        &mut self.browser
    }

    /// Who Django says this browser is, and its session (`/whoami/`).
    pub async fn django_whoami(&mut self) -> Value {
        let page = self.on_django().get("/whoami/").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        page.json()
    }

    /// The username Django says this browser is logged in as, if any.
    pub async fn django_user(&mut self) -> Option<String> {
        let state = self.django_whoami().await;
        state["user"]["is_authenticated"]
            .as_bool()
            .unwrap()
            .then(|| state["user"]["username"].as_str().unwrap().to_owned())
    }

    /// The username the guestbook's page says this browser is logged in as, if any.
    pub async fn guestbook_user(&mut self) -> Option<String> {
        let page = self.on_guestbook().get("/").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let marker = "Logged in as <strong>";
        let at = page.body.find(marker)? + marker.len();
        let name = &page.body[at..];
        Some(name[..name.find('<').unwrap()].to_owned())
    }

    /// Posts `fields` to `path` on the Django site with the token of Django's own form at
    /// that path.
    pub async fn django_post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let address = self.django.address.clone();
        self.django_post_on(&address, path, fields).await
    }

    /// Posts `fields` to `path` on the Django site at `address` with the token of its own
    /// form at that path.
    pub async fn django_post_on(
        &mut self,
        address: &str,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Page {
        self.browser.address = address.to_owned();
        let form = self.browser.get(path).await;
        let token = form
            .django_csrf_token()
            .unwrap_or_else(|| panic!("a CSRF token on {path}: {}", form.body));
        let mut fields = fields.to_vec();
        fields.push(("csrfmiddlewaretoken", &token));
        let body = super::encode(&fields);
        self.browser.post_raw(path, &body, &[]).await
    }

    /// The Django site as it was before `SECRET_KEY` was rotated: another server on the same
    /// database (and sessions folder) with `old_key` alone.
    pub async fn django_before_rotation(&self, old_key: &str) -> DjangoSite {
        let settings = &self.guestbook.state.settings;
        let old = Shared {
            secret_key: old_key.to_owned(),
            fallbacks: Vec::new(),
            ..self.shared.clone()
        };
        let env = old.django_env(&settings.database.url, &settings.session.file_path);
        DjangoSite::start(&self.django.python, env).await
    }

    /// Logs in on Django's own login page.
    pub async fn django_log_in(&mut self, username: &str, password: &str) -> Page {
        let fields = [("username", username), ("password", password)];
        self.django_post("/accounts/login/", &fields).await
    }

    /// Logs out on Django (a POST with the token Django's `/csrf/` gives).
    pub async fn django_log_out(&mut self) -> Page {
        let token = self.on_django().get("/csrf/").await.json()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let body = super::encode(&[("csrfmiddlewaretoken", &token)]);
        self.on_django()
            .post_raw("/accounts/logout/", &body, &[])
            .await
    }

    /// Changes the password on Django's own page.
    pub async fn django_change_password(&mut self, old: &str, new: &str) -> Page {
        let fields = [
            ("old_password", old),
            ("new_password1", new),
            ("new_password2", new),
        ];
        self.django_post("/accounts/password/", &fields).await
    }
}
