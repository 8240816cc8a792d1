"""Container HEALTHCHECK: GET /health on this process; healthy when it answers 200 (`ok`, or
`degraded` while Redis is away: the line still works from PostgreSQL)."""

import json
import os
import sys
import urllib.request

url = f"http://127.0.0.1:{os.environ.get('PORT', '8950')}/health"
try:
    with urllib.request.urlopen(url, timeout=4) as response:
        status = json.load(response).get("status")
except Exception as exc:  # refused, timeout, 503, not JSON
    print(f"unhealthy: {exc}")
    sys.exit(1)
print(f"health: {status}")
sys.exit(0 if status in ("ok", "degraded") else 1)
