"""The floor's ASGI application: Django's own handler, bench.floor as settings."""

import os

from django.core.asgi import get_asgi_application

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.floor"
application = get_asgi_application()
