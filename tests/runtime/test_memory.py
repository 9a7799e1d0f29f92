"""Suspension holds nothing (ARCHITECTURE.md, contract 6): a waiting run keeps no wasmtime Store alive."""

from __future__ import annotations

import gc

import pytest
import wasmtime

from app.engine import runs

pytestmark = pytest.mark.slow

WAITER = {
    "dsl": "wasmflow/1",
    "name": "waits-an-hour",
    "nodes": [
        {"id": "start", "type": "trigger.manual"},
        {"id": "pause", "type": "wait", "config": {"duration": "1h"}},
        {"id": "done", "type": "transform", "config": {"expression": "input"}},
    ],
    "edges": [{"from": "start", "to": "pause"}, {"from": "pause", "to": "done"}],
}


@pytest.fixture(scope="module")
def waiter(compiler):
    return compiler.compile(WAITER, with_bundle=False)


def _live_stores() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, wasmtime.Store))


def test_waiting_runs_keep_no_instance_alive(engine_factory, waiter):
    engine = engine_factory([waiter.digest])
    before = _live_stores()
    for i in range(12):
        run_id = engine.create_run(waiter.digest, {"i": i})
        assert engine.run_sync(run_id).status == runs.WAITING
    assert _live_stores() == before
    assert not engine._active  # and no thread or lease either
