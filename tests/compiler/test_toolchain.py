"""The toolchain layer: WIT from the capability table, componentize, binary inspection, wasmtime, jco, Node.

One tiny hand-written guest (toolchain_fixtures/tiny_guest.py, with a stub ``wasmflow_guest`` package) is
built ONCE per session and transpiled once; every slow test shares those artifacts.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import subprocess
import time
from pathlib import Path

import pytest
from support import GOLDEN, check_golden
from wasmtime.component import Component

from app import capabilities
from app.compiler import build, bundle, inspect, wit
from app.errors import CompileError, FatalError
from app.runtime import wasm

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "toolchain_fixtures"
NODE_HOST = HERE / "node_host.mjs"
CAPS = {"clock.now", "log.write"}
NOW = {"iso": "2026-01-01T00:00:00Z", "epoch_ms": 1767225600000}
TIMINGS: dict[str, float] = {}


# --- WIT (fast) -------------------------------------------------------------------------------------


def test_wit_text_is_deterministic_and_in_table_order(update_golden):
    text = wit.wit_text({"log.write", "clock.now"})
    assert text == wit.wit_text(["clock.now", "log.write"]) == wit.wit_text(("log.write", "clock.now"))
    assert text.index("interface clock-now") < text.index("interface log-write")
    assert "package wasmflow:host@1.0.0;" in text
    assert "export run: func(input: string) -> result<string, string>;" in text
    assert re.findall(r"^  import ([a-z-]+);$", text, re.M) == ["clock-now", "log-write"]
    check_golden(GOLDEN / "wit" / "clock_log.wit", text, update_golden)


def test_reference_runtime_wit_is_up_to_date():
    assert wit.RUNTIME_REFERENCE_PATH.read_text(encoding="utf-8") == wit.runtime_wit_text(), (
        "wasm_targets/wit/runtime.wit is stale: regenerate it with python -c 'from app.compiler import wit; "
        "wit.RUNTIME_REFERENCE_PATH.write_text(wit.runtime_wit_text())'"
    )


def test_reference_wit_is_up_to_date():
    assert wit.REFERENCE_PATH.read_text(encoding="utf-8") == wit.full_wit_text(), (
        "wasm_targets/wit/wasmflow.wit is stale: regenerate it with "
        "python -c 'from app.compiler import wit; wit.REFERENCE_PATH.write_text(wit.full_wit_text())'"
    )
    for cap in capabilities.CAPABILITIES:
        assert f"interface {cap.interface} {{" in wit.full_wit_text()


def test_unknown_capability_is_a_compile_error():
    with pytest.raises(CompileError, match="unknown capabilities mail.send"):
        wit.wit_text({"log.write", "mail.send"})


def test_import_names_follow_the_package():
    assert build.import_name("clock.now") == "wasmflow:host/clock-now@1.0.0"
    assert wit.instance_name("http.request") == "wasmflow:host/http-request@1.0.0"


def test_inspect_rejects_what_is_not_a_component():
    with pytest.raises(CompileError, match="not a WebAssembly component"):
        inspect.component_imports(b"\x00asm\x01\x00\x00\x00")
    with pytest.raises(CompileError, match="not a WebAssembly binary"):
        inspect.component_imports(b"hello")


# --- one component per session ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("toolchain")
    source = (FIXTURES / "tiny_guest.py").read_text(encoding="utf-8")
    t = time.perf_counter()
    data = build.build_component(
        source, CAPS, workdir=root / "build", runtime_dir=FIXTURES / "runtime", output=root / "component.wasm"
    )
    TIMINGS["componentize_s"] = time.perf_counter() - t
    return {"root": root, "bytes": data, "path": root / "component.wasm"}


@pytest.fixture(scope="session")
def precompiled(built) -> Path:
    t = time.perf_counter()
    native = wasm.precompile(built["bytes"])
    TIMINGS["precompile_s"] = time.perf_counter() - t
    path = built["root"] / "component.cwasm"
    path.write_bytes(native)
    return path


@pytest.fixture(scope="session")
def compiled(precompiled) -> Component:
    """The production path: precompiled once, deserialized, run many times."""
    t = time.perf_counter()
    component = wasm.load_precompiled(precompiled)
    TIMINGS["deserialize_ms"] = (time.perf_counter() - t) * 1000
    return component


@pytest.fixture(scope="session")
def transpiled(built) -> dict:
    t = time.perf_counter()
    manifest = bundle.transpile_bundle(built["path"], built["root"] / "bundle")
    TIMINGS["jco_s"] = time.perf_counter() - t
    return {"dir": built["root"] / "bundle", "manifest": manifest}


def _clock(_request: str) -> dict:
    return NOW


def _host(log: list | None = None, clock=_clock) -> dict:
    def log_write(request: str) -> str:
        (log if log is not None else []).append(json.loads(request))
        return "{}"

    return {"clock.now": clock, "log.write": log_write}


@pytest.mark.slow
def test_build_writes_the_output_whole_and_cleans_up(built):
    assert built["path"].read_bytes() == built["bytes"]
    assert not list(built["root"].rglob("*.partial"))
    size = len(built["bytes"])
    print(
        f"\ncomponentize {TIMINGS['componentize_s']:.1f} s, {size / 1e6:.1f} MB, gzip {len(gzip.compress(built['bytes'], 6)) / 1e6:.1f} MB"
    )
    assert 1_000_000 < size < 60_000_000


@pytest.mark.slow
def test_imports_are_exactly_the_requested_interfaces(built, compiled):
    imports = inspect.component_imports(built["bytes"])
    assert imports == ["wasmflow:host/clock-now@1.0.0", "wasmflow:host/log-write@1.0.0"]
    assert all(name.startswith("wasmflow:host/") for name in imports)
    assert not [name for name in imports if name.startswith("wasi:")]
    assert "run" in inspect.component_exports(built["bytes"])
    # the binary reader agrees with wasmtime's own view of the component type
    assert sorted(compiled.type.imports(wasm.engine())) == sorted(imports)
    assert sorted(compiled.type.exports(wasm.engine())) == sorted(inspect.component_exports(built["bytes"]))


@pytest.mark.slow
def test_runs_in_wasmtime_with_python_host_functions(compiled):
    log: list = []
    t = time.perf_counter()
    ok, value = wasm.instantiate_and_run(compiled, _host(log), json.dumps({"name": "ann"}))
    TIMINGS["instantiate_and_run_ms"] = (time.perf_counter() - t) * 1000
    assert ok, value
    assert json.loads(value) == {"hello": "ann", "at": NOW["iso"], "runtime": "stub-1"}
    assert log == [{"level": "info", "message": "hello ann"}]


@pytest.mark.slow
def test_a_host_error_reaches_the_guest_as_err(compiled):
    def clock(_request):
        raise wasm.HostCallError("clock_down", "no time today", retriable=True)

    ok, value = wasm.instantiate_and_run(compiled, _host(clock=clock), json.dumps({"name": "ann"}))
    assert not ok
    assert json.loads(value) == {
        "code": "host_error",
        "message": "clock.now failed",
        "cause": {"code": "clock_down", "message": "no time today", "retriable": True},
    }


@pytest.mark.slow
def test_an_err_from_run_is_returned_as_data(compiled):
    ok, value = wasm.instantiate_and_run(compiled, _host(), json.dumps({"mode": "fail"}))
    assert (ok, json.loads(value)) == (False, {"code": "asked_to_fail", "message": "the input asked to fail"})


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("clock", "wasi clock is not available (stub WASI)"),
        ("random", "wasi randomness is not available (stub WASI)"),
        ("loop", "it ran past its time limit"),
    ],
)
def test_traps_are_reported_plainly(compiled, mode, reason):
    with pytest.raises(wasm.WorkflowTrapped, match=re.escape(f"the workflow trapped: {reason}")) as info:
        wasm.instantiate_and_run(compiled, _host(), json.dumps({"mode": mode}), timeout_seconds=0.5)
    assert info.value.to_dict()["code"] == "trapped"


@pytest.mark.slow
def test_an_uncaught_guest_exception_does_not_pass_as_success(compiled):
    # componentize-py formats the traceback, which imports modules from files: a trap under stub WASI.
    with pytest.raises(wasm.WorkflowTrapped, match="the workflow trapped: it imported a module at run time"):
        wasm.instantiate_and_run(compiled, _host(), json.dumps({"mode": "raise"}))


@pytest.mark.slow
def test_a_host_exception_unwinds_the_run_as_itself(compiled):
    class Suspend(Exception):
        pass

    def clock(_request):
        raise Suspend("waiting for a timer")

    with pytest.raises(Suspend, match="waiting for a timer"):
        wasm.instantiate_and_run(compiled, _host(clock=clock), json.dumps({"name": "ann"}))


@pytest.mark.slow
def test_an_ungranted_capability_is_refused_at_instantiation(compiled):
    with pytest.raises(wasm.WorkflowTrapped, match="needs capability clock.now, which this run does not grant"):
        wasm.instantiate_and_run(compiled, {"log.write": lambda r: "{}"}, "{}")


@pytest.mark.slow
def test_a_memory_limit_below_the_snapshot_is_refused(compiled):
    with pytest.raises(wasm.WorkflowTrapped, match="initial memory is larger than the memory limit"):
        wasm.instantiate_and_run(compiled, _host(), "{}", memory_limit=1 << 20)
    ok, _ = wasm.instantiate_and_run(compiled, _host(), json.dumps({"name": "ann"}), memory_limit=64 << 20)
    assert ok


@pytest.mark.slow
def test_precompile_and_deserialize_round_trip(precompiled, tmp_path):
    t = time.perf_counter()
    loaded = wasm.load_precompiled(precompiled)
    load_ms = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    ok, value = wasm.instantiate_and_run(loaded, _host(), json.dumps({"name": "bo"}))
    run_ms = (time.perf_counter() - t) * 1000
    assert ok and json.loads(value)["hello"] == "bo"
    print(
        f"\nprecompile {TIMINGS['precompile_s']:.2f} s ({precompiled.stat().st_size / 1e6:.1f} MB), "
        f"deserialize_file {load_ms:.1f} ms, instantiate+run {run_ms:.1f} ms"
    )
    assert load_ms < 1000
    # bytes from another source are refused, not trusted
    (tmp_path / "bogus.cwasm").write_bytes(b"\x00asm garbage")
    with pytest.raises(FatalError, match="cannot be loaded \\(recompile it\\)"):
        wasm.load_precompiled(tmp_path / "bogus.cwasm")


@pytest.mark.slow
def test_a_broken_guest_is_a_clear_compile_error(tmp_path):
    source = "import wit_world\nfrom wit_world.imports import http_request\n"
    out = tmp_path / "component.wasm"
    with pytest.raises(CompileError) as info:
        build.build_component(source, {"log.write"}, workdir=tmp_path / "build", output=out)
    message = str(info.value)
    assert message.startswith("componentize step failed")
    assert "cannot import name 'http_request'" in message and "workflow_app.py line 2" in message
    assert "Traceback" not in message and "\n" not in message
    assert info.value.details["step"] == "componentize"
    assert not out.exists() and not list(tmp_path.rglob("*.partial"))


# --- browser bundle and Node parity -----------------------------------------------------------------


@pytest.mark.slow
def test_bundle_names_core_modules_by_content_hash(transpiled):
    out, manifest = transpiled["dir"], transpiled["manifest"]
    assert manifest["entry"] == "workflow.js"
    assert sorted(p.name for p in out.iterdir()) == manifest["files"]
    js = (out / "workflow.js").read_text(encoding="utf-8")
    refs = set(re.findall(r"getCoreModule\('([^']+)'\)", js))
    assert refs == set(manifest["core_modules"])
    for name in refs:
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() + ".wasm" == name
    biggest = sorted(manifest["core_modules"].items(), key=lambda kv: -kv[1]["size"])[:2]
    sizes = ", ".join(
        f"{n[:12]}… {m['size'] / 1e6:.1f} MB (gzip {len(gzip.compress((out / n).read_bytes(), 6)) / 1e6:.1f} MB)"
        for n, m in biggest
    )
    print(
        f"\njco {TIMINGS.get('jco_s', 0):.1f} s, {len(refs)} core modules, total {manifest['size'] / 1e6:.1f} MB; {sizes}"
    )


@pytest.mark.slow
def test_transpiling_the_same_component_again_gives_the_same_bundle(built, transpiled, tmp_path):
    again = bundle.transpile_bundle(built["path"], tmp_path / "again")
    assert again == transpiled["manifest"]


def test_a_bundle_failure_is_a_compile_error(tmp_path):
    bogus = tmp_path / "bogus.wasm"
    bogus.write_bytes(b"not a component")
    with pytest.raises(CompileError, match="bundle step failed"):
        bundle.transpile_bundle(bogus, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def _node_run(bundle_dir: Path, responses: dict, input_json: str, tmp_path: Path) -> dict:
    fixture = {
        "interfaces": {name: wit.instance_name(name).rsplit("@", 1)[0] for name in sorted(CAPS)},
        "responses": responses,
    }
    path = tmp_path / "fixture.json"
    path.write_text(json.dumps(fixture), encoding="utf-8")
    cmd = ["node", "--experimental-wasm-extended-const", str(NODE_HOST), str(bundle_dir), str(path), input_json]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("input_doc", "clock_response"),
    [
        ({"name": "ann"}, {"ok": NOW}),
        ({"name": "ann"}, {"err": {"code": "clock_down", "message": "no time today", "retriable": True}}),
        ({"mode": "fail"}, {"ok": NOW}),
    ],
    ids=["ok", "host-err", "run-err"],
)
def test_node_and_wasmtime_agree(compiled, transpiled, tmp_path, input_doc, clock_response):
    def clock(_request):
        if "err" in clock_response:
            e = clock_response["err"]
            raise wasm.HostCallError(e["code"], e["message"], retriable=e["retriable"])
        return clock_response["ok"]

    log: list = []
    ok, value = wasm.instantiate_and_run(compiled, _host(log, clock=clock), json.dumps(input_doc))
    node = _node_run(
        transpiled["dir"], {"clock.now": [clock_response], "log.write": [{"ok": {}}]}, json.dumps(input_doc), tmp_path
    )
    assert "trap" not in node, node
    assert (node["ok"], json.loads(node["value"])) == (ok, json.loads(value))
    assert [c["request"] for c in node["calls"] if c["capability"] == "log.write"] == log


@pytest.mark.slow
def test_node_traps_on_stub_wasi_too(transpiled, tmp_path):
    node = _node_run(transpiled["dir"], {}, json.dumps({"mode": "clock"}), tmp_path)
    assert "unreachable" in node["trap"]
