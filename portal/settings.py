"""Settings for the CPA/CPL Security Governance Portal, read from the environment.

DATABASE_URL: postgres://… or sqlite:///absolute/path (default: SQLite in the project folder).
REDIS_URL: Celery broker and result store; without it tasks run eagerly in-process.
DJANGO_DEBUG=1 turns debug on (never in production); DJANGO_SECRET_KEY is required otherwise.
"""

import os
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG")

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    SECRET_KEY = "django-insecure-development-only-key-not-for-production-use-0123456789"  # nosec B105  # DEBUG only

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "portal.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "guardian",
    "csp",
    "portal",
    "cpl",
    "governance",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # NUL characters and oversize uploads, before CSRF's check reads the body.
    "portal.middleware.RequestInputMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After authentication (it asks who is signed in); on the way out it sees every response.
    "portal.middleware.NoStoreMiddleware",
    # django-otp's, with the verified device cached per access version (portal.permission_cache).
    "portal.permission_cache.CachedOTPMiddleware",
    "portal.middleware.SecondFactorRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.middleware.ConcurrentChangeMiddleware",
    # django-axes wants to be last.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

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
                "portal.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so the audit chain head cannot be read twice.
    DATABASES["default"].setdefault("OPTIONS", {})["transaction_mode"] = "IMMEDIATE"
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "portal.User"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Model permissions cached per user's access version (portal.permission_cache). Object
    # permissions are read per request: a grant must hold for the very instance that made it.
    "portal.permission_cache.CachedModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# Lockout (django-axes, see portal.lockout and the README's "Signing in"). Five failed passwords
# lock that username from that client address only, for an hour: another user at the same address
# (one office, or everyone when the load balancer's address was taken) and the same user elsewhere
# are not affected, and a success resets only that username's failures from that address.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("AXES_COOLOFF_HOURS", "1"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Attempts refused while locked are not failures: hammering cannot stretch a lock for ever.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_HANDLER = "portal.lockout.PortalLockoutHandler"
AXES_LOCKOUT_CALLABLE = "portal.lockout.lockout_response"
AXES_VERBOSE = False
# The client address: the socket's, or behind the load balancer (DJANGO_BEHIND_PROXY) the entry
# the trusted proxies appended to X-Forwarded-For, counted from the right (django-ipware), so a
# client cannot choose its address by sending the header itself. DJANGO_TRUSTED_PROXY_COUNT is
# the number of proxies in front of Django that each append their peer's address (default 1).
BEHIND_PROXY = env_bool("DJANGO_BEHIND_PROXY")
if BEHIND_PROXY:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
    # ipware counts the proxies listed in the header: the nearest one is REMOTE_ADDR, not listed.
    AXES_IPWARE_PROXY_COUNT = max(int(os.environ.get("DJANGO_TRUSTED_PROXY_COUNT", "1")) - 1, 0)
else:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)
    AXES_IPWARE_PROXY_COUNT = None
# More entries than the proxies appended (a client's own header) are allowed and ignored.
IPWARE_STRICT = False
# Failures for one username from many addresses (a distributed guess) slow that username down:
# from LOGIN_THROTTLE_AFTER failures in the cool-off window (each address counting at most
# AXES_FAILURE_LIMIT), each further attempt waits LOGIN_THROTTLE_BASE_SECONDS after the latest
# failure, doubling per further failure up to LOGIN_THROTTLE_MAX_SECONDS; not on a browser where
# the account's holder completed sign-in before (portal.lockout's known-device cookie).
LOGIN_THROTTLE_AFTER = int(os.environ.get("LOGIN_THROTTLE_AFTER", "10"))
LOGIN_THROTTLE_BASE_SECONDS = 30
LOGIN_THROTTLE_MAX_SECONDS = 15 * 60
# The secretariat is told (once per username per cool-off window) when a username has failures
# from this many addresses, or is locked or slowed down anywhere.
LOGIN_ALERT_ADDRESSES = int(os.environ.get("LOGIN_ALERT_ADDRESSES", "3"))
# Only existing accounts are reported, and at most this many per window: a flood of failures
# cannot flood the secretariat's inbox.
LOGIN_ALERTS_PER_WINDOW = int(os.environ.get("LOGIN_ALERTS_PER_WINDOW", "10"))

