"""Versions and fingerprint of everything that shapes a compiled artifact.

The artifact digest covers them, so upgrading componentize-py, wasmtime, jco or changing the compiler's
own source gives a new digest instead of a stale cache hit.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from importlib import metadata
from pathlib import Path

from app import __version__

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
GUEST_RUNTIME_DIR = REPO_ROOT / "wasm_targets" / "guest"
_FINGERPRINTED = (
    (REPO_ROOT / "app" / "compiler", "*.py"),
    (REPO_ROOT / "app", "capabilities.py"),
    (GUEST_RUNTIME_DIR, "**/*.py"),
)


def jco_path() -> Path:
    return Path(os.environ.get("WASMFLOW_JCO") or REPO_ROOT / "node_modules" / ".bin" / "jco")


def _jco_version() -> str:
    pkg = REPO_ROOT / "node_modules" / "@bytecodealliance" / "jco" / "package.json"
    try:
        return json.loads(pkg.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "missing"


@functools.cache
def versions() -> dict[str, str]:
    return {
        "wasmflow": __version__,
        "componentize-py": metadata.version("componentize-py"),
        "wasmtime": metadata.version("wasmtime"),
        "jco": _jco_version(),
    }


@functools.cache
def fingerprint() -> str:
    """sha256 over the compiler's and guest runtime's source files (paths and bytes, in sorted order)."""
    h = hashlib.sha256()
    files: list[Path] = []
    for base, pattern in _FINGERPRINTED:
        files.extend(base.glob(pattern) if base.is_dir() else [])
        if base.is_file():
            files.append(base)
    for f in sorted(set(files)):
        if "__pycache__" in f.parts:
            continue
        h.update(str(f.relative_to(REPO_ROOT)).encode())
        h.update(b"\0")
        h.update(f.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def shared_runtime() -> bool:
    """Whether workflows compile to a program for the shared runtime (the default) or each to its own
    component (``WASMFLOW_SHARED_RUNTIME=0``, the previous design). Part of the digest: the two never mix."""
    return os.environ.get("WASMFLOW_SHARED_RUNTIME", "1").strip().lower() not in ("0", "false", "no", "off")


def runtime_dir() -> Path:
    """Where shared runtimes are built, one folder per runtime key: shared by every instance of this user
    (``WASMFLOW_RUNTIME_DIR``, else ``$XDG_CACHE_HOME/wasmflow/runtime`` or ``~/.cache/wasmflow/runtime``)."""
    explicit = os.environ.get("WASMFLOW_RUNTIME_DIR")
    if explicit:
        return Path(explicit)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "wasmflow" / "runtime"


def compiler_identity() -> dict[str, str]:
    identity = {**versions(), "fingerprint": fingerprint()}
    if shared_runtime():
        from app.compiler import runtime

        identity["runtime"] = runtime.key()
    return identity


def artifact_digest(canonical_dsl: str) -> str:
    """digest = sha256(canonical DSL + compiler version + toolchain versions [+ shared runtime key]).

    The program, its bytecode and the manifest are functions of the DSL and the compiler; the runtime is a
    function of its key: so the digest covers all three, and the artifact records their hashes."""
    payload = json.dumps({"dsl": canonical_dsl, "compiler": compiler_identity()}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
