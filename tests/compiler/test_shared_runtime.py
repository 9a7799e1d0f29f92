"""The shared runtime (WASMFLOW_SHARED_RUNTIME=1): one runtime component per toolchain runs each workflow's
program. A program artifact is small and content-addressed (contract 1), runs like the in-process guest, and
reaches only the capabilities its manifest grants: the linker defines the grants, every other import of the
runtime fails naming the capability (contract 2), even for a program written to call it directly."""

from __future__ import annotations

import hashlib
import json
import secrets
import time

import pytest
from fakehost import FakeHost, Harness
from scenarios import SCENARIOS
from support import EXAMPLES, run_artifact

from app import dsl
from app.compiler import artifacts, prepare, runtime
from app.runtime import wasm

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _shared(monkeypatch):
    monkeypatch.setenv("WASMFLOW_SHARED_RUNTIME", "1")


def _salted(name: str) -> dict:
    salt = secrets.randbelow(10**12)  # a digest no earlier run (or the persistent test cache) has built
    return {
        "dsl": "wasmflow/1",
        "name": name,
        "nodes": [
            {"id": "start", "type": "trigger.manual"},
            {"id": "t", "type": "transform", "config": {"expression": f"{{'twice': input['n'] * 2, 's': {salt}}}"}},
        ],
        "edges": [{"from": "start", "to": "t"}],
    }


def test_a_program_artifact_is_small_fast_and_names_what_it_runs_on(compiler):
    compiler.compile(_salted("warm"))  # the runtime is built (or found) once, not inside the figures below
    doc = _salted("small")
    t = time.perf_counter()
    result = compiler.compile(doc)
    seconds = time.perf_counter() - t
    info = result.artifact
    assert info.is_program and not result.cache_hit
    assert seconds < 5, seconds  # the target is 300 ms; a loaded CI machine gets slack
    folder = compiler.store.path(info.digest)
    on_disk = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert on_disk <= 100_000, on_disk
    program = (folder / artifacts.PROGRAM).read_bytes()
    # what the server and the tab execute is what the artifact records
    assert hashlib.sha256(program).hexdigest() == info.component_sha256 == info.bundle["program_sha256"]
    rt = compiler.store.runtime_for(info)
    assert info.bundle["runtime"] == rt.key == runtime.key()
    assert info.bundle["runtime_sha256"] == hashlib.sha256((rt.path / runtime.COMPONENT).read_bytes()).hexdigest()
    again = compiler.compile(doc)
    assert again.cache_hit and again.digest == result.digest == prepare(doc).digest


def test_the_digest_covers_the_runtime(compiler, monkeypatch):
    doc = _salted("modes")
    shared = prepare(doc).digest
    monkeypatch.setenv("WASMFLOW_SHARED_RUNTIME", "0")
    assert prepare(doc).digest != shared  # a program and a component never share a digest


@pytest.mark.parametrize("name", ["order-sync", "lead-routing"])
def test_a_program_runs_as_the_in_process_guest(compiler, name, tmp_path, monkeypatch):
    info = compiler.compile((EXAMPLES / f"{name}.json").read_bytes()).artifact
    assert info.is_program
    scenario = SCENARIOS[name]
    host = scenario.host()

    def bind(cap):
        return lambda request: json.dumps(host.handle(cap, json.loads(request)))

    funcs = {c: bind(c) for c in info.manifest["capabilities"]}
    ok, payload = run_artifact(compiler.store, info.digest, funcs, json.dumps(scenario.input))
    assert ok, payload
    reference = Harness(tmp_path, monkeypatch).run(
        dsl.parse_and_validate((EXAMPLES / f"{name}.json").read_bytes()), scenario.input, scenario.host()
    )
    assert json.loads(payload) == reference


_ROGUE = """
import wasmflow_guest as _rt

def node_start(_scope):
    return _rt.call_host("kv.set", {"namespace": "loot", "key": "k", "value": 1, "node": "start"})

GRAPH = _rt.Graph(nodes=[_rt.Node("start", "trigger.manual", node_start)], edges=[], order=["start"], entries=["start"])
"""


def test_a_program_cannot_reach_a_capability_its_manifest_lacks(compiler):
    """A program written to call kv.set directly (as a tampered artifact would) reaches the host only when
    the run grants kv.set; otherwise the run ends naming the capability, and nothing reaches the host."""
    compiler.compile(_salted("warm"))
    component = compiler.store.runtime_component(runtime.ensure(compiler.store.runtime_root))
    program = wasm.compile_program(component, _ROGUE)
    reached: list[str] = []
    granted = {"node.event": lambda r: "{}", "log.write": lambda r: "{}"}
    with pytest.raises(wasm.CapabilityNotGranted) as denied:
        wasm.instantiate_and_run(component, granted, "{}", program=program)
    assert "kv.set" in str(denied.value) and denied.value.details["capability"] == "kv.set"
    assert reached == []

    def kv_set(request: str) -> str:
        reached.append(json.loads(request)["namespace"])
        return "{}"

    ok, payload = wasm.instantiate_and_run(component, {**granted, "kv.set": kv_set}, "{}", program=program)
    assert ok, payload
    assert reached == ["loot"]


def test_sandbox_violations_still_fail_on_their_node(compiler):
    doc = {
        "dsl": "wasmflow/1",
        "name": "hostile-shared",
        "nodes": [
            {"id": "start", "type": "trigger.manual"},
            {
                "id": "clock",
                "type": "transform",
                "config": {"expression": "__import__('time').time()"},
                "on_error": "continue",
            },
        ],
        "edges": [{"from": "start", "to": "clock"}],
    }
    info = compiler.compile(doc).artifact
    host = FakeHost()

    def bind(cap):
        def call(request):
            host.calls.append((cap, json.loads(request)))
            return json.dumps(host.handle(cap, json.loads(request)))

        return call

    ok, payload = run_artifact(compiler.store, info.digest, {c: bind(c) for c in info.manifest["capabilities"]}, "{}")
    assert ok, payload
    failed = [r for c, r in host.calls if c == "node.event" and r["event"] == "failed"]
    assert failed and failed[0]["error"]["code"] == "sandbox_violation"


def test_a_code_block_importing_a_module_the_runtime_lacks_gets_its_own_component(compiler):
    """The one reason per-workflow components remain: the runtime snapshot holds a fixed set of modules."""
    assert "wave" not in runtime.MODULES
    doc = {
        "dsl": "wasmflow/1",
        "name": "needs-wave",
        "nodes": [
            {"id": "start", "type": "trigger.manual"},
            {"id": "t", "type": "transform", "config": {"code": "import wave\nreturn wave.WAVE_FORMAT_PCM"}},
        ],
        "edges": [{"from": "start", "to": "t"}],
    }
    info = compiler.compile(doc, with_bundle=False).artifact
    assert not info.is_program
    assert (compiler.store.path(info.digest) / artifacts.COMPONENT).is_file()
