"""Settings, read only from environment variables (see .env.example and README.md).

Two shapes from one file:
- embedded default: no DATABASE_URL, no REDIS_URL -> SQLite under var/, in-memory channel
  layer, Celery tasks run in-process;
- production: PostgreSQL via DATABASE_URL (psycopg 3), Redis via REDIS_URL as Celery broker
  and channel layer.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from common.env import (
    env_bool,
    env_decimal,
    env_int,
    env_list,
    env_seconds_list,
    env_secret,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("SNIPERBOT_VAR_DIR", str(BASE_DIR / "var")))
(VAR_DIR / "staticfiles").mkdir(parents=True, exist_ok=True)
VERSION = "0.1.0"
ENVIRONMENT = env_str("SNIPERBOT_ENV", "development")

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_secret("SECRET_KEY")
_LOCAL_KEY = VAR_DIR / "secret_key"  # written by `make run`; lets local manage.py calls work
if not SECRET_KEY and not env_str("SECRET_KEY_FILE", None) and _LOCAL_KEY.is_file():
    SECRET_KEY = _LOCAL_KEY.read_text().strip()
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY (or SECRET_KEY_FILE) is required when DEBUG is off. "
            "`make run` creates one under var/."
        )
    SECRET_KEY = "insecure-debug-only-key"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served locally: no CDN (offline machines)
    "simple_history",
    "django_prometheus",
    "monitoring",
    "risk",
    "listings",
    "trading",
    "alerts",
]

# --- Metrics: every process (web, monitor, workers) writes here; /metrics sums them ------
# Set before anything imports prometheus_client (apps, middleware), so all processes on a host
# share one directory. `make run` empties it at start; see README "Observability".
PROMETHEUS_MULTIPROC_DIR = Path(env_str("PROMETHEUS_MULTIPROC_DIR", str(VAR_DIR / "prometheus")))
PROMETHEUS_MULTIPROC_DIR.mkdir(parents=True, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(PROMETHEUS_MULTIPROC_DIR)
METRICS_PUBLIC = env_bool("METRICS_PUBLIC", False)  # on: /metrics needs no token
PROMETHEUS_EXPORT_MIGRATIONS = False

MIDDLEWARE = [
    # First: a made-up method (`curl -X M123`) gets 405 before django-prometheus labels a
    # series with it, so anonymous clients cannot grow /metrics without bound.
    "monitoring.metrics.known_methods_only",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "sniperbot.urls"
ASGI_APPLICATION = "sniperbot.asgi.application"
WSGI_APPLICATION = None

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_url("DATABASE_URL", None, schemes=("postgres", "postgresql", "pgsql", "sqlite"))
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
else:
    DATABASES = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "sniperbot.sqlite3"}
    }
# A connection the database dropped (a PostgreSQL restart, an idle timeout) is found and
# replaced before a request uses it, instead of failing that request with a 500. With the
# pool below, Django passes this on as psycopg_pool's own `check` (ConnectionPool.check_connection
# as a connection leaves the pool): never set `check` in the pool options as well.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A pool per process: Celery closes connections around every task and a new PostgreSQL
    # connection costs milliseconds on the trading path. With CONN_HEALTH_CHECKS (above) the
    # pool checks a connection as it leaves, so a restarted database costs a reconnect, not a
    # failed request or snipe.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env_int("DB_POOL_MAX", 20, min_value=1, max_value=500),
        "timeout": 10,
    }
    # Prepared statements only where asked: the order path's plain SQL (sniperbot/fastsql.py)
    # is parsed and planned once per connection. Django's own queries bind on the client and
    # are never prepared, so nothing else changes (None, Django's default, disables them).
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = 2**31 - 1
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and immediate transactions let the monitor, the web process and in-process trades
    # share the file: writers queue for the lock instead of failing with "database is locked".
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # The suite's database is a file too, as the bot's own: in memory, SQLite's shared cache
    # fails a writer at once ("database table is locked") while another thread reads, where
    # the file makes it wait for the lock like the bot's threads do.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-sniperbot.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: Celery broker and channel layer -------------------------------------------------
REDIS_URL = env_url("REDIS_URL", None, schemes=("redis", "rediss", "unix"))
# Longer than channels-redis's blocking receive (BZPOPMIN, 5 s): see CHANNEL_LAYERS.
CHANNEL_LAYER_SOCKET_TIMEOUT_S = 30
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # channels-redis waits for messages with BZPOPMIN for up to 5 s at a time;
                # redis-py 8 gives every read a 5 s socket timeout by default, which fired in
                # that wait and dropped each dashboard WebSocket about every 6 s
                # ("TimeoutError: Timeout reading from ..."). A read timeout well above the
                # blocking wait still finds a dead Redis; connecting keeps its own 5 s limit.
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": CHANNEL_LAYER_SOCKET_TIMEOUT_S,
                        "socket_connect_timeout": 5,
                    }
                ],
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = REDIS_URL is None  # embedded default: trade tasks run in-process
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = False  # a lost snipe is reconciled, never blindly re-run
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Notifications on a queue of their own: a slow channel never holds a worker a snipe needs
# (Procfile: an `alerts` worker consumes it; trading workers consume `celery`).
CELERY_TASK_ROUTES = {"alerts.deliver": {"queue": "alerts"}}
CELERY_TASK_TIME_LIMIT = 30
CELERY_TASK_SOFT_TIME_LIMIT = 20
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # workers log JSON (with redaction) like the rest

# --- MEXC -----------------------------------------------------------------------------------
MEXC_REST_URL = env_url("MEXC_REST_URL", "https://api.mexc.com", schemes=("http", "https"))
MEXC_WS_URL = env_url("MEXC_WS_URL", "wss://wbs-api.mexc.com/ws", schemes=("ws", "wss"))
MEXC_CALENDAR_URL = env_url(
    "MEXC_CALENDAR_URL",
    "https://www.mexc.com/api/operation/new_coin_calendar",
    schemes=("http", "https"),
)
MEXC_API_KEY = env_secret("MEXC_API_KEY")
MEXC_SECRET_KEY = env_secret("MEXC_SECRET_KEY")
MEXC_HTTP_TIMEOUT_MS = env_int("MEXC_HTTP_TIMEOUT_MS", 2000, min_value=50, max_value=60000)
# MEXC's IP weight per 10 s (500: DOC-EN "LIMITS"), counted on our side before a request
# leaves (mexc.weights). The count is per process (its clients share it only within it):
# the trading gateway gets 60 % of it, the monitor's public client 40 %. Lower it when more
# processes on this IP trade (workers with SNIPE_INLINE=0) so their shares stay under 500.
MEXC_IP_WEIGHT_LIMIT = env_int("MEXC_IP_WEIGHT_LIMIT", 500, min_value=10, max_value=100_000)

# --- Auth, i18n, static ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/dashboard/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True  # serve from the apps directly; collectstatic optional

# --- Security (production values; see README "Production") ---------------------------------
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, min_value=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
)
X_FRAME_OPTIONS = "DENY"

# --- DRF ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an unauthenticated API call gets 401 with `WWW-Authenticate: Token`.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["monitoring.permissions.ViewerReadsOperatorWrites"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "sniperbot API",
    "DESCRIPTION": "Operate and audit the MEXC new-listing sniper.",
    "VERSION": VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["monitoring.permissions.ViewerReadsOperatorWrites"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Logging: JSON lines on stderr ----------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "ts", "levelname": "level", "name": "logger"},
        },
    },
    "filters": {"redact": {"()": "common.logfilters.RedactSecrets"}},
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["redact"]}
    },
    "root": {"handlers": ["stderr"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "websockets": {"level": "WARNING"},
        # Apprise logs request URLs at DEBUG (a Telegram bot token is in its URL): never below
        # WARNING; the redact filter scrubs notify URLs' tokens from whatever it does log.
        "apprise": {"level": "WARNING"},
    },
}
INPROCESS_TRADE_THREADS = env_int("INPROCESS_TRADE_THREADS", 4, min_value=1, max_value=64)
# The monitor decides a new listing's trade in the listing's own transaction and sends the order
# itself (trading/inline.py); off (0), every listing goes to a Celery task (one more hop).
SNIPE_INLINE = env_bool("SNIPE_INLINE", True)

# --- Listing monitor --------------------------------------------------------------------------
MONITOR_REST_INTERVAL_MS = env_int("MONITOR_REST_INTERVAL_MS", 2000, min_value=100)
MONITOR_CALENDAR_INTERVAL_S = env_int("MONITOR_CALENDAR_INTERVAL_S", 30, min_value=1)
MONITOR_ARM_LEAD_S = env_int("MONITOR_ARM_LEAD_S", 60, min_value=1)
MEXC_MINI_TICKERS_TZ = env_str("MEXC_MINI_TICKERS_TZ", "UTC+8")
# WebSocket reconnect delays, one per consecutive failure, the last repeating.
MEXC_WS_BACKOFF_S = env_seconds_list("MEXC_WS_BACKOFF_S", (1, 2, 4, 8, 16, 30))

# --- Trading ----------------------------------------------------------------------------------
ORDER_RATE_PER_S = env_int("ORDER_RATE_PER_S", 5, min_value=1, max_value=1000)
ORDER_RATE_BURST = env_int("ORDER_RATE_BURST", 5, min_value=1, max_value=1000)
BREAKER_FAILURE_THRESHOLD = env_int("BREAKER_FAILURE_THRESHOLD", 5, min_value=1)
BREAKER_COOLDOWN_S = env_int("BREAKER_COOLDOWN_S", 30, min_value=1)
DRY_RUN_SLIPPAGE_BPS = env_int("DRY_RUN_SLIPPAGE_BPS", 10, min_value=0, max_value=10_000)
DRY_RUN_TAKER_FEE = env_decimal("DRY_RUN_TAKER_FEE", Decimal("0.001"), min_value=Decimal(0))

# --- Operator notifications (alerts app; see README "Notifications") ---------------------------
# Apprise URLs (tgram://, discord://, mailto://, json://...), separated by whitespace or newlines
# (NOTIFY_URLS_FILE: one per line, `#` comments). They hold tokens: secrets, like the API keys.
NOTIFY_URLS = env_secret("NOTIFY_URLS")
DEFAULT_EXCEPTION_REPORTER_FILTER = "common.reporting.SecretUrlsReporterFilter"  # DEBUG page
# Link from a message to the dashboard (e.g. https://bot.example.com); unset: no link.
NOTIFY_DASHBOARD_URL = env_url("NOTIFY_DASHBOARD_URL", None, schemes=("http", "https"))
NOTIFY_RATE_PER_MIN = env_int("NOTIFY_RATE_PER_MIN", 20, min_value=1, max_value=600)
NOTIFY_RATE_BURST = env_int("NOTIFY_RATE_BURST", 5, min_value=1, max_value=100)
NOTIFY_MAX_ATTEMPTS = env_int("NOTIFY_MAX_ATTEMPTS", 6, min_value=1, max_value=50)
# Delay before each retry of a failed delivery, the last repeating.
NOTIFY_BACKOFF_S = env_seconds_list("NOTIFY_BACKOFF_S", (1, 2, 4, 8, 16, 30))
NOTIFY_MONITOR_DOWN_S = env_int("NOTIFY_MONITOR_DOWN_S", 30, min_value=5, max_value=3600)
NOTIFY_DAILY_SUMMARY_HOUR = env_int("NOTIFY_DAILY_SUMMARY_HOUR", 8, min_value=0, max_value=23)
NOTIFY_WATCH_INTERVAL_S = env_int("NOTIFY_WATCH_INTERVAL_S", 5, min_value=1, max_value=300)
