"""Waits hold nothing and resume by replay; runs of dead owners are recovered; two engines polling one
database never execute a run twice (ARCHITECTURE.md, contracts 5 and 6; Scale)."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from waitflow import NAME, NODES, WAIT_SECONDS, wait_between_transforms

from app.engine import runs
from app.engine.queries import run_details
from app.runtime import world as world_impl
from app.store.models import JournalEntry, Run, Wait

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def short_wait(compiler):
    result = compiler.compile(wait_between_transforms(), with_bundle=False)
    compiler.store.precompiled_path(result.digest)  # the native form now, not inside the first run's time
    return result


def _wait_for(engine, run_id: str, statuses, timeout: float = 60) -> Run:
    end = time.monotonic() + timeout
    while True:
        with engine.db.session() as s:
            run = runs.get_run(s, run_id)
            s.expunge(run)
        if run.status in statuses or time.monotonic() > end:
            assert run.status in statuses, f"run {run_id} is {run.status}, expected {statuses}"
            return run
        time.sleep(0.05)


def _event_counts(engine, run_id: str) -> Counter:
    return Counter(e["type"] + (f" {e['node']}" if e["node"] else "") for e in run_details(engine.db, run_id)["events"])


def test_waiting_run_holds_nothing_and_the_poller_wakes_it(short_wait, engine_factory):
    engine = engine_factory([short_wait.digest], poll=True, poll_seconds=0.1)
    run_id = engine.create_run(short_wait.digest, {"n": 1})  # the poller picks it up
    waiting = _wait_for(engine, run_id, {runs.WAITING})
    engine.wait_idle(timeout=5)
    # suspension holds nothing: no execution, no lease, just the row with its wake time
    assert engine._active == {}
    assert waiting.lease_owner is None and waiting.lease_expires_at is None
    assert waiting.waiting_for["kind"] == "timer" and waiting.waiting_for["node"] == "pause"
    wake_at = runs.as_utc(waiting.wake_at)
    (suspended,) = [e for e in run_details(engine.db, run_id)["events"] if e["type"] == "run.waiting"]
    assert suspended["data"]["wake_at"] == wake_at.isoformat()
    from_suspension = wake_at - runs.as_utc(datetime.fromisoformat(suspended["at"]))
    assert timedelta(seconds=WAIT_SECONDS - 1) < from_suspension <= timedelta(seconds=WAIT_SECONDS)

    done = _wait_for(engine, run_id, {runs.SUCCEEDED, runs.FAILED})
    assert done.status == runs.SUCCEEDED, done.error
    assert runs.as_utc(done.finished_at) >= wake_at
    assert done.executions == 2
    # the time the wait reports is the one fixed when it started, not when it was resumed
    assert done.output["output"] == {"n": 3, "at": {"waited_until": world_impl.iso(wake_at)}}
    with engine.db.session() as s:
        (wait,) = s.query(Wait).filter_by(run_id=run_id).all()
        assert wait.detail["until"] == world_impl.iso(wake_at)
    counts = _event_counts(engine, run_id)
    assert counts["run.started"] == counts["run.resumed"] == counts["run.waiting pause"] == 1, counts
    assert all(counts[f"node.started {n}"] == counts[f"node.finished {n}"] == 1 for n in NODES), counts

    # replay: the same journal under a new run is answered entirely from the journal, later, identically
    with engine.db.session() as s:  # one transaction: the poller never sees the run without its journal
        replay_id = runs.create_run(s, workflow_name=NAME, digest=short_wait.digest, input={"n": 1})
        rows = s.execute(sa.select(JournalEntry).where(JournalEntry.run_id == run_id)).scalars().all()
        cols = [c.name for c in JournalEntry.__table__.columns]
        s.execute(sa.insert(JournalEntry), [{**{c: getattr(r, c) for c in cols}, "run_id": replay_id} for r in rows])
    replayed = _wait_for(engine, replay_id, {runs.SUCCEEDED, runs.FAILED, runs.WAITING, runs.NEEDS_ATTENTION})
    assert replayed.status == runs.SUCCEEDED, replayed.error
    assert replayed.output == done.output
    assert (
        run_details(engine.db, replay_id, with_journal=True)["journal"]
        == run_details(engine.db, run_id, with_journal=True)["journal"]
    )
    with engine.db.session() as s:
        assert s.query(Wait).filter_by(run_id=replay_id).count() == 0  # the timer was not set again


def test_a_timer_wakes_when_due_not_at_the_next_poll_tick(short_wait, engine_factory):
    """With a poll interval far longer than the wait, the poller still wakes the run on time: it sleeps only
    until the earliest due timer."""
    engine = engine_factory([short_wait.digest], poll=True, poll_seconds=120)
    run_id = engine.start_run(short_wait.digest, {"n": 1})
    waiting = _wait_for(engine, run_id, {runs.WAITING}, timeout=60)
    done = _wait_for(engine, run_id, {runs.SUCCEEDED, runs.FAILED}, timeout=60)  # < 120: not the tick
    assert done.status == runs.SUCCEEDED, done.error
    late = runs.as_utc(done.finished_at) - runs.as_utc(waiting.wake_at)
    assert timedelta(0) <= late < timedelta(seconds=60)


def test_run_of_a_dead_owner_is_recovered(short_wait, engine_factory):
    """A run whose owner died mid-run (lease expired, status still running) is taken over by another
    engine's poller and completes by replay; the dead owner's lease is simply expired, never honoured."""
    first = engine_factory([short_wait.digest])
    run_id = first.create_run(short_wait.digest, {"n": 41})
    assert first.run_sync(run_id).status == runs.WAITING
    with first.db.session() as s:
        wake_at = runs.as_utc(s.get(Run, run_id).wake_at)
        s.execute(
            sa.update(Run)
            .where(Run.id == run_id)
            .values(
                status=runs.RUNNING,
                wake_at=None,
                lease_owner="dead:1",
                lease_expires_at=runs.utcnow() - timedelta(seconds=5),
            )
        )

    rescuer = engine_factory(poll=True, poll_seconds=0.1)
    done = _wait_for(rescuer, run_id, {runs.SUCCEEDED, runs.FAILED, runs.NEEDS_ATTENTION})
    assert done.status == runs.SUCCEEDED, done.error
    assert done.output["output"] == {"n": 83, "at": {"waited_until": world_impl.iso(wake_at)}}
    resumed = [e for e in run_details(rescuer.db, run_id)["events"] if e["type"] == "run.resumed"]
    assert resumed and all(e["data"]["owner"] == rescuer.owner for e in resumed)
    counts = _event_counts(rescuer, run_id)
    assert all(counts[f"node.started {n}"] == 1 for n in NODES), counts


def test_two_pollers_never_execute_a_run_twice(short_wait, engine_factory):
    a = engine_factory([short_wait.digest], poll=True, poll_seconds=0.05)
    b = engine_factory(poll=True, poll_seconds=0.05)
    ids = [a.create_run(short_wait.digest, {"n": i}) for i in range(8)]
    finished = [_wait_for(a, rid, {runs.SUCCEEDED, runs.FAILED, runs.NEEDS_ATTENTION}, timeout=60) for rid in ids]
    for i, run in enumerate(finished):
        assert run.status == runs.SUCCEEDED, run.error
        assert run.output["output"]["n"] == 2 * i + 1
        assert run.executions == 2  # once up to the wait, once after it: never a concurrent second claim
        counts = _event_counts(a, run.id)
        assert counts["run.started"] == counts["run.resumed"] == 1, counts
        assert all(counts[f"node.started {n}"] == counts[f"node.finished {n}"] == 1 for n in NODES), counts
        journal = run_details(a.db, run.id, with_journal=True)["journal"]
        assert [j["seq"] for j in journal] == list(range(1, len(journal) + 1))
    executions = [
        e for rid in ids for e in run_details(a.db, rid)["events"] if e["type"] in ("run.started", "run.resumed")
    ]
    assert {e["data"]["owner"] for e in executions} <= {a.owner, b.owner}
