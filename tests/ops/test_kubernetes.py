"""The Kubernetes manifests (deploy/kubernetes/) render, validate offline against the
Kubernetes schemas (.ci/k8s), and say what docs/deploy.md promises. Without a kubectl these
skip on a laptop; under CI=true .ci/k8s fetches one, and a failure to is a failure."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from django.conf import settings

from tests.conftest import IN_CI, need
from tests.servers import Server, free_port

ROOT = Path(__file__).resolve().parent.parent.parent
RENDERED = ROOT / ".ci" / ".k8s-rendered"


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    need(IN_CI or shutil.which("kubectl") is not None, "kubectl")
    result = subprocess.run(
        ["bash", ".ci/k8s", "--no-checkov"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert result.stdout.count(" 0 problems") == 2, result.stdout[-2000:]
    return {
        overlay: [d for d in yaml.safe_load_all((RENDERED / f"{overlay}.yaml").read_text()) if d]
        for overlay in ("small", "fleet")
    }


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind}"
    return found[0]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def test_both_overlays_render_and_every_object_validates(rendered: Any) -> None:
    for docs in rendered.values():
        assert all(
            d["metadata"].get("namespace") == "assembly-line"
            for d in docs
            if d["kind"] != "Namespace"
        )


def test_app_pods_probe_health_drain_past_the_long_poll_and_never_migrate(rendered: Any) -> None:
    for docs in rendered.values():
        pod = one(docs, "Deployment")["spec"]["template"]["spec"]
        app = pod["containers"][0]
        assert app["readinessProbe"]["httpGet"]["path"] == "/health"
        assert app["livenessProbe"]["httpGet"]["path"] == "/capabilities"
        pre_stop = int(app["lifecycle"]["preStop"]["exec"]["command"][-1])
        # The server ends what it holds on SIGTERM: preStop must outlast every held long poll.
        assert pre_stop > settings.LONG_POLL_MAX_SECONDS
        assert pod["terminationGracePeriodSeconds"] > pre_stop
        for container in pod["initContainers"] + pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["resources"]["limits"]["memory"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        # Host headers: the Ingress host, and the pod IP the probes and Prometheus use.
        assert env_of(app)["ALLOWED_HOSTS"]["value"] == "$(PUBLIC_HOST),$(POD_IP)"
        assert env_of(app)["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
        config = one(docs, "ConfigMap")["data"]
        assert config["MIGRATE_ON_START"] == "false"
        assert config["REDIS_SENTINEL_MASTER"] and config["REDIS_SENTINELS"].count(":26379") == 3
        assert pod["initContainers"][0]["command"][-3:] == ["migrate", "--check", "--noinput"]
        job = one(docs, "Job")["spec"]["template"]["spec"]["containers"][0]
        assert job["command"] == ["python", "manage.py", "migrate", "--noinput"]


def test_a_release_can_apply_all_but_the_deployment_first(rendered: Any) -> None:
    """docs/deploy.md: `kubectl apply -l 'app.kubernetes.io/component!=web'` runs the migrate
    Job (with this release's ConfigMap and the ServiceAccount it needs) before the rollout."""
    for docs in rendered.values():
        first = {
            d["kind"]
            for d in docs
            if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") != "web"
        }
        assert "Deployment" not in first
        assert {"Job", "ConfigMap", "ServiceAccount", "NetworkPolicy"} <= first


def test_secrets_come_from_secrets_and_none_is_in_the_manifests(rendered: Any) -> None:
    for docs in rendered.values():
        assert not [d for d in docs if d["kind"] == "Secret"]
        pod = one(docs, "Deployment")["spec"]["template"]["spec"]
        env = env_of(pod["containers"][0])
        for name in ("SECRET_KEY", "DATABASE_URL", "REDIS_PASSWORD"):
            assert "secretKeyRef" in env[name]["valueFrom"]
        config = one(docs, "ConfigMap")["data"]
        assert not {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"} & set(config)


def test_fleet_scales_by_hpa_on_cloudnativepg_with_a_pooler(rendered: Any) -> None:
    small, fleet = rendered["small"], rendered["fleet"]
    assert one(small, "Deployment")["spec"]["replicas"] == 2
    assert not [d for d in small if d["kind"] in ("HorizontalPodAutoscaler", "Cluster")]
    assert "replicas" not in one(fleet, "Deployment")["spec"]  # the HPA owns it
    hpa = one(fleet, "HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"]["name"] == "assembly-line"
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"
    assert one(fleet, "Cluster")["spec"]["instances"] == 3
    pooler = one(fleet, "Pooler")["spec"]
    assert pooler["type"] == "rw" and pooler["pgbouncer"]["poolMode"] == "session"
    assert one(fleet, "ServiceMonitor")["spec"]["endpoints"][0]["path"] == "/metrics"
    egress = one(fleet, "NetworkPolicy")["spec"]["egress"]
    assert {"cnpg.io/poolerName": "assembly-line-db-pooler-rw"} in [
        peer.get("podSelector", {}).get("matchLabels") for rule in egress for peer in rule["to"]
    ]


def test_ingress_keeps_websockets_and_long_polls_open(rendered: Any) -> None:
    for docs in rendered.values():
        annotations = one(docs, "Ingress")["metadata"]["annotations"]
        for timeout in ("proxy-read-timeout", "proxy-send-timeout"):
            value = int(annotations[f"nginx.ingress.kubernetes.io/{timeout}"])
            assert value > settings.LONG_POLL_MAX_SECONDS
        assert one(docs, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


def test_probes_readiness_needs_the_database_liveness_does_not() -> None:
    """What the Deployment's probes rely on, against a real server whose database is down:
    /health (readiness) is 503, so the pod leaves the Service; /capabilities (liveness and
    start-up) still answers, so Kubernetes does not restart pods during a database outage."""
    dead = f"postgres://postgres@127.0.0.1:{free_port()}/nothing"
    server = Server(
        {
            "DATABASE_URL": dead,
            "REDIS_URL": "",
            "DB_POOL_TIMEOUT": "1",
            "ALLOWED_HOSTS": "assembly-line.example.com,127.0.0.1",
        }
    ).start()
    try:
        # The kubelet's Host is the pod IP (here 127.0.0.1); any other host is refused.
        assert (
            httpx.get(
                server.url + "/capabilities", headers={"Host": "evil.example"}, timeout=10
            ).status_code
            == 400
        )
        health = httpx.get(server.url + "/health", timeout=10)
        assert health.status_code == 503 and health.json()["status"] == "unavailable"
        assert httpx.get(server.url + "/capabilities", timeout=10).status_code == 200
    finally:
        server.stop()
