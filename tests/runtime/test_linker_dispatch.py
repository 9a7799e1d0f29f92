"""The process's linker is built once and shared by every run: its functions dispatch each host call to the
calling run's own host functions (by Store), deny what the run does not grant (naming it), let a host
exception such as a suspension propagate as itself, and keep nothing of a run once it ends."""

from __future__ import annotations

import gc
import json
import threading
import time

import pytest
import wasmtime

from app.compiler import runtime
from app.runtime import wasm

pytestmark = pytest.mark.slow

# Calls kv.get several times in its one node and returns what the host answered.
_READER = """
import wasmflow_guest as _rt

def node_start(_scope):
    return [_rt.call_host("kv.get", {"namespace": "n", "key": str(i), "node": "start"})["value"] for i in range(20)]

GRAPH = _rt.Graph(nodes=[_rt.Node("start", "trigger.manual", node_start)], edges=[], order=["start"], entries=["start"])
"""


class _Suspend(Exception):
    pass


@pytest.fixture(scope="module")
def shared(compiler):
    component = compiler.store.runtime_component(runtime.ensure(compiler.store.runtime_root))
    return component, wasm.compile_program(component, _READER)


def _funcs(tag: str, *, pause: float = 0.0) -> dict:
    def kv_get(request: str) -> str:
        if pause:
            time.sleep(pause)  # let the other runs' guest code and host calls interleave with this one
        return json.dumps({"found": True, "value": f"{tag}:{json.loads(request)['key']}"})

    return {"node.event": lambda _r: "{}", "kv.get": kv_get}


def _live_stores() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, wasmtime.Store))


def test_concurrent_runs_each_reach_their_own_host_functions(shared):
    component, program = shared
    threads, rounds = 4, 5
    barrier = threading.Barrier(threads)
    seen: dict[str, list] = {}
    errors: list[BaseException] = []

    def worker(tag: str) -> None:
        try:
            barrier.wait()
            for _ in range(rounds):
                ok, payload = wasm.instantiate_and_run(component, _funcs(tag, pause=0.0005), "{}", program=program)
                assert ok, payload
                seen.setdefault(tag, []).append(json.loads(payload)["output"])
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(f"run{i}",)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(120)
    assert not errors, errors
    for i in range(threads):
        tag = f"run{i}"
        assert seen[tag] == [[f"{tag}:{k}" for k in range(20)]] * rounds
    assert wasm._calls == {}  # nothing of a finished run stays registered


def test_the_linker_is_built_once_and_still_denies_what_a_run_does_not_grant(shared):
    component, program = shared
    ok, _ = wasm.instantiate_and_run(component, _funcs("a"), "{}", program=program)
    linker = wasm._linker(wasm._ALL)
    assert ok
    with pytest.raises(wasm.CapabilityNotGranted) as denied:
        wasm.instantiate_and_run(component, {"node.event": lambda _r: "{}"}, "{}", program=program)
    assert "kv.get" in str(denied.value) and denied.value.details == {"capability": "kv.get"}
    assert denied.value.code == "capability_not_granted"
    # the same linker served both runs, and the grant of the first run did not leak into the second
    assert wasm._linker(wasm._ALL) is linker
    ok, payload = wasm.instantiate_and_run(component, _funcs("b"), "{}", program=program)
    assert ok and json.loads(payload)["output"][0] == "b:0"


def test_a_host_exception_propagates_as_itself_and_holds_no_store(shared):
    component, program = shared

    def suspend(_request: str) -> str:
        raise _Suspend("waiting for a timer")

    before = _live_stores()
    for _ in range(5):
        with pytest.raises(_Suspend, match="waiting for a timer"):
            wasm.instantiate_and_run(
                component, {"node.event": lambda _r: "{}", "kv.get": suspend}, "{}", program=program
            )
    assert _live_stores() == before
    assert wasm._calls == {}


def test_a_suspension_in_one_thread_does_not_disturb_a_run_in_another(shared):
    component, program = shared
    barrier = threading.Barrier(2)
    outcome: dict[str, object] = {}

    def suspend(_request: str) -> str:
        time.sleep(0.002)
        raise _Suspend("waiting for approval")

    def suspending() -> None:
        barrier.wait()
        try:
            wasm.instantiate_and_run(
                component, {"node.event": lambda _r: "{}", "kv.get": suspend}, "{}", program=program
            )
        except _Suspend as exc:
            outcome["suspended"] = str(exc)

    def running() -> None:
        barrier.wait()
        ok, payload = wasm.instantiate_and_run(component, _funcs("live", pause=0.0005), "{}", program=program)
        outcome["ran"] = (ok, json.loads(payload)["output"][-1])

    pool = [threading.Thread(target=suspending), threading.Thread(target=running)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(120)
    assert outcome == {"suspended": "waiting for approval", "ran": (True, "live:19")}
