#!/bin/sh
# Start one app process: migrate (unless MIGRATE_ON_START=false, e.g. when a one-shot
# migrate job runs first, as in docker-compose.yml), then the app server on $PORT
# (assemblyline/serve.py: uvicorn; SERVER=daphne for Daphne).
# -v 0: no access log; every request is a JSON `request` line of the app's own.
set -e
if [ "${MIGRATE_ON_START:-true}" = "true" ]; then
  python manage.py migrate --noinput -v 0
fi
exec python -m assemblyline.serve -b "${BIND:-0.0.0.0}" -p "${PORT:-8950}" -v 0 --proxy-headers
