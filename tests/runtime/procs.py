"""Real ``wasmflow`` processes for crash and restart tests (killed with -9, restarted, run side by side)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def wasmflow_process(args, *, instance: Path, database_url: str, artifacts: Path) -> subprocess.Popen:
    """``wasmflow --instance INSTANCE ARGS`` on this database and artifact store, with 1 s leases so that a
    killed owner's runs are taken over quickly."""
    env = {
        **os.environ,
        "WASMFLOW_DATABASE_URL": database_url,
        "WASMFLOW_ARTIFACTS_DIR": str(artifacts),
        "WASMFLOW_LEASE_SECONDS": "1",
    }
    cmd = [sys.executable, "-c", "from app.cli import main; main()", "--instance", str(instance), *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
