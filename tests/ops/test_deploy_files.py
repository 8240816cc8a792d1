"""The deploy files say what the README promises (no Docker engine here to run them; CI runs
the Dockerfile's own instructions with deploy/check_image.py)."""

from __future__ import annotations

from pathlib import Path

import yaml

from deploy.check_image import instructions

ROOT = Path(__file__).resolve().parent.parent.parent


def test_dockerfile_is_slim_non_root_with_healthcheck() -> None:
    steps = instructions(ROOT / "Dockerfile")
    words = [word for word, _ in steps]
    assert steps[0][0] == "FROM" and "slim" in steps[0][1]
    assert ("USER", "app") in steps and words.index("USER") > words.index("RUN")
    assert ("EXPOSE", "8950") in steps
    assert any(w == "RUN" and "collectstatic" in a for w, a in steps)
    assert any(w == "HEALTHCHECK" and "deploy/healthcheck.py" in a for w, a in steps)
    assert words[-1] == "CMD"


def test_compose_runs_two_app_replicas_behind_a_load_balancer() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["db"]["image"].startswith("postgres:15")
    assert services["redis"]["image"].startswith("redis:7")
    app = services["app"]
    assert app["deploy"]["replicas"] == 2
    assert app["environment"]["DATABASE_URL"].endswith("@db:5432/assemblyline")
    assert app["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert app["environment"]["MIGRATE_ON_START"] == "false"
    assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"][:3] == ["python", "manage.py", "migrate"]
    lb = services["lb"]
    assert lb["ports"] == ["8950:80"]
    conf_path = lb["volumes"][0].split(":")[0]
    conf = (ROOT / conf_path).read_text()
    assert "server app:8950" in conf and "Upgrade" in conf and "proxy_read_timeout" in conf


def test_systemd_unit_runs_the_same_start_script() -> None:
    unit = (ROOT / "deploy" / "assembly-line@.service").read_text()
    assert "ExecStart=/bin/sh deploy/start.sh" in unit
    assert "Environment=PORT=%i" in unit and "User=assembly-line" in unit
    assert "Restart=always" in unit
