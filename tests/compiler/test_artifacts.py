"""The artifact store: atomic publish, lookups by digest and prefix, shared core modules, staging sweep."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from app.compiler import artifacts
from app.compiler.artifacts import ArtifactInfo, ArtifactStore
from app.errors import NotFound
from app.store.db import Database


@pytest.fixture
def store(tmp_path: Path, database_url: str) -> ArtifactStore:
    db = Database(database_url)
    db.upgrade()
    yield ArtifactStore(tmp_path / "artifacts", db)
    db.dispose()


def _stage(store: ArtifactStore, digest: str, core: bytes = b"\0asm core") -> tuple[Path, ArtifactInfo]:
    staging = store.staging(digest)
    (staging / artifacts.COMPONENT).write_bytes(b"\0asm component")
    (staging / artifacts.GUEST_SOURCE).write_text("# guest\n")
    sha = hashlib.sha256(core).hexdigest()
    (staging / artifacts.BUNDLE_DIR).mkdir()
    (staging / artifacts.BUNDLE_DIR / f"{sha}.wasm").write_bytes(core)
    (staging / artifacts.BUNDLE_DIR / "workflow.js").write_text("export {}")
    info = ArtifactInfo(
        digest=digest,
        workflow_name="demo",
        dsl_sha256="0" * 64,
        compiler={"wasmflow": "test"},
        manifest={"capabilities": ["log.write", "node.event"]},
        component_sha256="1" * 64,
        component_size=14,
        bundle={"entry": "workflow.js", "core_modules": {f"{sha}.wasm": {"size": len(core)}}},
        compile_seconds=0.1,
        created_at=artifacts.now(),
    )
    return staging, info


def test_unpublished_artifact_is_invisible(store: ArtifactStore) -> None:
    digest = "a" * 64
    staging, _info = _stage(store, digest)
    assert store.get(digest) is None
    store.discard(staging)
    assert not staging.exists()
    with pytest.raises(NotFound):
        store.require(digest)


def test_publish_moves_files_then_records_row(store: ArtifactStore) -> None:
    digest = "b" * 64
    staging, info = _stage(store, digest)
    published = store.publish(staging, info)
    assert published.digest == digest
    assert not staging.exists()
    folder = store.path(digest)
    assert (folder / artifacts.COMPONENT).read_bytes() == b"\0asm component"
    assert (folder / artifacts.MANIFEST).is_file()
    (name,) = info.bundle["core_modules"]
    assert store.core_module_path(name).read_bytes() == b"\0asm core"
    sha = name.removesuffix(".wasm")
    assert not (folder / artifacts.BUNDLE_DIR / f"{sha}.wasm").exists()  # moved to the shared folder


def test_core_modules_are_shared_and_second_publish_of_same_digest_is_harmless(store: ArtifactStore) -> None:
    s1, i1 = _stage(store, "c" * 64)
    store.publish(s1, i1)
    s2, i2 = _stage(store, "d" * 64)  # same core module bytes, another workflow
    store.publish(s2, i2)
    core_files = list((store.root / artifacts.CORE_DIR).iterdir())
    assert len(core_files) == 1
    s3, i3 = _stage(store, "c" * 64)  # lost a race with the first publish
    store.publish(s3, i3)
    assert not s3.exists()
    assert store.get("c" * 64) is not None


def test_find_by_prefix(store: ArtifactStore) -> None:
    first, second = "e" * 10 + "1" * 54, "e" * 10 + "2" * 54
    for d in (first, second):
        s, i = _stage(store, d)
        store.publish(s, i)
    assert store.find("e" * 10 + "1").digest == first
    with pytest.raises(NotFound, match="ambiguous"):
        store.find("e" * 10)
    with pytest.raises(NotFound, match="at least 8"):
        store.find("eee")
    with pytest.raises(NotFound, match="no artifact"):
        store.find("f0000000")
    with pytest.raises(NotFound, match="not a digest"):
        store.find("../../etc/passwd")


def test_row_without_files_is_not_a_cache_hit(store: ArtifactStore) -> None:
    digest = "9" * 64
    s, i = _stage(store, digest)
    store.publish(s, i)
    (store.path(digest) / artifacts.COMPONENT).unlink()
    assert store.get(digest) is None


def test_sweep_removes_only_old_staging_folders(store: ArtifactStore) -> None:
    old = store.staging("7" * 64)
    fresh = store.staging("8" * 64)
    past = time.time() - 7200
    os.utime(old, (past, past))
    assert store.sweep_staging(older_than_seconds=3600) == 1
    assert not old.exists() and fresh.exists()
