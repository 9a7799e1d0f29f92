"""The shared runtime: one component per toolchain (CPython + guest library + every capability import),
built once, precompiled once, transpiled for browsers once, and used by every workflow program.

It lives under ``<runtime dir>/<key>/`` where ``key`` is a content hash of everything that shapes it (its WIT
world, its app module, the guest library's files, the componentize-py, wasmtime and jco versions), so a new
toolchain builds a new runtime and an old one is never reused by mistake. The build is atomic (a staging
folder renamed into place) and single-flight across threads and processes (a file lock). While it runs,
``status()`` says which step it is on and since when, for the CLI's and the editor's progress display.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.compiler import toolchain, wit
from app.errors import CompileError

COMPONENT = "runtime.wasm"
PRECOMPILED = "runtime.cwasm"
BUNDLE_DIR = "bundle"
INFO = "runtime.json"

# Standard-library modules frozen into the runtime snapshot, so code blocks can import them (at run time the
# sandbox has no files to import from). A workflow whose code imports a module outside this list is built
# as its own component instead (the one reason per-workflow components remain; docs/architecture.md).
MODULES = (
    "_strptime",
    "base64",
    "binascii",
    "bisect",
    "calendar",
    "collections",
    "copy",
    "csv",
    "dataclasses",
    "datetime",
    "decimal",
    "difflib",
    "enum",
    "fractions",
    "functools",
    "hashlib",
    "heapq",
    "hmac",
    "html",
    "ipaddress",
    "itertools",
    "json",
    "math",
    "operator",
    "pprint",
    "random",
    "re",
    "statistics",
    "string",
    "struct",
    "textwrap",
    "time",
    "typing",
    "unicodedata",
    "urllib",
    "urllib.parse",
    "uuid",
    "zlib",
)


def app_source() -> str:
    """The runtime's app module: every capability binding, the preloaded modules, then hardening."""
    from app import capabilities

    modules = ", ".join(c.module for c in capabilities.CAPABILITIES)
    return (
        "# The wasmflow shared runtime (app/compiler/runtime.py): runs any workflow program given as source.\n"
        "import wasmflow_guest as _rt\n"
        "import wit_world\n"
        f"from wit_world.imports import {modules}  # noqa: F401\n"
        "\n"
        f"_rt.preload({list(MODULES)!r})\n"
        "_rt.harden()\n"
        "\n\n"
        "class WitWorld(wit_world.WitWorld):\n"
        "    def compile(self, source: str) -> str:\n"
        "        return _rt.compile_program(source)\n"
        "\n"
        "    def run(self, program: str, input: str) -> str:\n"
        "        return _rt.run_program(program, input)\n"
    )


