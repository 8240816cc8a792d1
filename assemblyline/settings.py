"""Settings for unified-assembly-line, read from the environment (12-factor).

No DATABASE_URL → SQLite under ./var/; no REDIS_URL → in-memory channel layer and a
local-memory cache. That embedded default is for a first run; production runs on
PostgreSQL 15+ and Redis 7+. The typed readers are in `assemblyline/env.py`; what is more
than a value is built in `stores.py` (database, Redis), `verifiers.py` and `security.py`.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from assemblyline import security
from assemblyline.env import envbool, envfloat, envint, envlist, envmap
from assemblyline.stores import (
    databases,
    redis_backends,
    sentinel_addresses,
    sentinel_primary,
)
from assemblyline.verifiers import default_verifiers
from core.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))

DEBUG = envbool("DEBUG", False)
# SECRET_KEY: in the security section at the end of this file (docs/security.md).
# `testserver` (Django's test client) is added by the test settings only (tests/settings.py).
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])
PORT = envint("PORT", 8950)

SERVICE_NAME = "unified-assembly-line"
SERVICE_VERSION = "1.0.0"

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_fsm",
    "drf_spectacular",
    "django_prometheus",
    "drf_spectacular_sidecar",
    "channels",
    "executors",
    "intents",
    "verification",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # NUL in the path, query or a header → 400 before anything reads it (core/inputs.py).
    "core.inputs.url_guard_middleware",
    "core.logs.request_log_middleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "assemblyline.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "assemblyline.asgi.application"

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

# --- Database -------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
DATABASES = databases(DATABASE_URL, VAR_DIR)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer and cache -----------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
# Redis Sentinel (docs/deploy.md): REDIS_SENTINELS=host:port,... and REDIS_SENTINEL_MASTER: the
# channel layer, the cache and the live status use whichever Redis the sentinels name primary,
# and follow a failover. REDIS_URL then gives only the password and the database number.
REDIS_SENTINEL_MASTER = os.environ.get("REDIS_SENTINEL_MASTER", "mymaster")
REDIS_SENTINEL_PASSWORD = os.environ.get("REDIS_SENTINEL_PASSWORD", "")
REDIS_SENTINELS = sentinel_addresses(envlist("REDIS_SENTINELS", []))
CHANNEL_LAYERS: dict[str, dict[str, Any]]
if REDIS_SENTINELS:
    REDIS_URL = REDIS_URL or f"redis://{REDIS_SENTINEL_MASTER}/0"
    REDIS_SENTINEL_PRIMARY = sentinel_primary(
        REDIS_URL, REDIS_SENTINELS, REDIS_SENTINEL_MASTER, REDIS_SENTINEL_PASSWORD
    )
    CHANNEL_LAYERS, CACHES = redis_backends(REDIS_URL, REDIS_SENTINEL_PRIMARY)
elif REDIS_URL:
    CHANNEL_LAYERS, CACHES = redis_backends(REDIS_URL, REDIS_URL)
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
LOGIN_URL = "/admin/login/"
# Serve static files straight from the app folders too, so a first run needs no collectstatic.
WHITENOISE_USE_FINDERS = True

# Request bodies larger than this are refused with a JSON 400 before they are parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("MAX_BODY_BYTES", 1024 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "executors.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["executors.permissions.IsAuthenticatedPrincipal"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.LimitedJSONParser"],
    "EXCEPTION_HANDLER": "core.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}

# GET /metrics is open to anyone when true; otherwise admin and viewer tokens (or staff).
METRICS_PUBLIC = envbool("METRICS_PUBLIC", False)

# OpenAPI: /api/schema/ and Swagger UI at /api/docs/ from our own static files (sidecar).
SPECTACULAR_SETTINGS = {
    "TITLE": "unified-assembly-line",
    "DESCRIPTION": (
        "One build assembly line (SPEC → BUILD → TEST → PRODUCTION) for a fleet of AI coding "
        'executors. Every error answers `{"error": {"code", "message", "status"}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.openapi.nullable_answer_fields_optional",
    ],
    "ENUM_NAME_OVERRIDES": {
        "IntentStatusEnum": "intents.models.Status",
        "PhaseEnum": "intents.models.Phase",
        "ExecutorLiveStatusEnum": ["offline", "idle", "busy"],
        "HealthStatusEnum": ["ok", "degraded", "unavailable"],
        "DependencyStatusEnum": ["ok", "down", "not_configured"],
        "ReportedStatusEnum": ["completed", "failed"],
    },
}

# --- The line ---------------------------------------------------------------------------
# Where `spec_path` of an intent is read from when no spec_text is given.
SPECS_ROOT = Path(os.environ.get("SPECS_ROOT", BASE_DIR / "specs"))
# How long a claim holds an intent without progress or heartbeat.
LEASE_SECONDS = envint("LEASE_SECONDS", 300)
# Each priority point is worth this much waiting: a priority-1 intent that has waited
# 9 × this long ranks with a fresh priority-10 one (ageing, so nothing starves).
PRIORITY_AGEING_SECONDS = envint("PRIORITY_AGEING_SECONDS", 600)
# The executor that did an intent's previous phase gets it first when it is this close
# (in ranking seconds) to the head of the queue: it keeps its context.
AFFINITY_SECONDS = envint("AFFINITY_SECONDS", 600)
MAX_ATTEMPTS = envint("MAX_ATTEMPTS", 3)
# Retry backoff after a gate failure or lost lease: base × 2^(attempts-1), capped.
RETRY_BACKOFF_SECONDS = envfloat("RETRY_BACKOFF_SECONDS", 30.0)
RETRY_BACKOFF_MAX_SECONDS = envfloat("RETRY_BACKOFF_MAX_SECONDS", 900.0)
# An executor with no heartbeat (or executor call) for this long is offline.
EXECUTOR_OFFLINE_AFTER_SECONDS = envint("EXECUTOR_OFFLINE_AFTER_SECONDS", 90)
# last_heartbeat in the database is written at most this often per executor.
HEARTBEAT_WRITE_SECONDS = envint("HEARTBEAT_WRITE_SECONDS", 5)
# Redis (live status) calls time out after this long; after a failure Redis is left alone for
# REDIS_RETRY_SECONDS (PostgreSQL answers meanwhile), then tried again.
REDIS_TIMEOUT_SECONDS = envfloat("REDIS_TIMEOUT_SECONDS", 0.3)
REDIS_RETRY_SECONDS = envfloat("REDIS_RETRY_SECONDS", 5.0)
# The reaper: a loop in every server process (single-flight across processes by a PostgreSQL
# advisory lock) that re-queues work whose lease lapsed, announces executors gone offline, and
# runs the stall and review-SLA sweeps. Also `python manage.py reap`.
REAPER_ENABLED = envbool("REAPER", True)
REAPER_INTERVAL_SECONDS = envfloat("REAPER_INTERVAL_SECONDS", 5.0)
# Below this many open intents /state counts exactly on every read; above it, it reads the
# reaper's snapshot (refreshed as often as counting costs allow) and says so (intents/counts.py).
COUNTS_EXACT_BELOW = envint("COUNTS_EXACT_BELOW", 20_000)
# Worker threads per process for HTTP requests (assemblyline/handlers.py).
REQUEST_THREADS = envint("REQUEST_THREADS", 8)
# Process tuning for serving (assemblyline/handlers.py: tune_process).
GIL_SWITCH_SECONDS = envfloat("GIL_SWITCH_SECONDS", 0.0005)
GC_GEN0_THRESHOLD = envint("GC_GEN0_THRESHOLD", 50_000)
# WebSocket viewers get at most one frame per this many seconds; events arriving closer
# together go in one frame (intents/fanout.py). A lone event is sent at once.
WS_BATCH_SECONDS = envfloat("WS_BATCH_SECONDS", 0.05)
# Long poll: GET /work/next?wait=N holds at most this long; without a notice it re-checks
# the queue this often (backoffs ending, notices lost while Redis was away).
LONG_POLL_MAX_SECONDS = envfloat("LONG_POLL_MAX_SECONDS", 30.0)
LONG_POLL_RECHECK_SECONDS = envfloat("LONG_POLL_RECHECK_SECONDS", 30.0)
# Input limits: request bodies (413), JSON nesting depth and artifacts size (400).
MAX_JSON_DEPTH = envint("MAX_JSON_DEPTH", 32)
MAX_ARTIFACTS_BYTES = envint("MAX_ARTIFACTS_BYTES", 512 * 1024)

# Gates: which verification levels must pass to leave each phase.
ASSEMBLY_LINE_GATES: dict[str, list[str | int]] = {
    "spec": ["spec"],
    "build": [1, 2],
    "test": [3, 4, 5],
    "production": [6],
}

# The live checks (levels 1, 2, 5, 6) call the built service at its reported deployment_url.
# LIVE_CHECKS=false leaves only the checks of reported data (e.g. executors whose services
# the line cannot reach).
LIVE_CHECKS = envbool("LIVE_CHECKS", True)
LIVE_TIMEOUT = envfloat("LIVE_TIMEOUT_SECONDS", 3.0)
HEALTHY_STATUSES = envlist("HEALTHY_STATUSES", ["ok", "active", "healthy"])
# Egress policy of the live checks (docs/security.md): where they may connect beyond
# public addresses, as hosts, networks (CIDR) and `host:port-range`, e.g.
# 127.0.0.1:8000-8999,10.0.0.0/8. Unset: public addresses only.
LIVE_CHECK_ALLOW = envlist("LIVE_CHECK_ALLOW", [])
# Level 1 (and level 5's error probes) send POST/PUT/PATCH/DELETE to spec-documented paths
# only when this is on; otherwise GET and HEAD.
LIVE_CHECK_UNSAFE_METHODS = envbool("LIVE_CHECK_UNSAFE_METHODS", False)
# One verification's live requests together stop after this many seconds.
LIVE_CHECK_DEADLINE = envfloat("LIVE_CHECK_DEADLINE", 10.0)
# Requests that run live checks run on pools of this many threads of their own (one for
# /verify, one for /work/complete), so /health and the other calls never wait behind them.
LIVE_CHECK_CONCURRENCY = envint("LIVE_CHECK_CONCURRENCY", 4)
if LIVE_CHECK_CONCURRENCY < 1:
    raise ImproperlyConfigured("LIVE_CHECK_CONCURRENCY must be at least 1")
# /verify calls per intent per minute (429 with Retry-After beyond it); 0: no limit.
VERIFY_RATE = envint("VERIFY_RATE", 10)
# Level 6's latency probe: GETs of /health after the first (at most 20, PROBE_REQUESTS_MAX).
LIVE_PROBE_REQUESTS = envint("LIVE_PROBE_REQUESTS", 10)
# The platform's SERVICE_REGISTRY.json: level 2 checks built services are in it, /send finds
# targets in it, `manage.py register` writes our entry. Empty: no registry.
SERVICE_REGISTRY_PATH = os.environ.get("SERVICE_REGISTRY_PATH", "")
# Register in that file as each app process starts (also: `manage.py register`).
REGISTER_ON_START = envbool("REGISTER_ON_START", False)
SERVICE_DESCRIPTION = "One build assembly line for a fleet of AI coding executors"
SERVICE_PORT = envint("PORT", 8950)
SERVICE_URL_LOCAL = os.environ.get("SERVICE_URL_LOCAL", f"http://127.0.0.1:{SERVICE_PORT}")
SERVICE_URL_PRODUCTION = os.environ.get("SERVICE_URL_PRODUCTION", "")
# The checkers, configured like AUTH_PASSWORD_VALIDATORS. A deployment adds its own by
# appending {"NAME": "dotted.path.Class", "LEVEL": n, "OPTIONS": {...}}.
ASSEMBLY_LINE_VERIFIERS: list[dict[str, object]] = default_verifiers(
    live_checks=LIVE_CHECKS,
    timeout=LIVE_TIMEOUT,
    healthy_statuses=HEALTHY_STATUSES,
    probe_requests=LIVE_PROBE_REQUESTS,
    min_coverage=envfloat("MIN_COVERAGE", 80.0),
    quality_blocks=envbool("QUALITY_BLOCKS", False),
)

# Logs: JSON lines on stdout (core/logs.py); readable lines when DEBUG is on.
LOGGING = logging_config(debug=DEBUG, level=os.environ.get("LOG_LEVEL", "INFO"))

# Token verification backend: a callable token -> Principal | None. The default checks the
# hashed local tokens; a deployment can point this at a credential-vault introspection.
TOKEN_BACKEND = os.environ.get("TOKEN_BACKEND", "executors.services.token_authenticate")
# A revoked or deleted token stops working within this many seconds in every process: a
# verified token is taken for this long, and past it (default backend only) while a look at
# the token table, one query per process per this time, finds no token made, revoked or
# deleted since (executors/authentication.py). 0 asks the backend on every request.
TOKEN_CACHE_SECONDS = envfloat("TOKEN_CACHE_SECONDS", 10.0)
# Which gate passes stop for a human before the next phase starts (intents with
# requires_human_review only): the phases they would move into. "completed" = before done.
REVIEW_BEFORE_PHASES = envlist("REVIEW_BEFORE_PHASES", ["production"])

# --- Rules for AI executors (README: "Why this line fits AI executors") -------------------
# Separation of duties: these phases are never taken by the executor that did the build.
SEPARATE_DUTIES_PHASES = envlist("SEPARATE_DUTIES_PHASES", ["test", "production"])
# A reviewer may not approve or reject an intent they submitted.
REVIEWER_NOT_SUBMITTER = envbool("REVIEWER_NOT_SUBMITTER", True)
# First-choice environment per phase for intents with environment_preference=either; a phase
# not listed is open to both environments at once. E.g. build:local,test:server.
PHASE_ROUTING = envmap("PHASE_ROUTING", {})
# An `either` intent that waited this long for its first-choice environment spills over to
# the other one.
SPILLOVER_SECONDS = envint("SPILLOVER_SECONDS", 300)
# Fair share inside a priority level: each further queued intent of one submitter (same
# phase, same priority) ranks this many seconds behind the previous one, so submitters take
# turns. 0 turns it off.
FAIR_SHARE_SECONDS = envfloat("FAIR_SHARE_SECONDS", 30.0)
# Stall detection by progress: claimed work whose progress has not changed for this long is
# flagged `stalled`; after the second time it is re-queued to another executor.
STALL_AFTER_SECONDS = envint("STALL_AFTER_SECONDS", 600)
STALL_REQUEUE_AFTER_SECONDS = envint("STALL_REQUEUE_AFTER_SECONDS", 1800)
# Intents waiting for review longer than this breach the review SLA (event + metric).
REVIEW_SLA_SECONDS = envint("REVIEW_SLA_SECONDS", 4 * 3600)
# How many of the latest progress messages a claim's handoff carries.
HANDOFF_PROGRESS_MESSAGES = envint("HANDOFF_PROGRESS_MESSAGES", 5)

# `admin.ModelAdmin[Intent]` and the like, for mypy: Django's admin classes are not
# subscriptable at run time without this.
django_stubs_ext.monkeypatch()

# --- Security (docs/security.md) ----------------------------------------------------------
# SECRET_KEY, and (below) TLS, CSP and brute-force limits.
SECRET_KEY = security.secret_key(
    configured=os.environ.get("SECRET_KEY", ""), database_url=DATABASE_URL, var_dir=VAR_DIR
)

# SECURE=true: served behind TLS, the proxy in front setting `X-Forwarded-Proto: https`.
# Cookies go over TLS only, browsers are told to use https (HSTS) and plain http is redirected.
SECURE = envbool("SECURE", False)
if SECURE:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 365 * 24 * 3600)
    # Both are choices for the whole domain, which the line rarely owns: off unless asked.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    # The container's HEALTHCHECK and load balancer probes call /health over plain http.
    SECURE_REDIRECT_EXEMPT = [r"^health$"]

# Content-Security-Policy (django-csp) on every HTML page (dashboard, admin, Swagger UI):
# scripts only from our own origin (assemblyline/security.py).
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "csp.middleware.CSPMiddleware",
)
CONTENT_SECURITY_POLICY = security.CONTENT_SECURITY_POLICY

# Brute force. Admin logins go through django-axes: ADMIN_LOGIN_FAILURES failed logins from one
# address lock it out for ADMIN_LOGIN_COOLOFF_SECONDS (429 with Retry-After). Attempts are
# counted in the cache, which is Redis in production, so every process shares the count; the
# embedded default (one process, no Redis) counts in its database.
INSTALLED_APPS.append("axes")
MIDDLEWARE.append("axes.middleware.AxesMiddleware")  # last, as axes asks
# A bearer-token call to the executor endpoints runs a chain without the browser's middleware
# (static files, CSP, sessions, common, CSRF, auth, messages, frames, axes): none of it acts on
# such a call, and together it cost more CPU than the floor's whole request (assemblyline/
# handlers.py; docs/performance.md). Metrics, the NUL guard, the request log and HTTPS stay.
TOKEN_API_PREFIXES = ("/assembly-line/work/", "/assembly-line/executors/")
TOKEN_API_MIDDLEWARE = [
    name
    for name in MIDDLEWARE
    if name
    in (
        "django_prometheus.middleware.PrometheusBeforeMiddleware",
        "core.inputs.url_guard_middleware",
        "core.logs.request_log_middleware",
        "django.middleware.security.SecurityMiddleware",
        "django_prometheus.middleware.PrometheusAfterMiddleware",
    )
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = (
    "executors.login_attempts.LoginAttemptsInCache"
    if REDIS_URL
    else "axes.handlers.database.AxesDatabaseHandler"
)
AXES_FAILURE_LIMIT = envint("ADMIN_LOGIN_FAILURES", 5)
AXES_COOLOFF_TIME = timedelta(seconds=envint("ADMIN_LOGIN_COOLOFF_SECONDS", 900))
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_RESET_ON_SUCCESS = True
# No start-up banner on stdout (commands' output stays theirs); failed logins are still logged.
AXES_VERBOSE = False
# The address the server resolved (REMOTE_ADDR, from the proxy's X-Forwarded-For behind one), not
# a header the client could set itself.
AXES_CLIENT_IP_CALLABLE = "executors.authentication.client_address"
AXES_LOCKOUT_CALLABLE = "executors.authentication.login_locked_out"
# Password checks run on their own few threads (assemblyline/handlers.py), so a burst of
# logins waits for them instead of taking every request thread from /health and executors.
LOGIN_THREADS = envint("LOGIN_THREADS", 2)
# Bad bearer tokens: more than BAD_TOKEN_LIMIT from one address within a window of
# BAD_TOKEN_WINDOW_SECONDS are answered 429 with Retry-After (counted in the cache).
BAD_TOKEN_LIMIT = envint("BAD_TOKEN_LIMIT", 20)
BAD_TOKEN_WINDOW_SECONDS = envint("BAD_TOKEN_WINDOW_SECONDS", 60)
