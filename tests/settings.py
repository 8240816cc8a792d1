"""Settings for the test suite: the service's own, plus what only tests need."""

import os
import re

# A deployment refuses to start without SECRET_KEY when DATABASE_URL is set; the suite is
# not a deployment (server processes it starts get their own key, tests/servers.py).
os.environ.setdefault("SECRET_KEY", "test-suite-key-not-for-production")


def _redis_db_per_worker() -> None:
    """Under pytest-xdist each worker has its own test database (pytest-django adds `_gw<n>`)
    and here its own Redis database, the next numbers after REDIS_URL's: live keys, limits
    and channel groups of one worker's tests never reach another's."""
    worker, url = os.environ.get("PYTEST_XDIST_WORKER", ""), os.environ.get("REDIS_URL", "")
    match = re.fullmatch(r"(redis://[^/]+)/(\d+)", url)
    if worker.startswith("gw") and match:
        number = int(match.group(2)) + int(worker[2:])
        os.environ["REDIS_URL"] = f"{match.group(1)}/{number}"


_redis_db_per_worker()

from assemblyline.settings import *  # noqa: E402, F403
from assemblyline.settings import ALLOWED_HOSTS  # noqa: E402

# Django's test client calls itself `testserver`; deployments do not accept that name.
ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver"]

# The limits on guessing count per address, and every test calls from 127.0.0.1 (in-process
# and through its servers, tests/servers.py): tests of other things must never trip them.
# tests/security/test_brute_force.py sets them back to the defaults it tests.
BAD_TOKEN_LIMIT = 1_000_000
AXES_FAILURE_LIMIT = 1_000_000

# A million PBKDF2 iterations per password made or checked cost a second of CPU each on a
# shared 2-core runner; the tests of the limits on guessing count attempts, not hash cost.
# test_parallel_failed_logins_do_not_hold_up_health puts production's hasher back.
PASSWORD_HASHERS = ["tests.hashers.OneIterationPBKDF2PasswordHasher"]
