"""Shared test set-up: remembered schema verdicts go to a throw-away folder."""

from __future__ import annotations

import os
import tempfile

# Set at import, before any test (or CLI child process) starts: the user's own cache
# (~/.cache/linepress) is never read or written by the tests.
os.environ["LINEPRESS_CACHE_DIR"] = tempfile.mkdtemp(prefix="linepress-test-cache-")
