"""Per-process request counters for the UDC `GET /state`: requests in total, in the last
minute (per-second buckets) and 5xx errors in the last hour (per-minute buckets)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class RequestStats:
    def __init__(self) -> None:
        self.started = time.time()
        self.total = 0
        self.errors = 0
        self._lock = threading.Lock()
        self._seconds = [(0, 0)] * 60  # (epoch second, count)
        self._minutes = [(0, 0)] * 60  # (epoch minute, 5xx count)

    def record(self, status: int, now: float | None = None) -> None:
        now = time.time() if now is None else now
        second, minute = int(now), int(now // 60)
        with self._lock:
            self.total += 1
            slot, count = self._seconds[second % 60]
            self._seconds[second % 60] = (second, count + 1 if slot == second else 1)
            if status >= 500:
                self.errors += 1
                slot, count = self._minutes[minute % 60]
                self._minutes[minute % 60] = (minute, count + 1 if slot == minute else 1)

    def snapshot(self, now: float | None = None) -> dict[str, object]:
        now = time.time() if now is None else now
        second, minute = int(now), int(now // 60)
        with self._lock:
            last_minute = sum(c for s, c in self._seconds if second - 60 < s <= second)
            last_hour = sum(c for m, c in self._minutes if minute - 60 < m <= minute)
            total = self.total
        return {
            "uptime_seconds": round(now - self.started, 3),
            "requests_total": total,
            "requests_per_minute": last_minute,
            "errors_last_hour": last_hour,
            "last_restart": datetime.fromtimestamp(self.started, UTC).isoformat(),
        }


stats = RequestStats()
