"""`assembly-line work`: the executor loop around a command (cli.py parses its arguments).

Each claimed intent runs COMMAND with the intent as JSON on stdin and in env vars; the lines it
prints as `PROGRESS 0.4 message` become progress reports; its exit and the JSON object it wrote
to $ASSEMBLY_LINE_ARTIFACTS_FILE hand the phase in."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any, TextIO

from assembly_line_client.client import Client
from assembly_line_client.errors import ApiError, Conflict, Forbidden, LineError
from assembly_line_client.models import Completion, Work

PROGRESS_PREFIX = "PROGRESS "


def completion_outcome(result: Completion) -> str:
    """What the gate decided, in words: where the intent goes next, or which checks failed."""
    gate = result.gate
    if gate is None:
        outcome = "reported failed, no gate ran"
    elif gate.get("passed"):
        if result.status == "awaiting_review":
            return "gate passed; awaiting review"
        if result.status == "completed":
            return "gate passed; intent completed"
        return f"gate passed; next phase {result.next_phase}"
    else:
        checks = {
            name: c
            for name, c in (gate.get("checks") or {}).items()
            if isinstance(c, dict) and not c.get("passed")
        }
        # Non-blocking failures (e.g. quality) are named only when nothing blocking failed.
        blocking = {name: c for name, c in checks.items() if c.get("blocking", True)}
        named = "; ".join(
            f"{name} (level {c.get('level')}): {c.get('detail', '')}"
            for name, c in (blocking or checks).items()
        )
        outcome = f"gate failed: {named}" if named else "gate failed"
    if result.status == "failed":
        return f"{outcome}; the intent failed (no attempts left)"
    return f"{outcome}; back in the queue for {result.next_phase}"


class Executor:
    """The `work` loop: one intent at a time."""

    def __init__(self, line: Client, args: argparse.Namespace, out: TextIO) -> None:
        self.line = line
        self.args = args
        self.out = out
        self.executor_id = args.executor_id
        self.stop = threading.Event()

    def say(self, text: str) -> None:
        print(f"[{self.executor_id}] {text}", file=self.out, flush=True)

    def loop(self) -> int:
        if self.args.environment or self.args.capability:
            try:
                self.line.register(
                    self.executor_id,
                    environment=self.args.environment,
                    capabilities=self.args.capability or None,
                )
            except Forbidden as exc:
                # An executor's environment and capabilities are an admin's to set.
                self.say(f"registration refused: {exc.message}")
                self.say(
                    "run `work` without --environment/--capability to work as the "
                    "executor is registered, or ask an admin to change it"
                )
                return 1
        done = 0
        with self.line.heartbeats(self.executor_id, interval=self.args.heartbeat):
            while not self.stop.is_set():
                try:
                    work = self.line.next_work(self.executor_id, wait=self.args.wait)
                except LineError as exc:
                    self.say(f"claim failed: {exc}")
                    self.stop.wait(2)
                    continue
                if not work.assigned:
                    continue
                self.run(work)
                done += 1
                if self.args.max_items and done >= self.args.max_items:
                    break
        return 0

    def run(self, work: Work) -> None:
        assert work.intent is not None
        intent, phase = work.intent, work.intent.current_phase
        self.say(
            f"claimed {intent.id} ({intent.title}) for {phase}, "
            f"attempt {work.handoff.get('attempt', 1)}"
        )
        with tempfile.TemporaryDirectory(prefix="assembly-line-") as tmp:
            artifacts_file = Path(tmp) / "artifacts.json"
            intent_file = Path(tmp) / "intent.json"
            payload = json.dumps({"intent": intent.raw, "handoff": work.handoff})
            intent_file.write_text(payload)
            env = {
                **os.environ,
                "ASSEMBLY_LINE_INTENT_ID": intent.id,
                "ASSEMBLY_LINE_PHASE": phase,
                "ASSEMBLY_LINE_TITLE": intent.title,
                "ASSEMBLY_LINE_ATTEMPT": str(work.handoff.get("attempt", 1)),
                "ASSEMBLY_LINE_EXECUTOR_ID": self.executor_id,
                "ASSEMBLY_LINE_INTENT_FILE": str(intent_file),
                "ASSEMBLY_LINE_ARTIFACTS_FILE": str(artifacts_file),
            }
            process = subprocess.Popen(
                self.args.command,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
            )
            assert process.stdin is not None and process.stdout is not None
            try:
                process.stdin.write(payload)
                process.stdin.close()
            except BrokenPipeError:
                pass
            tail: list[str] = []
            lost = False
            for line in process.stdout:
                line = line.rstrip("\n")
                if line.startswith(PROGRESS_PREFIX) and not lost:
                    lost = not self.progress(intent.id, phase, line[len(PROGRESS_PREFIX) :])
                    if lost:
                        process.terminate()
                else:
                    print(line, file=self.out, flush=True)
                    tail = (tail + [line])[-20:]
            code = process.wait()
            if lost:
                self.say(f"{intent.id} is no longer ours; stopped the command")
                return
            self.complete(intent.id, phase, code, artifacts_file, tail)

    def progress(self, intent_id: str, phase: str, text: str) -> bool:
        value, _, message = text.partition(" ")
        try:
            fraction = min(max(float(value), 0.0), 1.0)
        except ValueError:
            self.say(f"ignored progress line {text!r}: not 'PROGRESS <0..1> message'")
            return True
        try:
            self.line.progress(intent_id, self.executor_id, phase, fraction, message)
        except Conflict as exc:
            self.say(f"progress refused: {exc.message}")
            return False
        except LineError as exc:
            self.say(f"progress not reported: {exc}")
        return True

    def complete(
        self, intent_id: str, phase: str, code: int, artifacts_file: Path, tail: list[str]
    ) -> None:
        artifacts: dict[str, Any] = {}
        status = "completed" if code == 0 else "failed"
        if artifacts_file.exists():
            try:
                loaded = json.loads(artifacts_file.read_text(encoding="utf-8"))
                if not isinstance(loaded, dict):
                    raise ValueError("not a JSON object")
                artifacts = loaded
            except ValueError as exc:
                self.say(f"artifacts file unreadable ({exc}); reporting the phase failed")
                status = "failed"
        if status == "failed":
            artifacts.setdefault("error_output", "\n".join(tail)[-4000:])
            artifacts.setdefault("exit_code", code)
        try:
            result = self.line.complete(
                intent_id, self.executor_id, artifacts, status=status, phase=phase
            )
        except ApiError as exc:
            self.say(f"complete refused: {exc}")
            return
        self.say(f"handed in {intent_id} {phase} ({status}); {completion_outcome(result)}")
