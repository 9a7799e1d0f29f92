"""Settings of one wasmflow instance: an instance folder plus environment overrides.

The instance folder holds the embedded SQLite database, the artifact store and (later) the secrets key.
Nothing here imports Flask: the server, the CLI and workers build the same ``Settings``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not an integer") from None


@dataclass(frozen=True)
class Settings:
    instance_dir: Path
    database_url: str
    artifacts_dir: Path
    compile_concurrency: int = 1
    compile_timeout_seconds: int = 300
    max_document_bytes: int = 10 * 1024 * 1024
    extra: dict = field(default_factory=dict)

    @classmethod
    def load(cls, instance_dir: str | os.PathLike[str] = "instance", **overrides) -> Settings:
        """Settings for ``instance_dir``; ``WASMFLOW_*`` environment variables and keyword overrides win."""
        inst = Path(instance_dir).resolve()
        values = {
            "instance_dir": inst,
            "database_url": os.environ.get("WASMFLOW_DATABASE_URL") or f"sqlite:///{inst / 'wasmflow.db'}",
            "artifacts_dir": Path(os.environ.get("WASMFLOW_ARTIFACTS_DIR") or inst / "artifacts"),
            # componentize-py and wasmtime's compiler each keep a core busy; one compile per two cores.
            "compile_concurrency": _env_int("WASMFLOW_COMPILE_CONCURRENCY", max(1, (os.cpu_count() or 2) // 2)),
            "compile_timeout_seconds": _env_int("WASMFLOW_COMPILE_TIMEOUT", 300),
            "max_document_bytes": _env_int("WASMFLOW_MAX_DOCUMENT_BYTES", 10 * 1024 * 1024),
        }
        values.update(overrides)
        return cls(**values)

    def ensure_dirs(self) -> None:
        self.instance_dir.mkdir(parents=True, exist_ok=True)
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)
