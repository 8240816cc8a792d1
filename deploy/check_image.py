"""Run the Dockerfile's own instructions outside a container (no Docker engine in CI), so
the image recipe is known to work: COPY into a scratch /app, ENV, RUN (install,
collectstatic), then CMD (migrate + Daphne) and the HEALTHCHECK command until healthy, and a
few requests against the started process.

    python deploy/check_image.py            (DATABASE_URL / REDIS_URL: the servers to use)

Instructions that need the image's root and user database (useradd, chown) are reported and
skipped; USER is reported. Exit status 0 only when every step passed."""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP_WORDS = ("useradd", "groupadd", "chown")


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    result, buffer = [], ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        line, buffer = buffer + line, ""
        word, _, rest = line.partition(" ")
        result.append((word.upper(), rest.strip()))
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def step(text: str) -> None:
    print(f"--- {text}", flush=True)


def main() -> int:
    scratch = Path(tempfile.mkdtemp(prefix="image-check-"))
    app = scratch / "app"
    app.mkdir()
    venv = scratch / "venv"
    step(f"python -m venv {venv} (stands in for the base image's Python)")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    port = free_port()
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"}
    env.pop("VIRTUAL_ENV", None)
    workdir = app
    health_cmd: list[str] = []
    cmd: list[str] = []
    for word, args in instructions(ROOT / "Dockerfile"):
        if word == "FROM":
            step(f"FROM {args}: using {sys.version.split()[0]} in a fresh venv")
        elif word == "ENV":
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                env[key] = value.replace("/app", str(app))
        elif word == "WORKDIR":
            workdir = app if args == "/app" else app / args.lstrip("/")
        elif word == "COPY":
            *sources, dest = shlex.split(args)
            target = workdir / dest if not dest.startswith("/") else app / dest.lstrip("/")
            for source in sources:
                src = ROOT / source
                if src.is_dir():  # COPY dir ./dir
                    shutil.copytree(src, target, dirs_exist_ok=True)
                else:  # COPY file file ./
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, target / src.name)
            step(f"COPY {args}")
        elif word == "RUN":
            if any(w in args for w in SKIP_WORDS):
                step(f"RUN {args}: skipped (needs the image's root and user database)")
                continue
            step(f"RUN {args}")
            subprocess.run(["sh", "-c", args], cwd=workdir, env=env, check=True)
        elif word == "USER":
            step(f"USER {args}: reported (runs as the current user here)")
        elif word == "HEALTHCHECK":
            health_cmd = json.loads(args[args.index("CMD") + 3 :].strip())
        elif word == "CMD":
            cmd = json.loads(args)
        elif word == "EXPOSE":
            step(f"EXPOSE {args}: serving on free port {port} instead")
    env["PORT"] = str(port)
    # A deployment must bring its own key (DATABASE_URL set and no SECRET_KEY: no start).
    env.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    if not cmd or not health_cmd:
        print("the Dockerfile needs a CMD and a HEALTHCHECK CMD")
        return 1

    step(f"CMD {cmd} (PORT={port}, DATABASE_URL={env.get('DATABASE_URL', '<sqlite>')})")
    log = (scratch / "server.log").open("w")
    server = subprocess.Popen(
        cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        step(f"HEALTHCHECK {health_cmd}")
        deadline = time.monotonic() + 90
        while True:
            probe = subprocess.run(health_cmd, cwd=workdir, env=env, capture_output=True, text=True)
            if probe.returncode == 0:
                print(probe.stdout.strip())
                break
            if server.poll() is not None or time.monotonic() > deadline:
                print((scratch / "server.log").read_text()[-4000:])
                print(f"not healthy: {probe.stdout.strip()}")
                return 1
            time.sleep(1)
        base = f"http://127.0.0.1:{port}"
        for path in ("/health", "/api/schema/", "/static/dashboard/dashboard.js", "/capabilities"):
            with urllib.request.urlopen(base + path, timeout=10) as response:
                assert response.status == 200, (path, response.status)
            step(f"GET {path}: 200")
        lines = (scratch / "server.log").read_text().splitlines()
        bad = [line for line in lines if line.strip() and not line.startswith("{")]
        if bad:
            print(f"non-JSON log lines: {bad[:5]}")
            return 1
        step(f"{len(lines)} log lines, all JSON")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(20)
        shutil.rmtree(scratch, ignore_errors=True)
    print("image recipe OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
