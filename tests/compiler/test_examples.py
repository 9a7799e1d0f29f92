"""Every example compiles into a component that imports only its manifest and runs the same everywhere:
in-process against the fake bindings, in wasmtime, and as the browser bundle in Node (parity)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fakehost import Harness, Refuse
from scenarios import SCENARIOS
from support import EXAMPLE_NAMES, EXAMPLES, GOLDEN, check_golden, run_artifact

from app import capabilities, dsl
from app.compiler import artifacts
from app.compiler.build import import_name
from app.compiler.inspect import component_imports
from app.runtime import wasm

pytestmark = pytest.mark.slow
NODE_HOST = Path(__file__).resolve().parent / "node_host.mjs"


def _doc(name: str) -> dict:
    return dsl.parse_and_validate((EXAMPLES / f"{name}.json").read_bytes())


def _wasmtime_funcs(host, caps) -> dict:
    """Host functions for wasmtime answering from a FakeHost, recording each answer for the Node replay."""
    recorded: dict[str, list] = {c: [] for c in caps}

    def bind(cap: str):
        def call(request: str) -> str:
            host.calls.append((cap, json.loads(request)))
            try:
                answer = host.handle(cap, json.loads(request))
            except Refuse as refusal:
                recorded[cap].append({"err": refusal.doc})
                raise wasm.HostCallError(**refusal.doc) from None
            recorded[cap].append({"ok": answer})
            return json.dumps(answer)

        return call

    return {c: bind(c) for c in caps}, recorded


def _run_wasmtime(compiler, name: str):
    info = compiler.store.require(COMPILED[name].digest)
    scenario = SCENARIOS[name]
    host = scenario.host()
    funcs, recorded = _wasmtime_funcs(host, info.manifest["capabilities"])
    ok, payload = run_artifact(compiler.store, info.digest, funcs, json.dumps(scenario.input))
    result = (ok, json.loads(payload))
    return result, host, recorded


COMPILED: dict = {}


@pytest.fixture(autouse=True)
def _compiled(compiled_examples):
    COMPILED.update(compiled_examples)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_component_imports_exactly_its_manifest(compiler, name):
    """A per-workflow component's binary imports exactly its grants; a program's runtime imports every
    capability and no WASI, and the linker of its runs defines only the grants (the rest deny, naming it)."""
    info = COMPILED[name].artifact
    if info.is_program:
        runtime = compiler.store.runtime_for(info)
        component = (runtime.path / "runtime.wasm").read_bytes()
        imports = component_imports(component)  # read from the binary, not from the compiler's word
        assert set(imports) == {import_name(c.name) for c in capabilities.CAPABILITIES}
    else:
        component = (compiler.store.path(info.digest) / artifacts.COMPONENT).read_bytes()
        imports = component_imports(component)
        assert set(imports) == {import_name(c) for c in info.manifest["capabilities"]}
    assert all(i.startswith("wasmflow:host/") for i in imports), imports
    assert not any("wasi" in i for i in imports)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_runs_in_wasmtime_as_in_process(compiler, name, tmp_path, monkeypatch, update_golden):
    (ok, value), host, _recorded = _run_wasmtime(compiler, name)
    assert ok, value
    scenario = SCENARIOS[name]
    reference_host = scenario.host()
    in_process = Harness(tmp_path, monkeypatch).run(_doc(name), scenario.input, reference_host)
    assert value == in_process
    assert [c for c, _ in host.calls] == [c for c, _ in reference_host.calls]
    golden = {"output": value["output"], "calls": [c for c, _ in host.calls if c != "node.event"]}
    check_golden(GOLDEN / "runs" / f"{name}.json", json.dumps(golden, indent=2, sort_keys=True) + "\n", update_golden)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_browser_bundle_in_node_matches_wasmtime(compiler, name, tmp_path):
    (ok, value), host, recorded = _run_wasmtime(compiler, name)
    info = COMPILED[name].artifact
    fixture = {"interfaces": {c: import_name(c).split("@")[0] for c in recorded}, "responses": recorded}
    extra = []
    if info.is_program:  # the runtime's bundle (the same for every workflow) and the artifact's program
        fixture["denied"] = {
            c.name: import_name(c.name).split("@")[0] for c in capabilities.CAPABILITIES if c.name not in recorded
        }
        bundle_dir = core_dir = compiler.store.runtime_for(info).bundle_dir
        extra = [str(compiler.store.path(info.digest) / artifacts.PROGRAM)]
    else:
        bundle_dir = compiler.store.path(info.digest) / artifacts.BUNDLE_DIR
        core_dir = compiler.store.root / artifacts.CORE_DIR
    fixture_path = tmp_path / "fixture.json"
    fixture_path.write_text(json.dumps(fixture))
    proc = subprocess.run(
        [
            "node",
            "--experimental-wasm-extended-const",
            str(NODE_HOST),
            str(bundle_dir),
            str(fixture_path),
            json.dumps(SCENARIOS[name].input),
            str(core_dir),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "trap" not in out, out
    assert out["ok"] is ok
    assert json.loads(out["value"]) == value
    assert [(c["capability"], c["request"]) for c in out["calls"]] == host.calls


def test_second_compile_is_a_cache_hit_with_the_same_digest(compiler):
    again = compiler.compile((EXAMPLES / "order-sync.json").read_bytes())
    assert again.cache_hit
    assert again.digest == COMPILED["order-sync"].digest


def test_one_character_change_in_an_expression_changes_the_digest():
    from app.compiler import prepare

    doc = json.loads((EXAMPLES / "lead-routing.json").read_text())
    base = prepare(doc).digest
    seg = next(n for n in doc["nodes"] if n["id"] == "segment")
    seg["config"]["expression"] = seg["config"]["expression"].replace(">= 1000", ">= 1001")
    assert prepare(doc).digest != base
    # editor-only changes do not
    doc2 = json.loads((EXAMPLES / "lead-routing.json").read_text())
    doc2["nodes"][0]["position"] = {"x": 999, "y": -5}
    assert prepare(doc2).digest == base


HOSTILE = {
    "clock": "__import__('time').time()",
    "files": "open('{marker}', 'w').write('pwned')",
    "sockets": "__import__('socket').socket()",
    "entropy": "__import__('os').urandom(8)",
    "spawn": "__import__('subprocess').run(['touch', '{marker}'])",
}


def _hostile_doc(marker: Path) -> dict:
    nodes = [{"id": "start", "type": "trigger.manual"}]
    edges = []
    prev = "start"
    for nid, expr in HOSTILE.items():
        nodes.append(
            {
                "id": nid,
                "type": "transform",
                "config": {"expression": expr.format(marker=marker)},
                "on_error": "continue",
            }
        )
        edges.append({"from": prev, "to": nid})
        prev = nid
    return {"dsl": "wasmflow/1", "name": "hostile", "nodes": nodes, "edges": edges}


def test_hostile_transforms_fail_on_their_node_and_leave_the_host_alone(compiler, tmp_path):
    marker = tmp_path / "pwned"
    result = compiler.compile(_hostile_doc(marker), with_bundle=False)
    info = result.artifact
    from fakehost import FakeHost

    host = FakeHost()
    funcs, _ = _wasmtime_funcs(host, info.manifest["capabilities"])
    ok, payload = run_artifact(compiler.store, info.digest, funcs, "{}")
    assert ok, payload
    failed = {r["node"]: r["error"] for c, r in host.calls if c == "node.event" and r["event"] == "failed"}
    assert set(failed) == set(HOSTILE), failed
    for nid, err in failed.items():
        assert err["code"] == "sandbox_violation", (nid, err)
        assert err["message"], nid
    assert "time.time()" in failed["clock"]["message"]
    assert not marker.exists()


def test_bypassing_the_friendly_checks_still_hits_the_stub_wasi_wall(compiler, tmp_path):
    marker = tmp_path / "pwned-raw"
    doc = {
        "dsl": "wasmflow/1",
        "name": "hostile-raw",
        "nodes": [
            {"id": "start", "type": "trigger.manual"},
            {"id": "raw", "type": "transform", "config": {"expression": f"__import__('_io').FileIO('{marker}', 'w')"}},
        ],
        "edges": [{"from": "start", "to": "raw"}],
    }
    info = compiler.compile(doc, with_bundle=False).artifact
    from fakehost import FakeHost

    funcs, _ = _wasmtime_funcs(FakeHost(), info.manifest["capabilities"])
    try:
        ok, payload = run_artifact(compiler.store, info.digest, funcs, "{}")
    except wasm.WorkflowTrapped as trapped:
        assert "WASI" in str(trapped) or "trap" in str(trapped).lower()
    else:
        assert not ok and json.loads(payload)["node"] == "raw"
    assert not marker.exists()


def _tiny(name: str) -> dict:
    return {
        "dsl": "wasmflow/1",
        "name": name,
        "nodes": [
            {"id": "start", "type": "trigger.manual"},
            {"id": "t", "type": "transform", "config": {"expression": "{'twice': input['n'] * 2}"}},
        ],
        "edges": [{"from": "start", "to": "t"}],
    }


def _files(store) -> set[str]:
    """Files of the store, leaving out precompiled forms (background jobs may add them at any moment)."""
    return {str(p.relative_to(store.root)) for p in store.root.rglob("*") if ".cwasm" not in p.name}


def test_a_toolchain_timeout_is_a_clear_error_and_leaves_nothing(compiler, monkeypatch):
    from app.compiler.pool import CompilePool
    from app.errors import CompileError

    monkeypatch.setenv("WASMFLOW_SHARED_RUNTIME", "0")  # componentize runs per workflow only on this path
    impatient = CompilePool(compiler.store, timeout=0.5)
    before = _files(compiler.store)
    with pytest.raises(CompileError) as info:
        impatient.compile(_tiny("too-slow"), with_bundle=False)
    impatient.shutdown()
    assert "componentize" in info.value.message and "Traceback" not in info.value.message
    assert _files(compiler.store) == before


def test_a_failing_last_step_publishes_nothing(compiler, monkeypatch):
    """jco fails after the component was written: nothing of it may remain."""
    from app.compiler import prepare
    from app.errors import CompileError

    monkeypatch.setenv("WASMFLOW_SHARED_RUNTIME", "0")  # jco runs per workflow only on this path
    monkeypatch.setenv("WASMFLOW_JCO", "/bin/false")
    doc = _tiny("no-jco")
    before = _files(compiler.store)
    with pytest.raises(CompileError) as info:
        compiler.compile(doc)
    assert "jco" in info.value.message and "Traceback" not in info.value.message
    assert _files(compiler.store) == before
    assert compiler.store.get(prepare(doc).digest) is None


def _cli(*args: str, instance: Path) -> subprocess.CompletedProcess:
    code = "from app.cli import main; main()"
    env = {**os.environ, "WASMFLOW_DATABASE_URL": f"sqlite:///{instance / 'wasmflow.db'}"}
    return subprocess.run(
        [sys.executable, "-c", code, "--instance", str(instance), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )


def test_cli_compile_and_inspect(test_settings):
    inst = test_settings.instance_dir
    proc = _cli("compile", str(EXAMPLES / "daily-report.json"), "--json", instance=inst)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["digest"] == COMPILED["daily-report"].digest and data["cache_hit"] is True
    assert "kv.set" in data["capabilities"]

    human = _cli("compile", str(EXAMPLES / "daily-report.json"), instance=inst)
    assert human.returncode == 0 and data["digest"] in human.stdout and "metrics.example.com" in human.stdout

    shown = _cli("inspect", data["digest"][:12], instance=inst)
    assert shown.returncode == 0, shown.stderr
    assert "generated guest module" in shown.stdout and "def node_report" in shown.stdout
    assert "reports" in shown.stdout

    missing = _cli("inspect", "0" * 64, instance=inst)
    assert missing.returncode == 3 and missing.stderr.startswith("error: no artifact")


def test_cli_compile_of_an_invalid_file_lists_the_errors(test_settings, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"dsl": "wasmflow/1", "name": "x", "nodes": [], "edges": []}))
    proc = _cli("compile", str(bad), instance=test_settings.instance_dir)
    assert proc.returncode == 1
    assert "/nodes" in proc.stderr and "Traceback" not in proc.stderr
