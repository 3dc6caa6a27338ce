"""jingwu settings: one module, every knob read from the environment."""

from __future__ import annotations

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
    "jingwu.search",
    "jingwu.synthetic",
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
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=0)
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["OPTIONS"] = {
        # WAL lets readers work while the one writer writes; IMMEDIATE avoids
        # upgrade deadlocks between two writers.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;",
        "transaction_mode": "IMMEDIATE",
    }
else:
    _db["ENGINE"] = "django.db.backends.postgresql"
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
HUEY: dict[str, object] = {"name": "jingwu", "immediate": _env_bool("JINGWU_JOBS_IMMEDIATE", False)}
if REDIS_URL:
    HUEY.update(huey_class="huey.RedisHuey", url=REDIS_URL)
else:
    HUEY.update(huey_class="huey.SqliteHuey", filename=str(VAR_DIR / "huey.sqlite3"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("JINGWU_LOG_LEVEL", "WARNING")},
}
