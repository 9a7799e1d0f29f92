"""Content-addressed artifact store: files under ``artifacts/<digest>/``, a row per artifact in the database.

An artifact is published by one ``os.rename`` of a fully written temporary folder, and its row is inserted
only after that, so a failed or interrupted compile leaves nothing half-written behind. Core WebAssembly
modules of browser bundles live once under ``artifacts/core/<sha256>.wasm`` and are shared by workflows.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.errors import NotFound
from app.store import Database
from app.store.models import Artifact

COMPONENT = "component.wasm"
PRECOMPILED = "component.cwasm"
GUEST_SOURCE = "guest.py"
PROGRAM = "program.pyc"  # a program artifact's bytecode, made by the shared runtime
PROGRAM_KIND = "program"  # bundle["kind"] of a program artifact (a component artifact has no kind)
MANIFEST = "manifest.json"
BUNDLE_DIR = "bundle"
CORE_DIR = "core"
_TMP = ".tmp"


@dataclass(frozen=True)
class ArtifactInfo:
    digest: str
    workflow_name: str
    dsl_sha256: str
    compiler: dict[str, Any]
    manifest: dict[str, Any]
    component_sha256: str
    component_size: int
    bundle: dict[str, Any]
    compile_seconds: float
    created_at: datetime

    @property
    def is_program(self) -> bool:
        """A program for the shared runtime (else a component of its own)."""
        return (self.bundle or {}).get("kind") == PROGRAM_KIND

    def to_dict(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "workflow_name": self.workflow_name,
            "dsl_sha256": self.dsl_sha256,
            "compiler": self.compiler,
            "manifest": self.manifest,
            "component_sha256": self.component_sha256,
            "component_size": self.component_size,
            "bundle": self.bundle,
            "compile_seconds": self.compile_seconds,
            "created_at": self.created_at.isoformat(),
        }


def _info(row: Artifact) -> ArtifactInfo:
    return ArtifactInfo(
        digest=row.digest,
        workflow_name=row.workflow_name,
        dsl_sha256=row.dsl_sha256,
        compiler=row.compiler,
        manifest=row.manifest,
        component_sha256=row.component_sha256,
        component_size=row.component_size,
        bundle=row.bundle,
        compile_seconds=row.compile_seconds,
        created_at=row.created_at,
    )


class ArtifactStore:
    """Files and rows of compiled workflows, addressed by digest."""

    def __init__(self, root: Path, db: Database, *, runtime_root: Path | None = None):
        from app.compiler import toolchain

        self.root = Path(root)
        self.db = db
        self.runtime_root = Path(runtime_root) if runtime_root is not None else toolchain.runtime_dir()
        self._runtimes: dict[str, Any] = {}
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / CORE_DIR).mkdir(exist_ok=True)
        self._infos: dict[str, ArtifactInfo] = {}
        self._precompile_lock = threading.Lock()
        self._precompile_locks: dict[str, threading.Lock] = {}

    # -- reading -----------------------------------------------------------------------------------

    def path(self, digest: str) -> Path:
        _check_digest(digest)
        return self.root / digest

    def get(self, digest: str) -> ArtifactInfo | None:
        """The artifact ``digest`` if both its row and its folder exist (rows are immutable: cached)."""
        _check_digest(digest)
        cached = self._infos.get(digest)
        if cached is not None and self._present(cached):
            return cached
        with self.db.session() as s:
            row = s.get(Artifact, digest)
            info = _info(row) if row else None
        if info is None or not self._present(info):
            return None
        self._infos[digest] = info
        return info

    def require(self, digest: str) -> ArtifactInfo:
        info = self.get(digest)
        if info is None:
            raise NotFound(f"no artifact with digest {digest}", details={"digest": digest})
        return info

    def find(self, prefix: str) -> ArtifactInfo:
        """The one artifact whose digest starts with ``prefix`` (at least 8 hex characters)."""
        if len(prefix) == 64:
            return self.require(prefix)
        if len(prefix) < 8 or any(c not in "0123456789abcdef" for c in prefix):
            raise NotFound(f"{prefix!r} is not a digest or a digest prefix of at least 8 hex characters")
        with self.db.session() as s:
            rows = s.query(Artifact).filter(Artifact.digest.like(prefix + "%")).limit(2).all()
            infos = [_info(r) for r in rows]
        if not infos:
            raise NotFound(f"no artifact with a digest starting {prefix}")
        if len(infos) > 1:
            raise NotFound(f"digest prefix {prefix} is ambiguous; give more characters")
        return self.require(infos[0].digest)

    def _present(self, info: ArtifactInfo) -> bool:
        return (self.path(info.digest) / (PROGRAM if info.is_program else COMPONENT)).is_file()

    def program(self, digest: str) -> bytes | None:
        """The bytecode of a program artifact (None for a component artifact)."""
        info = self.require(digest)
        return (self.path(digest) / PROGRAM).read_bytes() if info.is_program else None

    def runtime_for(self, info: ArtifactInfo):
        """The shared runtime a program artifact runs on (built here if this folder lacks it)."""
        from app.compiler import runtime

        wanted = info.bundle["runtime"]
        rt = runtime.find(self.runtime_root, wanted)  # an older toolchain's runtime still serves its programs
        if rt is None and wanted == runtime.key():
            rt = runtime.ensure(self.runtime_root)
        if rt is None:
            raise NotFound(
                f"artifact {info.digest} was compiled for runtime {info.bundle['runtime'][:12]}, "
                f"which is not in {self.runtime_root}: recompile it",
                details={"digest": info.digest},
            )
        return rt

    def runtime_component(self, rt):
        """The loaded (deserialized) shared runtime component, once per process and runtime."""
        comp = self._runtimes.get(rt.key)
        if comp is None:
            from app.runtime import wasm

            comp = self._runtimes[rt.key] = wasm.load_precompiled(rt.precompiled_path)
        return comp

    def read_text(self, digest: str, name: str) -> str:
        return (self.path(digest) / name).read_text(encoding="utf-8")

    def precompiled_path(self, digest: str) -> Path:
        """The server's precompiled form of ``digest``, produced now if the background job has not yet.

        Publishing does not wait for it (the browser needs only the component and bundle), so the first run
        of a fresh artifact may wait here; one compile per digest at a time, written atomically.
        """
        path = self.path(digest) / PRECOMPILED
        if path.is_file():
            return path
        info = self.get(digest)
        if info is not None and info.is_program:
            return self.runtime_for(info).precompiled_path
        with self._precompile_lock:
            lock = self._precompile_locks.setdefault(digest, threading.Lock())
        with lock, open(self.path(digest) / ".precompile.lock", "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)  # and across processes: workers sharing the folder
            if not path.is_file():
                from app.runtime import wasm

                native = wasm.precompile((self.path(digest) / COMPONENT).read_bytes())
                tmp = path.with_name(f".{PRECOMPILED}.{uuid.uuid4().hex[:8]}")
                tmp.write_bytes(native)
                os.replace(tmp, path)
        return path

    def core_module_path(self, name: str) -> Path:
        """The shared core module ``<sha256>.wasm`` (or given by its bare hash)."""
        sha = name.removesuffix(".wasm")
        _check_digest(sha)
        return self.root / CORE_DIR / f"{sha}.wasm"

    # -- writing -----------------------------------------------------------------------------------

    def staging(self, digest: str) -> Path:
        """A fresh private folder to build ``digest`` in; ``publish`` moves it into place."""
        tmp = self.root / _TMP / f"{digest}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        return tmp

    def publish(self, staging: Path, info: ArtifactInfo) -> ArtifactInfo:
        """Move a fully written staging folder into place, then record the row (in that order)."""
        final = self.path(info.digest)
        core_dir = self.root / CORE_DIR
        for name in info.bundle.get("core_modules", {}):  # "<sha256>.wasm" -> {"size": ...}
            src = staging / BUNDLE_DIR / name
            dst = core_dir / name
            if src.exists():
                if dst.exists():
                    src.unlink()
                else:
                    os.replace(src, dst)
        (staging / MANIFEST).write_text(json.dumps(info.manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if final.exists():
            # Another compile of the same digest won the race; its files are equivalent.
            shutil.rmtree(staging, ignore_errors=True)
        else:
            try:
                os.rename(staging, final)
            except OSError:
                shutil.rmtree(staging, ignore_errors=True)
                if not final.exists():
                    raise
        with self.db.session() as s:
            if s.get(Artifact, info.digest) is None:
                s.add(
                    Artifact(
                        digest=info.digest,
                        workflow_name=info.workflow_name,
                        dsl_sha256=info.dsl_sha256,
                        compiler=info.compiler,
                        manifest=info.manifest,
                        component_sha256=info.component_sha256,
                        component_size=info.component_size,
                        bundle=info.bundle,
                        compile_seconds=info.compile_seconds,
                        created_at=info.created_at,
                    )
                )
        return self.require(info.digest)

    def attach_bundle(self, digest: str, bundle_dir: Path, bundle: dict[str, Any]) -> ArtifactInfo:
        """Add a browser bundle to an artifact published without one (``wasmflow run`` skips it). The
        component, and so the digest, is unchanged: the bundle folder is renamed into place whole, then the
        row records it. A bundle folder already there (another process attached one; or one attached
        through another database sharing this folder) is kept when its entry is the same as ours (jco is
        deterministic), else swapped for ours, so that the row always describes the files on disk."""
        core_dir = self.root / CORE_DIR
        for name in bundle.get("core_modules", {}):
            src, dst = bundle_dir / name, core_dir / name
            if src.exists():
                if dst.exists():
                    src.unlink()
                else:
                    os.replace(src, dst)
        target = self.path(digest) / BUNDLE_DIR
        try:
            os.rename(bundle_dir, target)
        except OSError:
            existing = target / bundle["entry"]
            if existing.is_file() and hashlib.sha256(existing.read_bytes()).hexdigest() == bundle["entry_sha256"]:
                shutil.rmtree(bundle_dir, ignore_errors=True)
            else:
                aside = target.with_name(f".{BUNDLE_DIR}.{uuid.uuid4().hex[:8]}")
                os.rename(target, aside)
                os.rename(bundle_dir, target)
                shutil.rmtree(aside, ignore_errors=True)
        with self.db.session() as s:
            row = s.get(Artifact, digest)
            if row is not None and row.bundle != bundle:
                row.bundle = bundle
        self._infos.pop(digest, None)
        return self.require(digest)

    def discard(self, staging: Path) -> None:
        shutil.rmtree(staging, ignore_errors=True)

    def sweep_staging(self, older_than_seconds: float = 3600) -> int:
        """Remove staging folders left by interrupted compiles; returns how many were removed."""
        tmp_root = self.root / _TMP
        if not tmp_root.exists():
            return 0
        cutoff = time.time() - older_than_seconds
        removed = 0
        for d in tmp_root.iterdir():
            if d.stat().st_mtime < cutoff:
                shutil.rmtree(d, ignore_errors=True)
                removed += 1
        return removed


def now() -> datetime:
    return datetime.now(UTC)


def _check_digest(digest: str) -> None:
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise NotFound(f"{digest!r} is not a sha256 digest (64 lowercase hex characters)")
