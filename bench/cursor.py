"""`python -m bench.cursor DATABASE [N]`: what django-prometheus's DB cursor wrapper costs per
query. The same database behind two aliases, Django's PostgreSQL backend and
django-prometheus's wrapper of it; N queries through each, in alternating rounds, each timed
in this process's CPU time. Prints JSON: µs of CPU per query for each, and the difference."""

from __future__ import annotations

import json
import sys
import time

import django
from django.conf import settings

QUERIES = [
    ("SELECT 1", []),
    # One of the hot path's shapes: a primary-key lookup with a parameter.
    ("SELECT id, status FROM intents_intent WHERE id = %s", ["int_none"]),
]


def main() -> None:
    database, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    common = {"NAME": database, "USER": "postgres", "HOST": "127.0.0.1", "PORT": "5432"}
    settings.configure(
        DATABASES={
            "default": {"ENGINE": "django.db.backends.postgresql", **common},
            "wrapped": {"ENGINE": "django_prometheus.db.backends.postgresql", **common},
        },
        INSTALLED_APPS=["django_prometheus"],
        USE_TZ=True,
    )
    django.setup()
    from django.db import connections

    per: dict[str, list[float]] = {"default": [], "wrapped": []}
    for _ in range(5):
        for alias in per:
            with connections[alias].cursor() as cursor:
                start = time.process_time()
                for i in range(n):
                    sql, params = QUERIES[i % len(QUERIES)]
                    cursor.execute(sql, params)
                    cursor.fetchall()
                per[alias].append((time.process_time() - start) / n * 1e6)
    plain, wrapped = min(per["default"]), min(per["wrapped"])
    print(
        json.dumps(
            {
                "queries_per_round": n,
                "rounds": 5,
                "plain_us": round(plain, 1),
                "wrapped_us": round(wrapped, 1),
                "wrapper_us_per_query": round(wrapped - plain, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
