"""Settings for every environment, read from environment variables (see README "Configuration").

The embedded default needs nothing: SQLite in `db.sqlite3`, tasks run in-process. Production sets
DATABASE_URL (PostgreSQL), REDIS_URL (Celery broker and cache) and SECRET_KEY.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from backend.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
_INSECURE_KEY = "insecure-development-key-do-not-use-in-production"
SECRET_KEY = env_str("SECRET_KEY", _INSECURE_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "oauth2_provider",
    "fhirstore",
    "access",
    "integrations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "access.cors.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "api.fhir.middleware.FhirErrorMiddleware",
]
# The chain /fhir requests take (backend/handlers.py): bearer tokens, JSON, no sessions or forms.
FHIR_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "access.cors.CorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "api.fhir.middleware.FhirErrorMiddleware",
]

ROOT_URLCONF = "backend.urls"
APPEND_SLASH = False
WSGI_APPLICATION = "backend.wsgi.application"
ASGI_APPLICATION = "backend.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Kept connections are checked before each request's first query without a round trip,
    # so a PostgreSQL restart costs no request a 500 (backend/postgresql/base.py).
    DATABASES["default"]["ENGINE"] = "backend.postgresql"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run while one writer commits; the busy timeout queues writers
    # instead of failing them with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
# Hot fixed statements are prepared once per PostgreSQL connection (fhirstore/prepared.py).
DATABASE_PREPARED_STATEMENTS = env_bool("DATABASE_PREPARED_STATEMENTS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Bulk Data export files go to the "exports" storage: a local folder by default; any Django
# storage backend (django-storages for S3, Azure, GCS) can take its place in production.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "exports": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": env_str("BULK_EXPORT_DIR", str(BASE_DIR / "var" / "exports"))},
    },
    # $import reads NDJSON only from here (storage://imports/<path>); never from a client's URL.
    "imports": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": env_str("BULK_IMPORT_DIR", str(BASE_DIR / "var" / "imports"))},
    },
}
# $import jobs (integrations.importing): NDJSON lines per batch transaction.
BULK_IMPORT = {"BATCH": env_int("BULK_IMPORT_BATCH", 500, minimum=1)}
# R4 Subscriptions (integrations.subscription_*): delivery attempts per notification, and the
# first retry's wait in seconds (doubling after each failure).
SUBSCRIPTIONS = {
    "MAX_ATTEMPTS": env_int("SUBSCRIPTION_MAX_ATTEMPTS", 5, minimum=1),
    "RETRY_SECONDS": env_int("SUBSCRIPTION_RETRY_SECONDS", 2, minimum=0),
    "TIMEOUT_SECONDS": 5,
}
# Bulk Data $export jobs, read through integrations.conf.
BULK_EXPORT = {
    "TTL_SECONDS": env_int("BULK_EXPORT_TTL_SECONDS", 24 * 3600, minimum=60),
    "FILE_MAX_MB": env_int("BULK_EXPORT_FILE_MB", 64, minimum=1),
    "LEASE_SECONDS": env_int("BULK_EXPORT_LEASE_SECONDS", 60, minimum=3),
}
STATIC_ROOT = BASE_DIR / "staticfiles"

DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("FHIR_MAX_BODY_BYTES", 20 * 1024 * 1024, minimum=1024)

REDIS_URL = env_str("REDIS_URL", "")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Periodic work for `celery beat` (production). Embedded, the same functions run on demand.
CELERY_BEAT_SCHEDULE = {
    "publish-audit-events": {
        "task": "access.publish_audit_events",
        "schedule": env_int("AUDIT_PUBLISH_SECONDS", 10, minimum=1),
    },
    # Bulk Data export jobs (integrations/): resume jobs whose worker died, delete expired files.
    "bulk-export-recover": {"task": "integrations.export_recover", "schedule": 60},
    "bulk-export-cleanup": {"task": "integrations.export_cleanup", "schedule": 300},
    # $import jobs whose worker died resume after their last committed batch.
    "bulk-import-recover": {"task": "integrations.import_recover", "schedule": 60},
}

CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "access.local_cache.LocalCache"}
    )
}

# The FHIR store's own settings, read through fhirstore.conf.store_setting().
FHIR_STORE = {
    "PUBLIC_BASE_URL": env_str("FHIR_BASE_URL", "http://127.0.0.1:8000/fhir").rstrip("/"),
    "MAX_BODY_BYTES": DATA_UPLOAD_MAX_MEMORY_SIZE,
    "DEFAULT_COUNT": env_int("FHIR_DEFAULT_COUNT", 20, minimum=1),
    "MAX_COUNT": env_int("FHIR_MAX_COUNT", 1000, minimum=1),
    "OPEN_ACCESS_IN_DEBUG": env_bool("FHIR_OPEN_ACCESS_IN_DEBUG", True),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # Request lines carry query strings (names, identifiers); log them only at WARNING+.
    "loggers": {"django.request": {"level": "ERROR"}, "django.server": {"level": "WARNING"}},
}

_BEHIND_TLS = env_bool("BEHIND_TLS_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if _BEHIND_TLS else None
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = _BEHIND_TLS
# HSTS for a year; SecurityMiddleware sends it on requests that arrived over TLS only.
SECURE_HSTS_SECONDS = 31536000 if _BEHIND_TLS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = _BEHIND_TLS

# django-oauth-toolkit model names, spelled out because access/ models point at them and Django's
# migration autodetector reads swappable model settings by name.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth2_provider.AccessToken"
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "oauth2_provider.RefreshToken"
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "oauth2_provider.IDToken"
OAUTH2_PROVIDER_GRANT_MODEL = "oauth2_provider.Grant"

# SMART on FHIR authorisation (access/): URLs, lifetimes and limits (README "Configuration").
_FHIR_ORIGIN = str(FHIR_STORE["PUBLIC_BASE_URL"]).rsplit("/fhir", 1)[0]
ACCESS = {
    "OAUTH_BASE_URL": env_str("OAUTH_BASE_URL", f"{_FHIR_ORIGIN}/oauth").rstrip("/"),
    "LAUNCH_SECONDS": env_int("SMART_LAUNCH_SECONDS", 300, minimum=10),
    "ASSERTION_MAX_SECONDS": 300,
    "JWKS_FETCH_TIMEOUT": env_int("SMART_JWKS_FETCH_TIMEOUT", 5, minimum=1),
    "OAUTH_RATE_PER_MINUTE": env_int("OAUTH_RATE_PER_MINUTE", 120, minimum=1),
    # FHIR and app API limits per access token and per client address; 0 turns a limit off.
    "API_RATE_PER_MINUTE_PER_TOKEN": env_int("API_RATE_PER_MINUTE_PER_TOKEN", 6000),
    "API_RATE_PER_MINUTE_PER_ADDRESS": env_int("API_RATE_PER_MINUTE_PER_ADDRESS", 12000),
    "LOGIN_FAILURES_ALLOWED": env_int("LOGIN_FAILURES_ALLOWED", 5, minimum=1),
    "LOGIN_LOCKOUT_SECONDS": env_int("LOGIN_LOCKOUT_SECONDS", 900, minimum=1),
    "CORS_ALLOWED_ORIGINS": env_list("CORS_ALLOWED_ORIGINS", []),
    "MANAGEMENT_PATH": "/account/apps",
    # Audit rows are written in batches off the request path (access/audit_buffer.py): at this
    # many rows, or when the oldest has waited this long.
    "AUDIT_BATCH_ROWS": env_int("AUDIT_BATCH_ROWS", 200, minimum=1),
    "AUDIT_FLUSH_MS": env_int("AUDIT_FLUSH_MS", 100, minimum=1),
}

from access.keys import oidc_private_key_pem  # noqa: E402  (needs only the PEM helpers)

OAUTH2_PROVIDER = {
    "OAUTH2_VALIDATOR_CLASS": "access.validator.SmartValidator",
    # DOT reads OIDC_SERVER_CLASS only from its defaults; naming the server here is what works.
    "OAUTH2_SERVER_CLASS": "access.server.SmartOIDCServer",
    "SCOPES_BACKEND_CLASS": "access.scopes_backend.SmartScopes",
    "SCOPES": {"openid": "Your identity"},  # DOT wants it non-empty; the backend knows the rest
    "PKCE_REQUIRED": True,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ACCESS_TOKEN_EXPIRE_SECONDS": env_int("ACCESS_TOKEN_SECONDS", 3600, minimum=60),
    "REFRESH_TOKEN_EXPIRE_SECONDS": env_int("REFRESH_TOKEN_SECONDS", 30 * 24 * 3600, minimum=60),
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "REQUEST_APPROVAL_PROMPT": "force",
    "OIDC_ENABLED": True,
    "OIDC_ISS_ENDPOINT": ACCESS["OAUTH_BASE_URL"],
    "OIDC_RSA_PRIVATE_KEY": oidc_private_key_pem(
        from_env=env_str("OIDC_RSA_PRIVATE_KEY", ""),
        key_file=BASE_DIR / "var" / "oidc_rsa_private_key.pem",
    ),
    "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OIDC_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",
    ],
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"],
}
LOGIN_URL = "/accounts/login/"
