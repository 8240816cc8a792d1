"""The command a CLI executor runs in the client tests: reads the intent from stdin, prints
progress lines, writes the phase's artifacts, and records what it was given."""

import json
import os
import sys
import time
from pathlib import Path

SPEC = """# cli-built - SPEC
## Purpose
Built by two CLI executors.
## Requirements
- [ ] answers
## API Specs
GET /health
## Dependencies
None
## Success Criteria
- [ ] it works
"""

ARTIFACTS = {
    "spec": {"spec_text": SPEC},
    "build": {"build_output": "compiled", "commit": "c0ffee", "files": ["app.py"]},
    "test": {
        "test_results": {"passed": 30, "failed": 0, "skipped": 0, "coverage": 90.0},
        "quality": {"lint_errors": 0, "type_errors": 0, "warnings": []},
        "security": {"high": 0, "medium": 0, "low": 0, "secrets": 0},
    },
    "production": {
        "rollback_plan": "redeploy previous",
        "files": ["README.md", "SPEC.md", "docs/api.md", "Dockerfile"],
    },
}

given = json.loads(sys.stdin.read())
phase = os.environ["ASSEMBLY_LINE_PHASE"]
assert given["intent"]["id"] == os.environ["ASSEMBLY_LINE_INTENT_ID"]
executor_id = os.environ["ASSEMBLY_LINE_EXECUTOR_ID"]
record = Path(os.environ["RECORD_DIR"]) / f"{phase}-{executor_id}.json"
env = {
    k: v
    for k, v in os.environ.items()
    if k.startswith("ASSEMBLY_LINE_") and k != "ASSEMBLY_LINE_TOKEN"
}
record.write_text(json.dumps({"stdin": given, "env": env}))
print(f"starting {phase}", flush=True)
for step in (0.3, 0.6, 0.9):
    print(f"PROGRESS {step} {phase} step {step}", flush=True)
    time.sleep(0.05)
if os.environ.get("FAIL_PHASE") == phase and given["handoff"]["attempt"] == 1:
    print("something broke", flush=True)
    sys.exit(3)
artifacts = ARTIFACTS[phase]
if os.environ.get("GATE_FAIL_PHASE") == phase and given["handoff"]["attempt"] == 1:
    artifacts = {**artifacts, "test_results": {"passed": 28, "failed": 2, "coverage": 90.0}}
Path(os.environ["ASSEMBLY_LINE_ARTIFACTS_FILE"]).write_text(json.dumps(artifacts))
