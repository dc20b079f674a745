"""crmflow settings: every value that differs between machines comes from the environment.

See README.md ("Configuration") for each variable and its default. `make run` writes a
development `.env` (with a generated SECRET_KEY and encryption key) on first start; in
production set the variables in the service's environment instead.
"""

import datetime as dt
import os
import sys
from pathlib import Path

from config.env import (
    env,
    env_bool,
    env_choice,
    env_database,
    env_email,
    env_fernet_keys,
    env_int,
    env_list,
    env_networks,
    env_str,
    env_time_zone,
    env_url,
)
from ops.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
# A source checkout keeps templates/, static/ and locale/ next to the packages; an
# installed copy (`pip install .`, the `crmflow` command) has them in
# <prefix>/share/crmflow (setup.py), and keeps its .env and var/ in the working directory.
SOURCE_CHECKOUT = (BASE_DIR / "templates").is_dir()
SHARE_DIR = BASE_DIR if SOURCE_CHECKOUT else Path(sys.prefix) / "share" / "crmflow"
_HOME = BASE_DIR if SOURCE_CHECKOUT else Path.cwd()

# A .env file never overrides a variable that is already set in the environment.
_env_file = os.environ.get("CRMFLOW_ENV_FILE", str(_HOME / ".env"))
if _env_file and Path(_env_file).is_file():
    env.read_env(_env_file)

# The SQLite database (when DATABASE_URL is unset), beat's schedule, collected static files.
VAR_DIR = Path(env_str("CRMFLOW_VAR_DIR", default=str(_HOME / "var")))

_SECRETS_HINT = (
    "Run `make run` once (it writes a development .env with generated secrets), "
    "or set it in the environment."
)

DEBUG = env_bool("DEBUG", default=False)
SECRET_KEY = env_str("SECRET_KEY", required_hint=_SECRETS_HINT)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default=[])
# Reverse proxies (CIDRs) whose X-Forwarded-For hops are believed; empty: none is, and
# the client address is the TCP peer (config/client_address.py).
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES")

# Field encryption (API keys at rest): newest key first; older keys still decrypt.
FIELD_ENCRYPTION_KEYS = env_fernet_keys("FIELD_ENCRYPTION_KEYS", required_hint=_SECRETS_HINT)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_htmx",
    # Content-Security-Policy header (CONTENT_SECURITY_POLICY below); its checks flag
    # settings of the old 3.x form.
    "csp",
    "ninja",
    "template_partials",
    "heroicons",
    "crm",
    "marketplace",
    "marketplace.integrations.openai",
    "marketplace.integrations.webhooks",
    "marketplace.integrations.email",
    "marketplace.integrations.approvals",
    "workflows",
    "ops",
]

MIDDLEWARE = [
    # The client's address from X-Forwarded-For behind TRUSTED_PROXIES, before anything
    # reads REMOTE_ADDR (config/client_address.py).
    "config.client_address.ClientAddressMiddleware",
    # /healthz and /readyz, before the HTTPS redirect and the host check (ops/views.py).
    "ops.views.ProbeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): signed in with a second factor (crm/two_factor.py).
    "django_otp.middleware.OTPMiddleware",
    # Audit rows written deep in a service know the request's user and address (crm/audit.py).
    "crm.audit.AuditRequestMiddleware",
    # Signs out sessions idle for SESSION_IDLE_TIMEOUT_MINUTES (crm/idle.py).
    "crm.idle.IdleTimeoutMiddleware",
    # Dates in the signed-in user's time zone (crm/timezones.py).
    "crm.timezones.TimeZoneMiddleware",
    "ops.logs.RequestContextMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Super admins without a second factor go to its setup when REQUIRE_2FA_FOR_SUPER_ADMINS.
    "crm.two_factor.RequireTwoFactorMiddleware",
    # Login throttling (django-axes): last, as its documentation asks.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [SHARE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "crm.context_processors.shell",
                "workflows.context_processors.health_banner",
                "marketplace.context_processors.app_menu",
            ],
        },
    },
]

