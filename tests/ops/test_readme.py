"""The README's "Connect an executor" steps, run word for word against the demo (issue 17,
item 8): the commands are read from README.md's code blocks, so the README cannot drift from
what works. Only what a person fills in changes: the tokens in <angle brackets>, the demo's
port (a free one here instead of 8950) and, when the tests run in another virtualenv than the
checkout's `.venv`, that virtualenv's bin directory."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.ops.demo_process import Demo, running_demo
from tests.servers import ROOT

README = ROOT / "README.md"


def connect_an_executor_steps() -> list[list[str]]:
    """The command lines of each code block of the section, in order."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Connect an executor", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^ *```\n(.*?)^ *```", section, re.M | re.S)
    return [[line.strip() for line in block.splitlines() if line.strip()] for block in blocks]


def as_run_here(line: str, demo: Demo, tokens: dict[str, str]) -> str:
    for placeholder, token in tokens.items():
        line = line.replace(f"<{placeholder}>", token)
    assert "<" not in line, f"unfilled placeholder in {line!r}"
    line = line.replace("127.0.0.1:8950", f"127.0.0.1:{demo.port}")
    venv_bin = Path(sys.executable).parent
    if venv_bin != ROOT / ".venv" / "bin":
        line = line.replace(".venv/bin/", f"{venv_bin}/")
    return line


def shell(script: str, demo: Demo, **kw: object) -> subprocess.CompletedProcess[str]:
    # The third terminal sets no URL: the CLI's default is the demo's usual port, 8950.
    env = {**demo.env, "ASSEMBLY_LINE_URL": demo.url}
    return subprocess.run(
        ["sh", "-ec", script], cwd=ROOT, env=env, capture_output=True, text=True, **kw
    )  # type: ignore[call-overload]


def wait_online(demo: Demo, executor_id: str, worker: subprocess.Popen[bytes]) -> None:
    viewer = {"Authorization": f"Bearer {demo.tokens['viewer']}"}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert worker.poll() is None, "the executor loop ended"
        state = httpx.get(f"{demo.url}/assembly-line/state", headers=viewer, timeout=10).json()
        if state["executors"].get(executor_id, {}).get("status", "offline") != "offline":
            return
        time.sleep(1)
    raise AssertionError(f"{executor_id} never came online")


def test_connect_an_executor_word_for_word() -> None:
    steps = connect_an_executor_steps()
    assert [len(step) for step in steps] == [1, 3, 3], steps
    # At the demo's own pace, as a person sees it: its executors leave work for a third one.
    with running_demo(pace="1") as demo:
        # 1. An executor token.
        made = shell(as_run_here(steps[0][0], demo, {}), demo, timeout=120)
        assert made.returncode == 0, made.stderr
        executor_token = made.stdout.strip()
        tokens = {
            "the token from step 1": executor_token,
            "submitter token": demo.tokens["submitter"],
            "viewer token": demo.tokens["viewer"],
        }

        # 2. The executor loop, in its own terminal (a shell of its own, as long as it runs).
        work_log = Path(demo.env["VAR_DIR"]) / "work.log"
        with work_log.open("w") as out:
            worker = subprocess.Popen(
                ["sh", "-ec", "\n".join(as_run_here(line, demo, tokens) for line in steps[1])],
                cwd=ROOT,
                env=demo.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            # A person goes on once the executor is up: it has claimed (it is online).
            wait_online(demo, "my-laptop", worker)
            # 3. Submit, status, watch, in a third terminal.
            submit, status, watch = (as_run_here(line, demo, tokens) for line in steps[2])
            submitted = shell(submit, demo, timeout=60)
            assert submitted.returncode == 0, submitted.stderr
            intent_id = submitted.stdout.split()[0]
            # The example spec passes the spec gate at once: the intent waits for a builder.
            assert " queued in build," in submitted.stdout, submitted.stdout
            shown = shell(status, demo, timeout=60)
            assert shown.returncode == 0, shown.stderr
            assert "my-laptop" in shown.stdout and "demo-server-ai" in shown.stdout
            watching = subprocess.Popen(
                ["sh", "-ec", watch],
                cwd=ROOT,
                env={**demo.env, "ASSEMBLY_LINE_URL": demo.url},
                stdout=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            time.sleep(8)
            assert watching.poll() is None, "watch ended by itself"
            os.killpg(watching.pid, signal.SIGINT)  # Ctrl-C
            lines = watching.communicate(timeout=20)[0].splitlines()
            assert lines and lines[0].startswith("snapshot: queue"), lines

            viewer = {"Authorization": f"Bearer {demo.tokens['viewer']}"}
            with httpx.Client(base_url=demo.url, headers=viewer, timeout=10) as api:
                deadline = time.monotonic() + 180
                while time.monotonic() < deadline:
                    intent = api.get(f"/assembly-line/intents/{intent_id}").json()
                    mine = "[my-laptop] claimed" in work_log.read_text()
                    if intent["status"] == "completed" and mine:
                        break
                    time.sleep(2)
        finally:
            # Ctrl-C in its terminal; then nothing of that terminal may be left running.
            os.killpg(worker.pid, signal.SIGINT)
            try:
                worker.wait(20)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(worker.pid, signal.SIGKILL)
        log = work_log.read_text()
        assert intent["status"] == "completed", (intent, log[-3000:])
        # The executor took its share and said what each gate decided.
        assert "[my-laptop] claimed" in log, log[-3000:]
        assert re.search(r"\[my-laptop\] handed in \S+ \w+ \(completed\); gate passed", log), log[
            -3000:
        ]
        assert "did not pass" not in log and "gate failed" not in log, log[-3000:]
