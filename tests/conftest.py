"""Shared test set-up: remembered schema verdicts go to a throw-away folder."""

from __future__ import annotations

import os
import tempfile

# Set at import, before any test (or CLI child process) starts: the user's own cache
# (~/.cache/linepress) is never read or written by the tests. Removed at exit.
_CACHE = tempfile.TemporaryDirectory(prefix="linepress-test-cache-")
os.environ["LINEPRESS_CACHE_DIR"] = _CACHE.name

from hypothesis import settings  # noqa: E402
from postgres import pg_cluster, pg_database  # noqa: E402, F401  (fixtures for tests that use them)

# No test asserts a duration (the brief): hypothesis's per-example deadline is a timed
# assertion that fails on a loaded 2-core machine, so it is off everywhere.
settings.register_profile("linepress", deadline=None)
settings.load_profile("linepress")
