"""Browser bundle files and shared core modules: right bytes, content types, immutable caching, no traversal.
For program artifacts: the program bytes by digest and the shared runtime's files by runtime key, likewise."""

from __future__ import annotations

import hashlib

import pytest

pytestmark = pytest.mark.slow

IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture(scope="module")
def component_artifact(compiler):
    """order-sync as a per-workflow component with its own bundle (WASMFLOW_SHARED_RUNTIME=0)."""
    from support import EXAMPLES

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WASMFLOW_SHARED_RUNTIME", "0")
        return compiler.compile((EXAMPLES / "order-sync.json").read_bytes()).artifact


@pytest.fixture
def artifact_digests(compiled_examples, wait_digests, component_artifact) -> list[str]:
    """The session's artifacts and the component one, known to each test's database."""
    return [r.digest for r in compiled_examples.values()] + list(wait_digests.values()) + [component_artifact.digest]


@pytest.fixture
def bundled(component_artifact):
    assert component_artifact.bundle.get("entry"), "compiled with its browser bundle"
    return component_artifact


@pytest.fixture
def program(compiled_examples):
    info = compiled_examples["order-sync"].artifact
    assert info.is_program
    return info


def test_a_program_is_served_by_digest_and_its_runtime_by_key(client, program, compiler):
    r = client.get(f"/api/artifacts/{program.digest}/program")
    assert r.status_code == 200 and r.headers["Cache-Control"] == IMMUTABLE
    assert hashlib.sha256(r.data).hexdigest() == program.bundle["program_sha256"] == program.component_sha256
    key = program.bundle["runtime"]
    entry = client.get(f"/api/artifacts/runtime/{key}/{program.bundle['runtime_entry']}")
    assert entry.status_code == 200 and entry.mimetype == "text/javascript"
    assert entry.headers["Cache-Control"] == IMMUTABLE
    rt = compiler.store.runtime_for(program)
    for name in list(rt.bundle["core_modules"])[:2]:
        core = client.get(f"/api/artifacts/runtime/{key}/{name}")
        assert core.status_code == 200 and core.mimetype == "application/wasm"
        assert hashlib.sha256(core.data).hexdigest() + ".wasm" == name
    assert client.get(f"/api/artifacts/runtime/{'0' * 64}/workflow.js").status_code == 404
    assert client.get(f"/api/artifacts/runtime/{key}/..%2F{key}%2Fruntime.cwasm").status_code == 404
    assert client.get(f"/api/artifacts/runtime/{key}/runtime.cwasm").status_code == 404  # not a bundle file
    status = client.get("/api/artifacts/runtime-status").get_json()
    assert status["shared_runtime"] is True and status["state"] == "ready" and status["key"] == key


def test_bundle_entry_is_javascript_cached_forever(client, bundled, compiler):
    r = client.get(f"/api/artifacts/{bundled.digest}/bundle/{bundled.bundle['entry']}")
    assert r.status_code == 200
    assert r.mimetype == "text/javascript"
    assert r.headers["Cache-Control"] == IMMUTABLE
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert hashlib.sha256(r.data).hexdigest() == bundled.bundle["entry_sha256"]
    again = client.get(
        f"/api/artifacts/{bundled.digest}/bundle/{bundled.bundle['entry']}",
        headers={"If-None-Match": r.headers["ETag"]},
    )
    assert again.status_code == 304


def test_core_modules_are_wasm_by_content_hash(client, bundled):
    for name in list(bundled.bundle["core_modules"])[:3]:
        r = client.get(f"/api/artifacts/core/{name}")
        assert r.status_code == 200, name
        assert r.mimetype == "application/wasm"
        assert r.headers["Cache-Control"] == IMMUTABLE
        assert hashlib.sha256(r.data).hexdigest() + ".wasm" == name
        assert r.data[:4] == b"\0asm"
        # The bundle URL of a core module also works (the entry may be loaded relative to the bundle).
        via_bundle = client.get(f"/api/artifacts/{bundled.digest}/bundle/{name}")
        assert via_bundle.status_code == 200 and via_bundle.data == r.data


def test_artifact_metadata_and_missing_files(client, bundled):
    meta = client.get(f"/api/artifacts/{bundled.digest}").get_json()
    assert meta["digest"] == bundled.digest and meta["bundle"]["entry"] == "workflow.js"
    assert client.get(f"/api/artifacts/{bundled.digest}/bundle/nope.js").status_code == 404
    assert client.get(f"/api/artifacts/{'0' * 64}/bundle/workflow.js").status_code == 404
    assert client.get(f"/api/artifacts/core/{'0' * 64}.wasm").status_code == 404
    r = client.get("/api/artifacts/core/workflow.js")
    assert r.status_code == 404 and r.get_json()["error"]["field"] == "name"


@pytest.mark.parametrize(
    "path",
    [
        "/api/artifacts/{d}/bundle/..%2Fmanifest.json",
        "/api/artifacts/{d}/bundle/../manifest.json",
        "/api/artifacts/{d}/bundle/.hidden",
        "/api/artifacts/{d}/bundle/%2E%2E",
        "/api/artifacts/{d}/bundle/..%5Cguest.py",
        "/api/artifacts/core/..%2F{d}%2Fcomponent.wasm",
        "/api/artifacts/core/%2E%2E%2Fwasmflow.db",
        "/api/artifacts/..%2F..%2Fetc/bundle/passwd",
    ],
)
def test_no_path_traversal(client, bundled, path):
    r = client.get(path.format(d=bundled.digest))
    assert r.status_code == 404, (path, r.status_code, r.data[:200])
    assert r.is_json
    assert b"component" not in r.data[:4] and r.data[:4] != b"\0asm"
