"""Settings of the interop test site, read from the environment (see ../README.md).

Required: SECRET_KEY, DJANGO_DATABASE_URL. Optional: SECRET_KEY_FALLBACKS, SESSION_ENGINE,
SESSION_FILE_PATH, SESSION_COOKIE_AGE, PASSWORD_HASHERS, DJANGO_DEBUG, DJANGO_LOG_LEVEL.
A missing or malformed value stops the process with a message naming the variable.
"""

import os
import sys
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent


def _fail(message):
    sys.exit(f"django_site settings: {message}")


def _required(name):
    value = os.environ.get(name, "")
    if not value:
        _fail(f"{name} is not set (see tests/django_site/README.md)")
    return value


def _optional(name):
    """The variable's value, or None when it is unset or empty."""
    return os.environ.get(name) or None


def _comma_list(value):
    """'a, b,,c ' -> ['a', 'b', 'c']: entries trimmed, empty ones dropped."""
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _database(url):
    """One DATABASES entry from DJANGO_DATABASE_URL.

    sqlite://PATH, where PATH is what follows "sqlite://": sqlite:///abs/site.db and
    sqlite:////abs/site.db both name /abs/site.db; sqlite://rel/site.db is relative to the
    working directory. postgres://user[:password]@host[:port]/dbname (or postgresql://),
    percent-escapes decoded; query parameters (?sslmode=require) become connection options.
    """
    name = "DJANGO_DATABASE_URL"
    if url.startswith("sqlite://"):
        path = url[len("sqlite://"):]
        if not path or path == ":memory:":
            _fail(f"{name} must name a SQLite file, as in sqlite:////abs/path/site.db")
        if path.startswith("/"):
            path = "/" + path.lstrip("/")
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(Path(path).resolve()),
            "OPTIONS": {"timeout": 20},
        }
    parts = urlsplit(url)
    if parts.scheme in ("postgres", "postgresql"):
        dbname = unquote(parts.path.lstrip("/"))
        if not parts.hostname or not dbname:
            _fail(f"{name} must read postgres://user[:password]@host[:port]/dbname")
        try:
            port = parts.port
        except ValueError:
            _fail(f"{name} has a port that is not a number")
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": dbname,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname,
            "PORT": str(port or ""),
            "OPTIONS": dict(parse_qsl(parts.query)),
        }
    # Only the scheme is shown: the rest may hold a password.
    found = f"{parts.scheme}:" if parts.scheme else "no scheme"
    _fail(f"{name} must start with sqlite:// or postgres:// (or postgresql://), not {found}")


def _session_engine(value):
    """Django's dotted module path, or the short name the Rust site uses (db, file, ...)."""
    if not value:
        return "django.contrib.sessions.backends.db"
    if "." in value:
        return value
    return f"django.contrib.sessions.backends.{value}"


SECRET_KEY = _required("SECRET_KEY")
SECRET_KEY_FALLBACKS = _comma_list(os.environ.get("SECRET_KEY_FALLBACKS"))

DEBUG = os.environ.get("DJANGO_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

ROOT_URLCONF = "django_site.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": False,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ],
        },
    },
]

DATABASES = {"default": _database(_required("DJANGO_DATABASE_URL"))}

SESSION_ENGINE = _session_engine(_optional("SESSION_ENGINE"))
SESSION_SERIALIZER = "django.contrib.sessions.serializers.JSONSerializer"
if _optional("SESSION_FILE_PATH"):
    SESSION_FILE_PATH = os.environ["SESSION_FILE_PATH"]
if _optional("SESSION_COOKIE_AGE"):
    try:
        SESSION_COOKIE_AGE = int(os.environ["SESSION_COOKIE_AGE"])
    except ValueError:
        _fail("SESSION_COOKIE_AGE must be a whole number of seconds")

# Unset: Django's own default list (PBKDF2 first, then PBKDF2-SHA1, Argon2, BCrypt-SHA256, scrypt).
if _comma_list(os.environ.get("PASSWORD_HASHERS")):
    PASSWORD_HASHERS = _comma_list(os.environ["PASSWORD_HASHERS"])

# Test passwords are short: no validators.
AUTH_PASSWORD_VALIDATORS = []

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/whoami/"

USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = False

# Errors (and Django's warnings: 4xx responses, refused CSRF checks) go to stderr;
# runserver's own request lines are left as Django configures them.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
    },
    "loggers": {
        "django": {
            "handlers": ["stderr"],
            "level": os.environ.get("DJANGO_LOG_LEVEL", "WARNING"),
            "propagate": False,
        },
    },
}