@functools.cache
def key() -> str:
    """sha256 of the runtime's inputs: same toolchain and guest library, same runtime."""
    h = hashlib.sha256()
    v = toolchain.versions()
    inputs = {
        "wit": wit.runtime_wit_text(),
        "app": app_source(),
        "componentize-py": v["componentize-py"],
        "wasmtime": v["wasmtime"],
        "jco": v["jco"],
    }
    h.update(json.dumps(inputs, sort_keys=True).encode())
    for f in sorted(toolchain.GUEST_RUNTIME_DIR.glob("**/*.py")):
        if "__pycache__" in f.parts:
            continue
        h.update(str(f.relative_to(toolchain.GUEST_RUNTIME_DIR)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


@dataclass(frozen=True)
class Runtime:
    key: str
    path: Path
    component_sha256: str
    component_size: int
    bundle: dict[str, Any]
    build_seconds: float

    @property
    def precompiled_path(self) -> Path:
        return self.path / PRECOMPILED

    @property
    def bundle_dir(self) -> Path:
        return self.path / BUNDLE_DIR

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "component_sha256": self.component_sha256,
            "component_size": self.component_size,
            "bundle": self.bundle,
            "build_seconds": self.build_seconds,
        }


_lock = threading.Lock()
_status: dict[str, Any] = {"state": "idle"}
_loaded: dict[Path, Runtime] = {}


def status() -> dict[str, Any]:
    """What the runtime build is doing now: {"state": idle|building|ready|failed, "step", "elapsed_seconds"}."""
    s = dict(_status)
    if s.get("state") == "building":
        s["elapsed_seconds"] = round(time.monotonic() - s.pop("_t0"), 1)
    s.pop("_t0", None)
    return s


def _read(path: Path) -> Runtime | None:
    try:
        d = json.loads((path / INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (path / PRECOMPILED).is_file() or not (path / COMPONENT).is_file():
        return None
    return Runtime(
        key=d["key"],
        path=path,
        component_sha256=d["component_sha256"],
        component_size=d["component_size"],
        bundle=d["bundle"],
        build_seconds=d.get("build_seconds", 0.0),
    )


def find(root: Path, runtime_key: str | None = None) -> Runtime | None:
    """The runtime ``runtime_key`` (default: this toolchain's) under ``root`` if it is built (no build)."""
    runtime_key = runtime_key or key()
    if len(runtime_key) != 64 or any(c not in "0123456789abcdef" for c in runtime_key):
        return None
    path = Path(root) / runtime_key
    cached = _loaded.get(path)
    if cached is not None:
        return cached
    found = _read(path)
    if found is not None:
        _loaded[path] = found
    return found


def ensure(root: Path, *, timeout: float = 900, progress: Callable[[str], None] | None = None) -> Runtime:
    """The runtime of this toolchain under ``root``, built now if it is not there (minutes on a slow machine)."""
    found = find(root)
    if found is not None:
        return found
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with _lock, open(root / f".{key()}.lock", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)  # one build across processes sharing the folder
        found = find(root)
        if found is not None:
            return found
        _status.clear()
        _status.update(state="building", step="componentize", _t0=time.monotonic())
        try:
            built = _build(root, timeout=timeout, progress=progress)
        except BaseException as exc:
            _status.clear()
            _status.update(state="failed", error=str(exc)[:500])
            raise
        _status.clear()
        _status.update(state="ready", key=built.key)
        _loaded[built.path] = built
        return built


def _step(name: str, progress: Callable[[str], None] | None) -> None:
    _status["step"] = name
    if progress is not None:
        progress(name)


def _build(root: Path, *, timeout: float, progress: Callable[[str], None] | None) -> Runtime:
    from app.compiler import build as component_build
    from app.compiler import bundle
    from app.runtime import wasm

    started = time.perf_counter()
    k = key()
    staging = root / f".staging-{k[:12]}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        _step("componentize", progress)
        component = component_build.build_component(
            app_source(),
            None,
            workdir=staging / "build",
            timeout=timeout,
            world=wit.RUNTIME_WORLD,
        )
        (staging / COMPONENT).write_bytes(component)
        shutil.rmtree(staging / "build", ignore_errors=True)
        _step("bundle", progress)
        bundle_info = bundle.transpile_bundle(staging / COMPONENT, staging / BUNDLE_DIR, timeout=timeout)
        _step("precompile", progress)
        (staging / PRECOMPILED).write_bytes(wasm.precompile(component))
        info = {
            "key": k,
            "component_sha256": hashlib.sha256(component).hexdigest(),
            "component_size": len(component),
            "bundle": bundle_info,
            "build_seconds": round(time.perf_counter() - started, 3),
            "versions": toolchain.versions(),
        }
        (staging / INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        final = root / k
        if final.exists():  # a half-removed folder from an old crash: ours replaces it
            shutil.rmtree(final)
        os.rename(staging, final)
    except CompileError:
        raise
    except Exception as exc:
        raise CompileError(f"building the shared runtime failed: {type(exc).__name__}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    found = _read(root / k)
    if found is None:
        raise CompileError("building the shared runtime failed: its files are incomplete")
    return found
