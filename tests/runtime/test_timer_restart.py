"""A timer set a few seconds ahead fires once after its process was killed with -9, even with two new
processes polling the same database (issue 7: "a scheduler in the server and in workers wakes due runs,
across restarts, once")."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

import pytest
import sqlalchemy as sa
from procs import wasmflow_process
from waitflow import NAME, wait_between_transforms

from app.engine import runs
from app.store.db import close_database, open_database
from app.store.models import Event, Run

pytestmark = pytest.mark.slow


def _status(db, run_id: str) -> Run:
    with db.session() as s:
        run = s.get(Run, run_id)
        s.expunge(run)
        return run


def _until(db, run_id: str, statuses: set[str], timeout: float) -> Run:
    end = time.monotonic() + timeout
    while True:
        run = _status(db, run_id)
        if run.status in statuses or time.monotonic() > end:
            assert run.status in statuses, f"run {run_id} is {run.status}, expected {statuses}"
            return run
        time.sleep(0.05)


def test_a_timer_fires_once_after_its_process_was_killed(compiler, engine_factory, database_url, tmp_path):
    compiled = compiler.compile(wait_between_transforms(), with_bundle=False)
    engine_factory([compiled.digest])  # the schema and the artifact row in this test's database
    db = open_database(database_url)
    where = {"instance": tmp_path / "inst", "database_url": database_url, "artifacts": compiler.store.root}
    try:
        with db.session() as s:
            run_id = runs.create_run(s, workflow_name=NAME, digest=compiled.digest, input={"n": 1})
        first = wasmflow_process(["worker"], **where)
        waiting = _until(db, run_id, {runs.WAITING}, timeout=120)
        os.kill(first.pid, signal.SIGKILL)  # the process that set the timer is gone before it is due
        first.communicate(timeout=30)
        wake_at = runs.as_utc(waiting.wake_at)
        assert wake_at > runs.utcnow(), "the timer fired before the kill: the test proves nothing"

        # After the wake-up time has passed, two new processes poll the same database.
        time.sleep(max(0.0, (wake_at - runs.utcnow()).total_seconds()) + 0.5)
        assert _status(db, run_id).status == runs.WAITING  # nothing woke it while no process was alive
        second = [wasmflow_process(["worker"], **where) for _ in range(2)]
        try:
            done = _until(db, run_id, {runs.SUCCEEDED, runs.FAILED, runs.NEEDS_ATTENTION}, timeout=120)
            time.sleep(1.0)  # let a duplicate wake-up, if any, leave its traces
        finally:
            for p in second:
                p.send_signal(signal.SIGINT)
            for p in second:
                try:
                    p.communicate(timeout=30)
                except Exception:  # noqa: BLE001 - a stuck worker must not hide the assertion below
                    p.kill()
        assert done.status == runs.SUCCEEDED, done.error
        assert done.executions == 2  # once up to the timer, once after it
        with db.session() as s:
            kinds = Counter(
                f"{t} {n or ''}".strip()
                for t, n in s.execute(sa.select(Event.type, Event.node).where(Event.run_id == run_id))
            )
        assert kinds["run.resumed"] == 1 and kinds["node.started after"] == 1, kinds
        assert runs.as_utc(done.finished_at) >= wake_at
    finally:
        close_database(database_url)
