"""Bulk loading for the benchmark: queued or finished intents straight in SQL
(INSERT ... SELECT generate_series), the same rows the service would have written."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

INSERT = """
INSERT INTO intents_intent (
    id, title, spec_path, spec_text, priority, created_by, created_at, environment_preference,
    requires_human_review, required_capabilities, status, current_phase, phase_progress,
    progress_message, artifacts, verification_level, attempts, max_attempts, queued_at, rank,
    reviewed_by, updated_at, spilled, finished_at)
SELECT
    'int_' || %(prefix)s || lpad(n::text, 10, '0'), 'bulk-' || n, '', %(spec)s,
    (1 + n %% 10)::smallint, 'bulk-' || (n %% 7), now() - make_interval(secs => n %% 3600),
    'either', false, '[]'::jsonb, %(status)s, %(phase)s, '{}'::jsonb, '', '{}'::jsonb,
    %(level)s::smallint, 0, 3, now() - make_interval(secs => n %% 3600),
    now() - make_interval(secs => n %% 3600) - make_interval(secs => (1 + n %% 10) * 600),
    '', now(), false, %(finished)s
FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS n
"""


def bulk(
    conninfo: str,
    *,
    count: int,
    start: int = 1,
    status: str = "queued",
    phase: str = "build",
    prefix: str = "q",
    spec: str = "",
    batch: int = 200_000,
) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        done = 0
        while done < count:
            n = min(batch, count - done)
            conn.execute(
                INSERT,
                {
                    "prefix": prefix,
                    "spec": spec,
                    "status": status,
                    "phase": phase,
                    "level": 6 if status == "completed" else 0,
                    "finished": None if status == "queued" else datetime.now(UTC),
                    "start": start + done,
                    "stop": start + done + n - 1,
                },
            )
            done += n
        conn.execute("ANALYZE intents_intent")


def reset(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE intents_intentevent, verification_verificationrun, intents_intent CASCADE"
        )
