"""An artifact compiled for the server only (``wasmflow run`` skips the browser bundle) gets its bundle when
the editor asks for one: same digest, same component, the bundle attached in place and recorded."""

from __future__ import annotations

import secrets

import pytest

from app.compiler.artifacts import ArtifactStore
from app.compiler.pool import CompilePool
from app.store import Database
from app.store.models import Artifact

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _per_workflow_components(monkeypatch):
    """Bundles are attached to per-workflow components only (a program needs none): test that path."""
    monkeypatch.setenv("WASMFLOW_SHARED_RUNTIME", "0")


def _doc() -> dict:
    salt = secrets.randbelow(10**12)  # a digest no earlier run (or the persistent test cache) has built
    return {
        "dsl": "wasmflow/1",
        "name": "bundle-later",
        "nodes": [
            {"id": "start", "type": "trigger.manual"},
            {"id": "t", "type": "transform", "config": {"expression": f"{{'salt': {salt}}}"}},
        ],
        "edges": [{"from": "start", "to": "t"}],
    }


def test_a_bundle_is_attached_to_a_server_only_artifact(compiler, tmp_path):
    doc = _doc()
    server_only = compiler.compile(doc, with_bundle=False)
    assert server_only.artifact.bundle == {}

    with_bundle = compiler.compile(doc)
    assert with_bundle.digest == server_only.digest and not with_bundle.cache_hit
    assert set(with_bundle.steps) == {"bundle"}  # no second componentize
    info = with_bundle.artifact
    assert info.component_sha256 == server_only.artifact.component_sha256
    entry = compiler.store.path(info.digest) / "bundle" / info.bundle["entry"]
    assert entry.is_file()
    for name in info.bundle["core_modules"]:
        assert compiler.store.core_module_path(name).is_file()

    # Recorded in the row: another process (a fresh store on the same database) sees it, and asking again
    # is a plain cache hit.
    other = ArtifactStore(compiler.store.root, compiler.store.db)
    assert other.require(info.digest).bundle == info.bundle
    again = compiler.compile(doc)
    assert again.cache_hit and again.artifact.bundle == info.bundle

    # A second database sharing the artifact folder (as the test suite's servers do) still records the
    # bundle-less row: attaching there finds the same bundle on disk and records it rather than failing.
    other_db = Database(f"sqlite:///{tmp_path / 'other.db'}")
    other_db.upgrade()
    with compiler.store.db.session() as src, other_db.session() as dst:
        row = src.get(Artifact, info.digest)
        dst.add(Artifact(**{**{c.name: getattr(row, c.name) for c in Artifact.__table__.columns}, "bundle": {}}))
    pool = CompilePool(ArtifactStore(compiler.store.root, other_db), precompile=False)
    try:
        attached = pool.compile(doc)
    finally:
        pool.shutdown()
        other_db.dispose()
    assert attached.artifact.bundle == info.bundle and entry.is_file()
