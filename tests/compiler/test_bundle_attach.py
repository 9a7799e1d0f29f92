"""An artifact compiled for the server only (``wasmflow run`` skips the browser bundle) gets its bundle when
the editor asks for one: same digest, same component, the bundle attached in place and recorded."""

from __future__ import annotations

import secrets

import pytest

from app.compiler.artifacts import ArtifactStore

pytestmark = pytest.mark.slow


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


def test_a_bundle_is_attached_to_a_server_only_artifact(compiler):
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