# Database: SQLite in the project by default. WAL lets the web process read while a
# worker writes; IMMEDIATE transactions and a busy timeout make writers queue instead
# of failing with "database is locked".
DATABASES = {
    "default": env_database("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'crmflow.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
            ),
        }
    )
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
elif env.int("DATABASE_POOL_MAX_SIZE", default=0) > 0:
    # A psycopg connection pool per process (Django 5.1+, needs psycopg[pool]): a
    # closed connection goes back to the pool instead of to PostgreSQL. The `assistant`
    # worker runs 64+ threads that each hold a connection only for their short database
    # phases (an OpenAI call holds none), so a few pooled connections serve them all and
    # the process never opens more than max_size. Persistent connections must be off.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=1),
        "max_size": env.int("DATABASE_POOL_MAX_SIZE"),
        # Waiting longer than this for a free connection is an error (retried by the ledger).
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=30.0),
        # Idle connections above min_size are closed after this many seconds.
        "max_idle": env.float("DATABASE_POOL_MAX_IDLE", default=60.0),
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "crm.User"
LOGIN_URL = "crm:login"
LOGIN_REDIRECT_URL = "crm:home"
LOGOUT_REDIRECT_URL = "crm:login"
# AxesStandaloneBackend refuses a locked-out user name or address before any password
# check; ModelBackend checks the password.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [SHARE_DIR / "locale"]
TIME_ZONE = env_time_zone("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
# One date/time format per locale (config/formats/<lang>/formats.py).
FORMAT_MODULE_PATH = ["config.formats"]

STATIC_URL = "/static/"
STATICFILES_DIRS = [SHARE_DIR / "static"]
STATIC_ROOT = (BASE_DIR if SOURCE_CHECKOUT else VAR_DIR) / "static_collected"
# Hashed file names once `collectstatic` has run (production); plain files otherwise.
_manifest = env_bool("STATIC_MANIFEST", default=(STATIC_ROOT / "staticfiles.json").is_file())
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if _manifest
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Without collected files (development, tests) WhiteNoise serves straight from static/.
WHITENOISE_USE_FINDERS = not _manifest
MEDIA_ROOT = VAR_DIR / "media"

# Email: console in development, a directory of files in tests, SMTP in production.
vars().update(env_email("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", default="crmflow <crmflow@localhost>")
# The address people reach crmflow at: links in emails (unsubscribe, approvals) start with it.
SITE_URL = env_url("SITE_URL", schemes={"http", "https"}, default="http://localhost:8000")

# Redis: Celery's broker, the shared OpenAI rate limiter and the cache.
REDIS_URL = env_url(
    "REDIS_URL", schemes={"redis", "rediss", "unix"}, default="redis://127.0.0.1:6379/0"
)
OPENAI_BASE_URL = env_url(
    "OPENAI_BASE_URL", schemes={"http", "https"}, default="https://api.openai.com/v1"
)
# A connection's own endpoint (Azure OpenAI, an OpenAI-compatible server): allow http://
# addresses, and private, loopback or link-local ones (a model on your own network).
# Both are on in development (DEBUG), where the simulator runs on 127.0.0.1.
OPENAI_ENDPOINT_ALLOW_HTTP = env_bool("OPENAI_ENDPOINT_ALLOW_HTTP", default=DEBUG)
OPENAI_ENDPOINT_ALLOW_PRIVATE = env_bool("OPENAI_ENDPOINT_ALLOW_PRIVATE", default=DEBUG)
# Seconds before an OpenAI request gives up (connect, read, write each).
OPENAI_TIMEOUT = env.float("OPENAI_TIMEOUT", default=30.0)
# Spread a key's requests over the minute once its limit is learned (limiter/policy.py).
OPENAI_RATE_LIMIT_PACE = env_bool("OPENAI_RATE_LIMIT_PACE", default=True)

# Cache shared by every process (form rate limits, health banner, assistant lists):
# Redis by default; CACHE_URL=locmem:// keeps it in each process (tests).
_cache_url = env_str("CACHE_URL", default=REDIS_URL)
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    if _cache_url.startswith("locmem://")
    else {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": _cache_url,
        "KEY_PREFIX": "crmflow",
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}

# Celery: see config/celery.py for why each reliability setting is there.
CELERY_BROKER_URL = REDIS_URL

# HTTPS-only cookies and redirects whenever the site is not in development.
HTTPS = env_bool("HTTPS", default=not DEBUG)
if HTTPS:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    # Off by default: on a shared domain (crm.example.com) they would force HTTPS on
    # every sibling site, and preloading is hard to undo. Turn them on deliberately.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
    # `check --deploy` warns about both being off; that is the default on purpose.
    SILENCED_SYSTEM_CHECKS = [
        *([] if SECURE_HSTS_INCLUDE_SUBDOMAINS else ["security.W005"]),
        *([] if SECURE_HSTS_PRELOAD else ["security.W021"]),
    ]
SECURE_CONTENT_TYPE_NOSNIFF = True

# Content-Security-Policy (django-csp): scripts, styles, images and requests only from
# this site. No inline script, no inline event handler (static/js/ listens instead, on
# data- attributes), no inline style attribute (a width is set from JavaScript through
# the CSSOM, which style-src does not govern), and no eval (htmx's allowEval is off in
# base.html). img-src allows data: for the API docs' icons (Swagger UI draws them as data:
# URIs). The browser tests fail on any violation (tests/accessibility.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# Log lines in plain text or one JSON object per line, each with the request id, account
# id and execution id of what wrote it (ops/logs.py).
LOG_FORMAT = env_choice("LOG_FORMAT", choices=("plain", "json"), default="plain")
LOGGING = logging_config(fmt=LOG_FORMAT, level=env_str("LOG_LEVEL", default="INFO"))

# Bearer token of the Prometheus endpoint /metrics; unset, /metrics answers 404.
METRICS_TOKEN = env_str("METRICS_TOKEN", default="")

# A signed-in session unused this long is signed out; 0: only the 2-week cookie age.
SESSION_IDLE_TIMEOUT_MINUTES = env.int("SESSION_IDLE_TIMEOUT_MINUTES", default=720)

# Login throttling (django-axes, docs/operations.md "Security"): after
# LOGIN_FAILURE_LIMIT failed sign-ins for one user name, or from one client address,
# further attempts for it are refused for LOGIN_LOCKOUT_MINUTES (at /login/ and /admin/).
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
# A failure while locked out does not restart the wait: the page's wait time stays true.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "config.client_address.request_client_address"
AXES_LOCKOUT_CALLABLE = "crm.views.signin.lockout_response"
# Sign-ins are in the audit log (crm/audit.py); axes keeps only the failed attempts.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False

# Super admins must sign in with a second factor (TOTP): without one they are sent to
# its setup page before anything else.
REQUIRE_2FA_FOR_SUPER_ADMINS = env_bool("REQUIRE_2FA_FOR_SUPER_ADMINS", default=False)
# The issuer shown in authenticator apps next to the user name.
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", default="crmflow")

# JSON API requests per token (and unauthenticated requests per client address) per
# minute; over it a 429 with Retry-After. 0: no limit.
API_RATE_LIMIT_PER_MINUTE = env.int("API_RATE_LIMIT_PER_MINUTE", default=600)

# Public forms' anti-spam puzzle (a form's "anti-spam puzzle" setting, crm/proof_of_work.py):
# the zero bits a visitor's browser must find, about 2**bits SHA-256 hashes (16: well under
# a second on a phone). Each bit doubles the work.
PUBLIC_FORM_PROOF_OF_WORK_BITS = env_int(
    "PUBLIC_FORM_PROOF_OF_WORK_BITS", default=16, minimum=1, maximum=26
)

# Characters of one record property (a visitor's form answer, for instance) that reach an
# AI prompt through a data token; the rest is cut, with a note saying so. 0: no cap.
PROMPT_PROPERTY_MAX_CHARS = env_int("PROMPT_PROPERTY_MAX_CHARS", default=4000)

# The monthly budget (US dollars) the OpenAI connect dialog proposes for a new connection;
# the super admin can change or clear it there, and later under Usage. 0: none proposed.
OPENAI_DEFAULT_MONTHLY_BUDGET_USD = env_int("OPENAI_DEFAULT_MONTHLY_BUDGET_USD", default=50)

# Password for the demo users `seed_demo` creates (development only; see scripts/dev_env.py).
DEMO_PASSWORD = env_str("CRMFLOW_DEMO_PASSWORD", default="")
