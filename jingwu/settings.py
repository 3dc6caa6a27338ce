"""jingwu settings: one module, every knob read from the environment."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BASE_DIR.parent
VAR_DIR = Path(os.environ.get("JINGWU_VAR_DIR", PROJECT_DIR / "var")).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once into the var folder."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = _env_bool("JINGWU_DEBUG", False)
ALLOWED_HOSTS = [h for h in os.environ.get("JINGWU_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]
# Behind TLS in production; the demo serves plain HTTP on loopback.
JINGWU_HTTPS = _env_bool("JINGWU_HTTPS", False)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "huey.contrib.djhuey",
    "ninja",  # serves the API docs page from its own static files (no CDN)
    "jingwu.core",
    "jingwu.records",
    "jingwu.cases",
    "jingwu.antifraud",
    "jingwu.search",
    "jingwu.synthetic",
    "jingwu.dispatch",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "jingwu.core.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "jingwu.core.middleware.CookieLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "jingwu.urls"
WSGI_APPLICATION = "jingwu.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "jingwu.core.context_processors.portal",
            ],
        },
    },
]

# --- database -------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'jingwu.sqlite3'}"
# Connections are kept between requests (opening one costs a served request's worth of CPU:
# SQLite's functions and pragmas, PostgreSQL's authentication), checked before reuse.
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=int(os.environ.get("JINGWU_DB_CONN_MAX_AGE", "600")),
                            conn_health_checks=True)
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["ENGINE"] = "jingwu.core.db_sqlite3"  # writers queue on a lock file, not in SQLite's sleeps
    _db["OPTIONS"] = {
        # WAL lets readers work while the one writer writes; IMMEDIATE avoids
        # upgrade deadlocks between two writers.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;",
        "transaction_mode": "IMMEDIATE",
    }
    # Tests get a file database, not Django's shared-cache memory one: background threads
    # (the stop-payment sender) need connections of their own, and a shared-cache memory
    # database refuses a second writer ("database table is locked") instead of waiting.
    # On tmpfs where there is one, so it costs what memory costs.
    _shm = "/dev/shm"  # noqa: S108  (test databases only, named by process)
    _test_dir = Path(_shm) if os.access(_shm, os.W_OK) else VAR_DIR
    _db["TEST"] = {"NAME": str(_test_dir / f"jingwu-test-{os.getpid()}.sqlite3")}
else:
    _db["ENGINE"] = "django.db.backends.postgresql"
    # Parameters sent apart from the statement (and statements run often prepared) instead of
    # quoted into it in Python: a call through the intake API costs its worker 6.8 ms of CPU
    # instead of 8.4 (bench/dispatch.py). Opt-in until the whole suite has run with it on
    # PostgreSQL: Django warns that a few query shapes (parameters in GROUP BY) fail with it.
    if os.environ.get("JINGWU_DB_SERVER_SIDE_BINDING", "0") == "1":
        _db["OPTIONS"] = {"server_side_binding": True}
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- auth -----------------------------------------------------------------
AUTH_USER_MODEL = "core.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
if _env_bool("JINGWU_FAST_HASHER", False):
    # Tests only: argon2 by design costs tens of milliseconds per hash.
    PASSWORD_HASHERS.insert(0, "django.contrib.auth.hashers.MD5PasswordHasher")
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "core:login"
LOGIN_REDIRECT_URL = "core:home"
# Lockout: this many consecutive failures lock the account for the given minutes.
JINGWU_LOGIN_MAX_FAILURES = int(os.environ.get("JINGWU_LOGIN_MAX_FAILURES", "5"))
JINGWU_LOGIN_LOCK_MINUTES = int(os.environ.get("JINGWU_LOGIN_LOCK_MINUTES", "15"))
# Roles whose holders must pass a TOTP second factor.
JINGWU_2FA_ROLES = [r for r in os.environ.get("JINGWU_2FA_ROLES", "administrator").split(",") if r]
# How long a stated purpose of access stays current.
JINGWU_PURPOSE_HOURS = int(os.environ.get("JINGWU_PURPOSE_HOURS", "8"))
OTP_TOTP_ISSUER = "jingwu"
# Record linkage: match probability at which records are linked outright, and the
# lower edge of the band that goes to the analysts' review queue.
JINGWU_LINK_ACCEPT = float(os.environ.get("JINGWU_LINK_ACCEPT", "0.95"))
JINGWU_LINK_REVIEW_LOW = float(os.environ.get("JINGWU_LINK_REVIEW_LOW", "0.5"))
# A running import that wrote nothing for this long is marked interrupted (a batch whose
# process is gone is marked at once); importing the same file again resumes it.
JINGWU_IMPORT_STALE_MINUTES = int(os.environ.get("JINGWU_IMPORT_STALE_MINUTES", "10"))

# 110 command and dispatch. Answer within 15 s for 90% of calls (NENA-STA-020.1); answer to
# dispatch within 60 s for 90% (NFPA 1225); dispatch to arrival per area (county or city
# division code, "default" for the rest), in seconds.
JINGWU_DISPATCH_ANSWER_SECONDS = float(os.environ.get("JINGWU_DISPATCH_ANSWER_SECONDS", "15"))
JINGWU_DISPATCH_ANSWER_SHARE = float(os.environ.get("JINGWU_DISPATCH_ANSWER_SHARE", "0.90"))
JINGWU_DISPATCH_PROCESSING_SECONDS = float(os.environ.get("JINGWU_DISPATCH_PROCESSING_SECONDS", "60"))
JINGWU_DISPATCH_PROCESSING_SHARE = float(os.environ.get("JINGWU_DISPATCH_PROCESSING_SHARE", "0.90"))
JINGWU_DISPATCH_ARRIVAL_SECONDS = os.environ.get("JINGWU_DISPATCH_ARRIVAL_SECONDS", "default=900")
JINGWU_DISPATCH_ARRIVAL_SHARE = float(os.environ.get("JINGWU_DISPATCH_ARRIVAL_SHARE", "0.90"))
# Road distance = straight-line distance × this factor; estimated arrival at this speed.
JINGWU_DISPATCH_ROAD_FACTOR = float(os.environ.get("JINGWU_DISPATCH_ROAD_FACTOR", "1.4"))
JINGWU_DISPATCH_SPEED_KMH = float(os.environ.get("JINGWU_DISPATCH_SPEED_KMH", "30"))
# Units of the incident's own grid and station come first when they can arrive within this time.
JINGWU_DISPATCH_LOCAL_FIRST_SECONDS = float(os.environ.get("JINGWU_DISPATCH_LOCAL_FIRST_SECONDS", "900"))
# A call within this many minutes and metres of an open incident of a compatible category joins it.
JINGWU_DISPATCH_REPEAT_MINUTES = int(os.environ.get("JINGWU_DISPATCH_REPEAT_MINUTES", "30"))
JINGWU_DISPATCH_REPEAT_METRES = float(os.environ.get("JINGWU_DISPATCH_REPEAT_METRES", "300"))
# How long one process keeps the grid polygons before reading them again.
JINGWU_DISPATCH_GRID_CACHE_SECONDS = float(os.environ.get("JINGWU_DISPATCH_GRID_CACHE_SECONDS", "300"))

# Cases: deadline policy overrides (JSON, see jingwu/cases/deadlines.py), the days a reporter
# has to ask for reconsideration, the legal-review turnaround, the fine ceiling, the supervision
# thresholds (days without investigative activity; hours an incident may wait for an outcome),
# and the public lookup's limits (attempts per client address and per case number per window).
JINGWU_CASE_DEADLINES = json.loads(os.environ.get("JINGWU_CASE_DEADLINES", "{}"))
JINGWU_CASE_RECONSIDERATION_DAYS = int(os.environ.get("JINGWU_CASE_RECONSIDERATION_DAYS", "7"))
JINGWU_CASE_LEGAL_REVIEW_HOURS = int(os.environ.get("JINGWU_CASE_LEGAL_REVIEW_HOURS", "72"))
JINGWU_CASE_MAX_FINE = int(os.environ.get("JINGWU_CASE_MAX_FINE", "5000"))
JINGWU_CASE_IDLE_DAYS = int(os.environ.get("JINGWU_CASE_IDLE_DAYS", "30"))
JINGWU_CASE_INCIDENT_GRACE_HOURS = int(os.environ.get("JINGWU_CASE_INCIDENT_GRACE_HOURS", "72"))
JINGWU_LOOKUP_WINDOW_SECONDS = int(os.environ.get("JINGWU_LOOKUP_WINDOW_SECONDS", "3600"))
JINGWU_LOOKUP_PER_CLIENT = int(os.environ.get("JINGWU_LOOKUP_PER_CLIENT", "30"))
JINGWU_LOOKUP_PER_CASE = int(os.environ.get("JINGWU_LOOKUP_PER_CASE", "10"))

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 8 * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_SECURE = JINGWU_HTTPS
CSRF_COOKIE_SECURE = JINGWU_HTTPS
CSRF_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# A partner batch of 10,000 records with escaped Chinese text runs to tens of MB.
DATA_UPLOAD_MAX_MEMORY_SIZE = 32 * 1024 * 1024
if JINGWU_HTTPS:
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    },
}

# --- i18n -----------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("简体中文")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "Asia/Shanghai"
USE_TZ = True

# --- static ---------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = True

# --- components -----------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
NATS_URL = os.environ.get("NATS_URL", "")
# The search index folder (jingwu.search); one writer at a time, guarded by a lock file in it.
JINGWU_SEARCH_DIR = Path(os.environ.get("JINGWU_SEARCH_DIR", VAR_DIR / "search")).resolve()
# Anti-fraud signal stream: partitions (by citizen), redelivery wait, duplicate window.
NATS_PARTITIONS = int(os.environ.get("NATS_PARTITIONS", "8"))
NATS_ACK_WAIT_SECONDS = float(os.environ.get("NATS_ACK_WAIT_SECONDS", "30"))
NATS_DUPLICATE_WINDOW_SECONDS = float(os.environ.get("NATS_DUPLICATE_WINDOW_SECONDS", "600"))
# Signals older than this leave the stream; an API push waits this long to connect before a 503.
NATS_MAX_AGE_HOURS = float(os.environ.get("NATS_MAX_AGE_HOURS", "168"))
NATS_CONNECT_TIMEOUT_SECONDS = float(os.environ.get("NATS_CONNECT_TIMEOUT_SECONDS", "2"))
HUEY: dict[str, object] = {"name": "jingwu", "immediate": _env_bool("JINGWU_JOBS_IMMEDIATE", False)}
if REDIS_URL:
    HUEY.update(huey_class="huey.RedisHuey", url=REDIS_URL)
else:
    HUEY.update(huey_class="huey.SqliteHuey", filename=str(VAR_DIR / "huey.sqlite3"))

# Anti-fraud: where each bank's stop-payment API answers (docs/bank-api.md).
# JINGWU_BANK_URLS is JSON {"ICBC": "https://…", …}; a bank not named there is served by
# the bank simulator (`jingwu bank-sim`) at JINGWU_BANK_SIM_URL + /banks/<code>.
JINGWU_BANK_URLS: dict[str, str] = json.loads(os.environ.get("JINGWU_BANK_URLS", "") or "{}")
JINGWU_BANK_SIM_URL = os.environ.get("JINGWU_BANK_SIM_URL", "http://127.0.0.1:8100")
JINGWU_BANK_TIMEOUT = float(os.environ.get("JINGWU_BANK_TIMEOUT", "3"))  # seconds per HTTP try
JINGWU_STOP_MAX_ATTEMPTS = int(os.environ.get("JINGWU_STOP_MAX_ATTEMPTS", "6"))
JINGWU_STOP_BACKOFF = float(os.environ.get("JINGWU_STOP_BACKOFF", "0.5"))  # first retry wait, doubling
JINGWU_STOP_SENDER_THREADS = int(os.environ.get("JINGWU_STOP_SENDER_THREADS", "8"))
# Early-warning SMS (low risk): the operator's SMS gateway; unset, the outbox keeps them queued.
JINGWU_SMS_GATEWAY_URL = os.environ.get("JINGWU_SMS_GATEWAY_URL", "")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("JINGWU_LOG_LEVEL", "WARNING")},
}