OTP_TOTP_ISSUER = "CPA/CPL Governance Portal"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Private files (uploaded imports, later evidence) live outside any web root.
PRIVATE_STORAGE_ROOT = Path(os.environ.get("PRIVATE_STORAGE_ROOT", BASE_DIR / "var" / "private"))

# Uploads: Django keeps at most this much in memory; bigger files are spooled to disk.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
CPL_IMPORT_MAX_BYTES = int(os.environ.get("CPL_IMPORT_MAX_BYTES", str(100 * 1024 * 1024)))
CPL_IMPORT_MAX_REPORTED_ERRORS = 500
# What an import file may expand to, whatever its size on disk (cpl.exchange, cpl.inventory):
# a small compressed file can unpack to gigabytes, or to millions of empty rows.
CPL_IMPORT_MAX_ROWS = int(os.environ.get("CPL_IMPORT_MAX_ROWS", "200000"))
CPL_IMPORT_MAX_COLUMNS = 64
# Working Days within which the fast-track PPCT of an emergency CPL entry is due (local practice).
EMERGENCY_PPCT_WORKING_DAYS = int(os.environ.get("EMERGENCY_PPCT_WORKING_DAYS", "10"))
CPL_IMPORT_MAX_EMPTY_ROWS = 10000  # in a row
CPL_IMPORT_MAX_LINE_CHARS = 64 * 1024
CPL_IMPORT_XLSX_MAX_PARTS = 100
CPL_IMPORT_XLSX_MAX_PART_BYTES = 256 * 1024 * 1024
CPL_IMPORT_XLSX_MAX_UNPACKED_BYTES = 320 * 1024 * 1024
CPL_IMPORT_XLSX_MAX_RATIO = 100  # spreadsheet XML compresses about 10 to 1
# openpyxl holds every shared string in memory: a 50,000-row CPL's table is about 10 MB.
CPL_IMPORT_XLSX_MAX_SHARED_STRINGS_BYTES = 32 * 1024 * 1024
# The import task is stopped after the soft limit (the job fails, nothing changed) and killed
# after the hard one; `cpl_imports_reap` fails a job still running after the hard limit and a
# margin: its worker died.
CPL_IMPORT_SOFT_TIME_LIMIT = int(os.environ.get("CPL_IMPORT_SOFT_TIME_LIMIT", str(15 * 60)))
CPL_IMPORT_TIME_LIMIT = CPL_IMPORT_SOFT_TIME_LIMIT + 60
CPL_IMPORT_STALE_AFTER = CPL_IMPORT_TIME_LIMIT + 5 * 60
INVENTORY_MAX_UNPACKED_BYTES = int(
    os.environ.get("INVENTORY_MAX_UNPACKED_BYTES", str(2 * 1024 * 1024 * 1024))
)
INVENTORY_MAX_LINE_CHARS = 4096
INVENTORY_MAX_BLANK_LINES = 1000
INVENTORY_MAX_ERRORS = 10000  # reading stops there: the report shows the first 500 anyway
# Files under PRIVATE_STORAGE_ROOT that no row refers to are deleted by `sweep_private_files`
# once this old (an upload in progress has no row yet).
PRIVATE_ORPHAN_GRACE_HOURS = float(os.environ.get("PRIVATE_ORPHAN_GRACE_HOURS", "24"))
CERTIFICATE_EXPIRY_WARNING_DAYS = 90
EVIDENCE_MAX_BYTES = int(os.environ.get("EVIDENCE_MAX_BYTES", str(25 * 1024 * 1024)))
# Ballots: quorum is this share of the eligible (non-conflicted) voting members casting a
# non-abstain vote; reminders go to members who have not voted this long before closing.
BALLOT_QUORUM_FRACTION = float(os.environ.get("BALLOT_QUORUM_FRACTION", "0.5"))
# How often an open ballot's page asks who has voted since (htmx poll, seconds).
BALLOT_POLL_SECONDS = 15
BALLOT_REMINDER_HOURS = float(os.environ.get("BALLOT_REMINDER_HOURS", "24"))
# Notices not acknowledged after this many Working Days are chased once.
NOTICE_CHASE_WORKING_DAYS = int(os.environ.get("NOTICE_CHASE_WORKING_DAYS", "5"))
# CPA Certificate Remedial Plans are due this many Working Days after the decision notice
# (local practice: the SEC text sets no date; the clause 6.3 notice says so).
PLAN_DUE_WORKING_DAYS = int(os.environ.get("PLAN_DUE_WORKING_DAYS", "20"))
# Remedial plan approval (issue 11): "one" reviewer decides; "two" non-conflicted reviewers
# must agree, a disagreement going to the case's chair; "ballot": a sealed ballot of the
# non-conflicted voting members on each plan version, open PLAN_BALLOT_WORKING_DAYS, quorum as
# for case ballots, the chair deciding a tie. The SEC text does not set the rule (local practice).
PLAN_APPROVAL_RULE = os.environ.get("PLAN_APPROVAL_RULE", "two")
PLAN_BALLOT_WORKING_DAYS = int(os.environ.get("PLAN_BALLOT_WORKING_DAYS", "5"))
# An approved plan's expiry is announced to the supplier and the SSC this many Working Days
# before it (local practice: the SEC text does not set it).
PLAN_EXPIRY_WARNING_WORKING_DAYS = int(os.environ.get("PLAN_EXPIRY_WARNING_WORKING_DAYS", "10"))
# Referrals (issue 11). The SEC text sets no time limit for a referral under F2.7B, nor for
# the SSC's pack: both are local practice, stated as such on the notices and pages they govern.
# A referral window of "none" sets no limit. The secretariat sends the pack to the Authority
# within REFERRAL_PACK_DUE_WORKING_DAYS of the referral being lodged.
_referral_window = os.environ.get("REFERRAL_WINDOW_WORKING_DAYS", "20").strip().lower()
REFERRAL_WINDOW_WORKING_DAYS: int | None = (
    None if _referral_window in ("", "none") else int(_referral_window)
)
REFERRAL_PACK_DUE_WORKING_DAYS = int(os.environ.get("REFERRAL_PACK_DUE_WORKING_DAYS", "5"))
INVENTORY_UPLOAD_MAX_BYTES = int(
    os.environ.get("INVENTORY_UPLOAD_MAX_BYTES", str(500 * 1024 * 1024))
)
# Uploads stop streaming at the page's limit (portal.documents.BoundedUploadHandler): these
# pages take larger files; every other page takes documents up to EVIDENCE_MAX_BYTES.
UPLOAD_MAX_BYTES_BY_VIEW = {
    "cpl:import": CPL_IMPORT_MAX_BYTES,
    "cpl:inventory": INVENTORY_UPLOAD_MAX_BYTES,
}
FILE_UPLOAD_HANDLERS = [
    "portal.documents.BoundedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# Links in e-mails and inbox notices are absolute, built on this (no trailing slash).
PORTAL_BASE_URL = os.environ.get("PORTAL_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

# The Ed25519 key that signs audit checkpoints and referral pack manifests (portal.signing):
# never in the database. PEM or base64 seed in PORTAL_SIGNING_KEY, or a file. Under DEBUG a
# development key is generated in var/ (with a warning); production without a key fails the
# system check. Checkpoints are appended to PORTAL_AUDIT_ANCHOR_DIR (keep it off the database
# host, append-only, backed up).
PORTAL_SIGNING_KEY = os.environ.get("PORTAL_SIGNING_KEY", "")
PORTAL_SIGNING_KEY_FILE = os.environ.get("PORTAL_SIGNING_KEY_FILE", "")
PORTAL_SIGNING_RETIRED_KEYS_FILE = os.environ.get("PORTAL_SIGNING_RETIRED_KEYS_FILE", "")
PORTAL_DEV_SIGNING_KEY_FILE = BASE_DIR / "var" / "dev-signing-key.pem" if DEBUG else None
PORTAL_AUDIT_ANCHOR_DIR = Path(
    os.environ.get("PORTAL_AUDIT_ANCHOR_DIR", BASE_DIR / "var" / "anchors")
)
# verify_audit fails on a chain of events with no checkpoint at all (anchor files deleted, or
# the folder setting wrong); `check --deploy` wants the folder to exist and be writable.
AUDIT_ANCHOR_REQUIRED = env_bool("PORTAL_AUDIT_ANCHOR_REQUIRED", default=not DEBUG)

# Security headers. Content-Security-Policy has no inline scripts or styles.
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [SELF],
        "object-src": [NONE],
    }
}

