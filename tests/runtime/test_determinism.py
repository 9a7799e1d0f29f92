"""Replay is deterministic or it stops (ARCHITECTURE.md, contract 5): a recorded journal (golden file) resumes
the workflow it was recorded from, sends a changed workflow to ``needs_attention`` with a determinism error
naming the call, and an intent without a result of a capability that cannot be retried is an ambiguous side
effect. Never silently continued."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from support import GOLDEN, check_golden
from waitflow import wait_between_transforms

from app import capabilities
from app.capabilities import Capability, Effect
from app.engine import runs
from app.engine.queries import run_details
from app.errors import Conflict
from app.runtime import world as world_impl
from app.runtime.journal import DONE, FAILED, INTENT, AmbiguousSideEffect, Decision, Journal, Record, request_hash
from app.store.models import JournalEntry, Run, Wait

pytestmark = pytest.mark.slow

GOLDEN_JOURNAL = GOLDEN / "journals" / "wait-between-transforms.json"
INPUT = {"n": 2}


@pytest.fixture(scope="module")
def versions(compiler) -> dict:
    """The recorded workflow (shared with test_waits_recovery) and two changed ones of the same name: one
    expression differs; the wait and what follows removed."""
    futures = {
        "original": compiler.submit(wait_between_transforms(), with_bundle=False),
        "changed": compiler.submit(wait_between_transforms("{'n': input['n'] * 3}"), with_bundle=False),
        "shortened": compiler.submit(wait_between_transforms(shortened=True), with_bundle=False),
    }
    results = {k: f.result() for k, f in futures.items()}
    for r in results.values():  # the native form now, not inside the first run's time
        compiler.store.precompiled_path(r.digest)
    return results


def _journal(engine, run_id: str) -> list[dict]:
    rows = run_details(engine.db, run_id, with_journal=True)["journal"]
    return [{k: r[k] for k in ("seq", "capability", "node", "state", "request_hash", "result")} for r in rows]


def test_recorded_journal_matches_golden(versions, engine_factory, update_golden):
    """Run the original until it waits; its journal (hashes included) is the golden history."""
    engine = engine_factory([versions["original"].digest])
    outcome = engine.run_sync(engine.create_run(versions["original"].digest, INPUT))
    assert outcome.status == runs.WAITING
    journal = _journal(engine, outcome.run_id)
    assert journal[-1]["capability"] == "timer.wait" and journal[-1]["state"] == INTENT
    check_golden(GOLDEN_JOURNAL, json.dumps(journal, indent=1) + "\n", update_golden)


def _seed_from_golden(engine, digest: str) -> tuple[str, str]:
    """A new run of ``digest`` that looks exactly like the golden run at its wait, already due."""
    golden = json.loads(GOLDEN_JOURNAL.read_text())
    run_id = engine.create_run(digest, INPUT)
    due = runs.utcnow().replace(microsecond=0) - timedelta(minutes=5)
    timer = golden[-1]
    with engine.db.session() as s:
        s.execute(sa.insert(JournalEntry), [{**r, "run_id": run_id, "created_at": due} for r in golden])
        s.add(
            Wait(
                key=f"{run_id}:{timer['seq']}",
                run_id=run_id,
                seq=timer["seq"],
                kind="timer",
                node=timer["node"],
                wake_at=due,
                detail={"until": world_impl.iso(due)},
                status="pending",
                created_at=due,
            )
        )
        s.execute(
            sa.update(Run)
            .where(Run.id == run_id)
            .values(status=runs.WAITING, wake_at=due, executions=1, waiting_for={"kind": "timer", "node": "pause"})
        )
    return run_id, world_impl.iso(due)


def test_golden_journal_resumes_the_unchanged_workflow(versions, engine_factory):
    engine = engine_factory([versions["original"].digest])
    run_id, due = _seed_from_golden(engine, versions["original"].digest)
    outcome = engine.run_sync(run_id)
    assert outcome.status == runs.SUCCEEDED, outcome.error
    assert outcome.output["output"] == {"n": 5, "at": {"waited_until": due}}
    journal = _journal(engine, run_id)
    golden = json.loads(GOLDEN_JOURNAL.read_text())
    assert [(j["seq"], j["request_hash"]) for j in journal[: len(golden)]] == [
        (g["seq"], g["request_hash"]) for g in golden
    ]
    assert journal[len(golden) - 1]["state"] == DONE  # the wait's result joined its intent
    started = [e["node"] for e in run_details(engine.db, run_id)["events"] if e["type"] == "node.started"]
    assert started == ["after"]  # everything up to the wait was answered from the journal, not re-emitted


def test_golden_journal_against_a_changed_workflow_needs_attention(versions, engine_factory):
    engine = engine_factory([versions["changed"].digest])
    run_id, _ = _seed_from_golden(engine, versions["changed"].digest)
    golden = json.loads(GOLDEN_JOURNAL.read_text())
    outcome = engine.run_sync(run_id, force_waiting=True)

    assert outcome.status == runs.NEEDS_ATTENTION
    err = outcome.error
    assert err["code"] == "determinism_error", err
    (diverged,) = [
        g for g in golden if g["node"] == "before" and g["request_hash"] == err["details"]["journal"]["request_hash"]
    ]
    seq = err["details"]["seq"]
    assert seq == diverged["seq"] and f"call {seq}" in err["message"]
    assert "node.event" in err["message"] and "node before" in err["message"]
    assert err["details"]["now"]["capability"] == err["details"]["journal"]["capability"] == "node.event"
    # nothing past the divergence happened: the journal is the golden one, the wait and `after` never ran
    assert _journal(engine, run_id) == [{**g} for g in golden]
    details = run_details(engine.db, run_id)
    assert details["status"] == "needs_attention" and details["error"] == err
    assert not [e for e in details["events"] if e["type"] == "node.started"]
    with engine.db.session() as s:
        assert s.get(Wait, f"{run_id}:{golden[-1]['seq']}").status == "pending"
    with pytest.raises(Conflict):  # not picked up again on its own
        engine.run_sync(run_id)


def test_golden_journal_against_a_workflow_that_ends_earlier_needs_attention(versions, engine_factory):
    """Every call the new code makes matches the journal, but it ends before the journal does: finishing
    would silently drop the journaled wait (in general: side effects that happened). It must stop instead."""
    engine = engine_factory([versions["shortened"].digest])
    run_id, _ = _seed_from_golden(engine, versions["shortened"].digest)
    golden = json.loads(GOLDEN_JOURNAL.read_text())
    outcome = engine.run_sync(run_id)
    assert outcome.status == runs.NEEDS_ATTENTION, outcome
    err = outcome.error
    assert err["code"] == "determinism_error", err
    first_missing = next(g for g in golden if g["node"] == "pause")
    assert err["details"]["seq"] == first_missing["seq"] and err["details"]["not_made"] == [
        g["seq"] for g in golden if g["seq"] >= first_missing["seq"]
    ]
    assert f"call {first_missing['seq']}" in err["message"] and "ended without making it" in err["message"]
    assert _journal(engine, run_id) == golden
    assert run_details(engine.db, run_id)["output"] is None


def test_unfinished_intent_of_a_non_retriable_call_needs_attention(versions, engine_factory, monkeypatch):
    """End to end: the golden run's last call is a timer.wait intent without a result. Were timer.wait
    non-idempotent, resuming could repeat its effect: the run must stop as an ambiguous side effect."""
    timer = capabilities.get("timer.wait")
    monkeypatch.setitem(capabilities.BY_NAME, "timer.wait", dataclasses.replace(timer, effect=Effect.NON_IDEMPOTENT))
    engine = engine_factory([versions["original"].digest])
    run_id, _ = _seed_from_golden(engine, versions["original"].digest)
    golden = json.loads(GOLDEN_JOURNAL.read_text())
    outcome = engine.run_sync(run_id)
    assert outcome.status == runs.NEEDS_ATTENTION
    err = outcome.error
    assert err["code"] == "ambiguous_side_effect", err
    assert err["details"]["seq"] == golden[-1]["seq"] and err["details"]["capability"] == "timer.wait"
    assert "may or may not have happened" in err["message"] and "node pause" in err["message"]
    assert _journal(engine, run_id)[-1]["state"] == INTENT
    monkeypatch.undo()
    assert capabilities.get("timer.wait") is timer


def test_decide_for_each_effect(monkeypatch):
    """Journal.decide directly, with a test-only non-idempotent capability (no such entry exists today)."""
    assert not [c for c in capabilities.CAPABILITIES if c.effect is Effect.NON_IDEMPOTENT]
    charge = Capability("test.charge", "test-charge", Effect.NON_IDEMPOTENT, "test only", {}, {})
    monkeypatch.setitem(capabilities.BY_NAME, "test.charge", charge)
    h = request_hash("test.charge", {"amount": 5})
    journal = Journal.load(
        "r1",
        [
            Record(1, "test.charge", h, INTENT, node="pay"),
            Record(2, "http.request", "h2", INTENT, node="call"),
            Record(3, "test.charge", h, DONE, node="pay", result={"ok": 1}),
            Record(4, "test.charge", h, FAILED, node="pay", result={"code": "x"}),
        ],
    )
    with pytest.raises(AmbiguousSideEffect) as exc:
        journal.decide(1, "test.charge", h, node="pay")
    assert exc.value.code == "ambiguous_side_effect" and exc.value.details["seq"] == 1
    assert journal.decide(2, "http.request", "h2")[0] is Decision.RETRY
    assert journal.decide(3, "test.charge", h)[0] is Decision.REPLAY
    assert journal.decide(4, "test.charge", h)[0] is Decision.REPLAY
    assert journal.decide(5, "test.charge", h) == (Decision.LIVE, None)
    monkeypatch.undo()
    assert "test.charge" not in capabilities.BY_NAME
