"""The floor: bare Django, one `JsonResponse` view, no middleware, no apps, no database.
This module is its settings and its URLconf (DJANGO_SETTINGS_MODULE=bench.floor); the bench
serves it (bench/floor_asgi.py) with the same server as the app, and a request's server CPU
here is what any Django request costs before our code runs."""

from django.http import HttpRequest, JsonResponse
from django.urls import path

SECRET_KEY = "bench-floor"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
DATABASES: dict[str, dict[str, str]] = {}
ROOT_URLCONF = "bench.floor"
USE_TZ = True


def floor(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [path("floor", floor)]