HTTPS = env_bool("PORTAL_HTTPS", default=not DEBUG)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 8 * 60 * 60
SECURE_SSL_REDIRECT = HTTPS and env_bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Celery: a Redis broker when REDIS_URL is set, otherwise tasks run in-process.
REDIS_URL = os.environ.get("REDIS_URL", "")

# The cache: Redis when REDIS_URL is set (shared by the workers), else each process's memory.
# Cached roles and permissions are correct with either (keyed by User.access_version). Sessions
# are read from the cache and written through to the database (cached_db) only when the cache is
# shared: with per-process memory a signed-out session would live on in the other workers.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "portal",
            # Redis down: fail fast and fall back to the database (a miss), like the broker
            # below, never a 500 on every page.
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
                "IGNORE_EXCEPTIONS": True,
            },
        }
    }
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    SESSION_ENGINE = "django.contrib.sessions.backends.db"
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing from a request fails fast when Redis is down (one connection attempt of at most a
# second, no publish retries): the outbox rows wait and `notices_redispatch` /
# `cpl_imports_resume` hand them over later. Without these a dispatch blocked 15-19 s in
# kombu's and the result store's reconnect loops, and a chair's decision answered 500.
# The worker's own consumer connection still retries (broker_connection_max_retries).
CELERY_BROKER_CONNECTION_TIMEOUT = 1
# socket_timeout: a Redis that accepts connections but never answers (hung, paused) would
# otherwise block a publish for ever; above kombu's 1 s BRPOP wait so the worker is unaffected.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 1,
    "socket_timeout": 5,
    "max_retries": 0,
}
CELERY_REDIS_SOCKET_TIMEOUT = 5
CELERY_TASK_PUBLISH_RETRY = False
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    "check-certificates": {
        "task": "cpl.tasks.certificates_check",
        "schedule": 60 * 60,  # hourly: expiries are by date, so this catches each on its day
    },
    "resume-cpl-imports": {"task": "cpl.tasks.cpl_imports_resume", "schedule": 2 * 60},
    "reap-cpl-imports": {"task": "cpl.tasks.cpl_imports_reap", "schedule": 5 * 60},
    # Hourly: a due date passes once a day; each overdue fast-track PPCT is alerted once.
    "emergency-ppct-deadlines": {
        "task": "cpl.tasks.emergency_deadlines_check",
        "schedule": 60 * 60,
    },
    "sweep-private-files": {"task": "portal.tasks.private_files_sweep", "schedule": 6 * 60 * 60},
    "close-due-ballots": {"task": "governance.tasks.ballots_close_due", "schedule": 60},
    "close-due-plan-ballots": {
        "task": "governance.tasks.plan_ballots_close_due",
        "schedule": 5 * 60,
    },
    "ballot-reminders": {"task": "governance.tasks.ballots_send_reminders", "schedule": 5 * 60},
    "notices-redispatch": {"task": "portal.tasks.notices_redispatch", "schedule": 60},
    "notices-chase": {"task": "portal.tasks.notices_chase", "schedule": 60 * 60},
    "plans-overdue": {"task": "governance.tasks.plans_mark_overdue", "schedule": 60 * 60},
    "plans-expiry": {"task": "governance.tasks.plans_lapse_expired", "schedule": 60 * 60},
    "evidence-access": {"task": "governance.tasks.evidence_sync_all", "schedule": 60 * 60},
    "determinations-due": {"task": "governance.tasks.referrals_apply_due", "schedule": 60 * 60},
    "cases-completed": {"task": "governance.tasks.cases_close_completed", "schedule": 60 * 60},
    "audit-checkpoint": {"task": "portal.tasks.audit_checkpoint", "schedule": 10 * 60},
    "submission-tokens-purge": {
        "task": "portal.tasks.submission_tokens_purge",
        "schedule": 24 * 60 * 60,
    },
}

if REDIS_URL:
    EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
else:
    EMAIL_BACKEND = os.environ.get(
        "EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend"
    )
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "ssc-portal@localhost")

GUARDIAN_RAISE_403 = True
ANONYMOUS_USER_NAME = (
    None  # no guardian anonymous user: anonymous visitors hold no object permissions
)

# `make bench-web` only: the ceiling pages and the query counter of portal.bench_views.
BENCH_VIEWS = env_bool("PORTAL_BENCH_VIEWS")
if BENCH_VIEWS:
    MIDDLEWARE.insert(0, "portal.bench_views.QueryCountMiddleware")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}
