"""Background compiles of saved drafts: one in flight per workflow, and only the newest waiting draft next.

The builder is replaced by one that records what it was asked to build and blocks until released, so the
test controls the timing; everything else (validation, digests, the pool's single flight) is the real code.
"""

from __future__ import annotations

import threading

from app.compiler import prepare
from app.compiler.pool import CompilePool, LatestDraftCompiler


def _doc(name: str, n: int) -> dict:
    return {
        "dsl": "wasmflow/1",
        "name": name,
        "nodes": [
            {"id": "start", "type": "trigger.manual"},
            {"id": "t", "type": "transform", "config": {"expression": f"input['x'] * {n}"}},
        ],
        "edges": [{"from": "start", "to": "t"}],
    }


class GatedBuilder:
    def __init__(self):
        self.built: list[str] = []
        self.release = threading.Event()
        self.started = threading.Semaphore(0)
        self.all_done = threading.Event()
        self.expected = 0

    def __call__(self, prepared, store, **_kw):
        self.built.append(prepared.digest)
        self.started.release()
        assert self.release.wait(10)
        if len(self.built) == self.expected:
            self.all_done.set()
        raise RuntimeError("not building for real in this test")  # failures are dropped in the background


def test_drafts_saved_while_one_compiles_collapse_to_the_newest(compiler):
    builder = GatedBuilder()
    pool = CompilePool(compiler.store, concurrency=2, builder=builder, precompile=False)
    drafts = LatestDraftCompiler(pool)
    try:
        first, second, third = (_doc("bg-a", n) for n in (101, 102, 103))
        other = _doc("bg-b", 104)
        builder.expected = 3  # first, then third (second is superseded); bg-b in parallel
        drafts.offer("bg-a", first)
        assert builder.started.acquire(timeout=10)
        drafts.offer("bg-a", second)  # waits behind first...
        drafts.offer("bg-a", third)  # ...and is replaced by third
        drafts.offer("bg-b", other)  # another workflow does not wait for bg-a
        assert builder.started.acquire(timeout=10)
        builder.release.set()
        assert builder.all_done.wait(10)
        pool.shutdown()
        digests = [prepare(d).digest for d in (first, third, other)]
        assert sorted(builder.built) == sorted(digests)
        assert prepare(second).digest not in builder.built
    finally:
        builder.release.set()
        pool.shutdown()


def test_an_invalid_draft_is_skipped_and_the_workflow_is_free_again(compiler):
    builder = GatedBuilder()
    builder.release.set()
    builder.expected = 1
    pool = CompilePool(compiler.store, builder=builder, precompile=False)
    drafts = LatestDraftCompiler(pool)
    try:
        drafts.offer("bg-c", {"dsl": "wasmflow/1", "name": "bg-c", "nodes": []})
        drafts.offer("bg-c", _doc("bg-c", 105))
        assert builder.all_done.wait(10)
        assert builder.built == [prepare(_doc("bg-c", 105)).digest]
    finally:
        pool.shutdown()
