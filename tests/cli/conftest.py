"""CLI fixtures: the real ``wasmflow serve`` process of tests/api/test_server.py (and the api-wait digests it
shares its artifacts for), reused rather than copied."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

API_TESTS = Path(__file__).resolve().parent.parent / "api"
sys.path.insert(0, str(API_TESTS))

_spec = importlib.util.spec_from_file_location("api_conftest", API_TESTS / "conftest.py")
_api_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_api_conftest)
wait_digests = _api_conftest.wait_digests  # api-wait v1/v2 compiled once per session (test cache)

from test_server import server  # noqa: E402, F401 - a real `wasmflow serve` on a free port
