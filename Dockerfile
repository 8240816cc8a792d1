# unified-assembly-line: one image for every app process (uvicorn: HTTP + WebSocket on 8950).
# deploy/check_image.py runs these same instructions outside a container in CI.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PORT=8950 VAR_DIR=/app/var STATIC_ROOT=/app/staticfiles

WORKDIR /app

RUN groupadd --system app && useradd --system --gid app --home-dir /app --shell /usr/sbin/nologin app

COPY pyproject.toml README.md manage.py ./
COPY core ./core
COPY assemblyline ./assemblyline
COPY intents ./intents
COPY executors ./executors
COPY verification ./verification
COPY udc ./udc
COPY templates ./templates
COPY static ./static
COPY deploy ./deploy

RUN pip install .

# A key for this one command only: an image must not carry a key (each container makes or
# is given its own).
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput

RUN mkdir -p /app/var && chown -R app:app /app/var

USER app

EXPOSE 8950

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["python", "deploy/healthcheck.py"]

CMD ["sh", "deploy/start.sh"]
