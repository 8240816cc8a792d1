"""Bench-only settings: the app with the lean middleware chain a token-authenticated API request
needs (request metrics, the NUL guard, the request log), to measure what the rest of the chain
(security, CSP, WhiteNoise, sessions, common, CSRF, auth, messages, clickjacking, axes) costs per
executor call. Not for serving: the admin and the dashboard need the full chain."""

from assemblyline.settings import *  # noqa: F403

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "core.inputs.url_guard_middleware",
    "core.logs.request_log_middleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]
