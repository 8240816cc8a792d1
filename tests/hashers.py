"""The password hasher of the test process: production's PBKDF2 at one iteration.

Passwords made here are checked by the suite's server processes too, which run production's
settings: the same algorithm name and format, with the iteration count stored in the hash,
lets them check these (and upgrade them on a successful login, as after a settings change)."""

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class OneIterationPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    iterations = 1
