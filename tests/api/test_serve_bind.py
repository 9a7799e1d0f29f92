"""`wasmflow serve` binds loopback by default and refuses an open bind unless told the API is open."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.cli.server_commands import _is_loopback


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "192.168.0.10"])
def test_non_loopback_bind_is_refused_with_the_flag_named(tmp_path, host):
    result = CliRunner().invoke(cli, ["--instance", str(tmp_path), "serve", "--host", host, "--port", "1"])
    assert result.exit_code == 2
    assert "refusing to bind" in result.output and "--i-understand-the-api-is-open" in result.output


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("127.0.0.2", True),
        ("0.0.0.0", False),
        ("8.8.8.8", False),
    ],
)
def test_loopback_detection(host, loopback):
    assert _is_loopback(host) is loopback
