"""Approvals: one decision wins (audited once), approvers, the CLI, and the compiled approval workflow resuming
by replay on the branch of the decision, after a timeout, and across processes killed with -9."""

from __future__ import annotations

import getpass
import json
import os
import signal
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from approvalflow import DOC, NAME
from click.testing import CliRunner
from procs import wasmflow_process

from app.cli import cli
from app.engine import approvals, runs
from app.engine.queries import run_details
from app.errors import Conflict, NotFound, UserError
from app.store.db import close_database, open_database
from app.store.models import ApprovalDecision, Event, Run, Wait


@pytest.fixture
def db(database_url):
    yield open_database(database_url)
    close_database(database_url)


def pending(db, *, approvers=(), workflow: str = "wf", seq: int = 3) -> str:
    """A waiting run with a pending approval, without compiling anything; returns the approval key."""
    with db.session() as s:
        run_id = runs.create_run(s, workflow_name=workflow, digest="0" * 64, input={})
        s.execute(sa.update(Run).where(Run.id == run_id).values(status=runs.WAITING))
        key = f"{run_id}:{seq}"
        detail = {"title": "Ship?", "details": "", "timeout_seconds": 3600, "timeout_action": "reject"}
        s.add(
            Wait(
                key=key,
                run_id=run_id,
                seq=seq,
                kind="approval",
                node="approve_x",
                wake_at=runs.utcnow() + timedelta(hours=1),
                detail={**detail, "approvers": list(approvers)},
                status="pending",
                created_at=runs.utcnow(),
            )
        )
    return key


def audit(db, key: str) -> list[ApprovalDecision]:
    with db.session() as s:
        return list(s.execute(sa.select(ApprovalDecision).where(ApprovalDecision.approval_key == key)).scalars())


def events_of(db, run_id: str, kind: str) -> list[Event]:
    with db.session() as s:
        return list(s.execute(sa.select(Event).where(Event.run_id == run_id, Event.type == kind)).scalars())


def test_concurrent_decisions_exactly_one_wins(db):
    key = pending(db)
    barrier = threading.Barrier(8)
    outcomes: list = [None] * 8

    def decide(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = approvals.decide(db, key, approve=i % 2 == 0, by=f"user{i}", reason=f"r{i}")
        except Conflict as err:
            outcomes[i] = err

    threads = [threading.Thread(target=decide, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wins = [o for o in outcomes if isinstance(o, dict)]
    assert len(wins) == 1, outcomes
    assert all(isinstance(o, Conflict) and o.code == "already_decided" for o in outcomes if o is not wins[0])
    (row,) = audit(db, key)
    assert (row.decision, row.by) == (wins[0]["decision"], wins[0]["by"])
    run_id = key.split(":")[0]
    (event,) = events_of(db, run_id, "approval.decided")
    assert event.data["by"] == wins[0]["by"] and event.data["decision"] == wins[0]["decision"]
    with db.session() as s:
        assert s.get(Wait, key).result == {k: v for k, v in wins[0].items() if k not in ("id", "run_id")}
        assert s.get(Run, run_id).wake_at is not None  # due now


def test_second_decision_is_refused_and_changes_nothing(db):
    key = pending(db)
    first = approvals.decide(db, key, approve=True, by="ann", reason="looks fine")
    assert first["approved"] is True and first["decision"] == "approved"
    with pytest.raises(Conflict) as err:
        approvals.decide(db, key, approve=False, by="bob", reason="too late")
    assert f"approval {key} was already decided: approved by ann at {first['decided_at']} (looks fine)" in str(
        err.value.message
    )
    assert len(audit(db, key)) == 1
    assert approvals.get_approval(db, key)["decision"]["by"] == "ann"


def test_unknown_and_non_approval_keys_are_not_found(db):
    with pytest.raises(NotFound):
        approvals.decide(db, "nope:1", approve=True, by="ann", reason="")
    key = pending(db)
    with db.session() as s:
        s.get(Wait, key).kind = "timer"
    with pytest.raises(NotFound):
        approvals.decide(db, key, approve=True, by="ann", reason="")
    with db.session() as s:
        assert s.get(Wait, key).status == "pending"  # the refused decision was rolled back


def test_approvers_restrict_who_decides(db):
    key = pending(db, approvers=["ann", "bob"])
    with pytest.raises(Conflict) as err:
        approvals.decide(db, key, approve=True, by="eve", reason="")
    assert err.value.details["field"] == "by" and "ann, bob" in err.value.message
    assert approvals.get_approval(db, key)["status"] == "pending" and audit(db, key) == []
    with pytest.raises(UserError) as err:
        approvals.decide(db, key, approve=True, by=" ", reason="")
    assert err.value.details["field"] == "by"
    assert approvals.decide(db, key, approve=False, by="bob", reason="no")["decision"] == "rejected"


def test_list_filters(db):
    a = pending(db, workflow="alpha")
    b = pending(db, workflow="beta")
    approvals.decide(db, b, approve=True, by="ann", reason="")
    assert [r["id"] for r in approvals.list_approvals(db)] == [a]
    assert [r["id"] for r in approvals.list_approvals(db, status="decided")] == [b]
    assert {r["id"] for r in approvals.list_approvals(db, status="all")} == {a, b}
    assert [r["id"] for r in approvals.list_approvals(db, status="all", workflow="beta")] == [b]
    assert [r["id"] for r in approvals.list_approvals(db, status="all", run_id=a.split(":")[0])] == [a]
    row = approvals.list_approvals(db)[0]
    assert row["title"] == "Ship?" and row["timeout_action"] == "reject" and row["decision"] is None
    with pytest.raises(UserError):
        approvals.list_approvals(db, status="maybe")


def test_cli_list_approve_reject(db, database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("WASMFLOW_DATABASE_URL", database_url)
    inst = ["--instance", str(tmp_path / "inst")]
    a, b = pending(db), pending(db)
    runner = CliRunner()
    listed = runner.invoke(cli, [*inst, "approvals", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert {r["id"] for r in json.loads(listed.output)["approvals"]} == {a, b}
    ok = runner.invoke(cli, [*inst, "approve", a, "--reason", "fine", "--by", "ann"])
    assert ok.exit_code == 0, ok.output
    assert f"approval {a} approved by ann" in ok.output
    again = runner.invoke(cli, [*inst, "reject", a, "--reason", "late"])
    assert again.exit_code == 3
    assert "already decided: approved by ann" in again.output and "Traceback" not in again.output
    no = runner.invoke(cli, [*inst, "reject", b, "--reason", "nope"])
    assert no.exit_code == 0 and f"rejected by {getpass.getuser()}" in no.output
    missing = runner.invoke(cli, [*inst, "approve", "nope:1", "--reason", "x"])
    assert missing.exit_code == 3 and "no approval nope:1" in missing.output
    assert runner.invoke(cli, [*inst, "approve", b]).exit_code == 2  # --reason is required
    shown = runner.invoke(cli, [*inst, "approvals", "list", "--all"])
    assert "approved by ann" in shown.output and "rejected by" in shown.output


# -- the compiled workflow ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def approval_flow(compiler):
    result = compiler.compile(DOC, with_bundle=False)
    compiler.store.precompiled_path(result.digest)
    return result


def wait_status(db, run_id: str, statuses, timeout: float = 60) -> Run:
    end = time.monotonic() + timeout
    while True:
        with db.session() as s:
            run = s.get(Run, run_id)
            s.expunge(run)
        if run.status in statuses or time.monotonic() > end:
            assert run.status in statuses, f"run {run_id} is {run.status}, expected {statuses}: {run.error}"
            return run
        time.sleep(0.05)


def nodes(db, run_id: str) -> dict:
    from app.engine.run_service import node_view

    return {n["node"]: n for n in node_view(run_details(db, run_id)["events"])}


@pytest.mark.slow
@pytest.mark.parametrize("approve", [True, False])
def test_decision_resumes_the_run_on_its_branch(approval_flow, engine_factory, approve):
    engine = engine_factory([approval_flow.digest])
    run_id = engine.start_run(approval_flow.digest, {"n": 7})
    wait_status(engine.db, run_id, {runs.WAITING})
    (item,) = approvals.list_approvals(engine.db, run_id=run_id)
    assert item["title"] == "Ship 7?" and item["workflow"] == NAME and item["node"] == "approve_x"
    decided = approvals.decide(engine.db, item["id"], approve=approve, by="ann", reason="checked")
    engine.kick(run_id)
    done = wait_status(engine.db, run_id, {runs.SUCCEEDED, runs.FAILED, runs.NEEDS_ATTENTION})
    assert done.status == runs.SUCCEEDED, done.error
    view = nodes(engine.db, run_id)
    out = view["approve_x"]["output"]
    assert {k: out[k] for k in ("approved", "decision", "by", "reason")} == {
        "approved": approve,
        "decision": "approved" if approve else "rejected",
        "by": "ann",
        "reason": "checked",
    }
    assert out["decided_at"] == decided["decided_at"]
    taken, skipped = ("ship", "hold") if approve else ("hold", "ship")
    assert view[taken]["status"] == "finished" and view.get(skipped, {}).get("status") != "finished"
    assert done.executions == 2  # resumed by replay
    with pytest.raises(Conflict):
        approvals.decide(engine.db, item["id"], approve=not approve, by="bob", reason="")
    assert len(audit(engine.db, item["id"])) == 1


@pytest.mark.slow
def test_timeout_applies_the_configured_action_and_is_audited(approval_flow, engine_factory):
    engine = engine_factory([approval_flow.digest])
    run_id = engine.start_run(approval_flow.digest, {"n": 1})
    wait_status(engine.db, run_id, {runs.WAITING})
    (item,) = approvals.list_approvals(engine.db, run_id=run_id)
    past = runs.utcnow() - timedelta(seconds=1)
    with engine.db.session() as s:
        s.execute(sa.update(Wait).where(Wait.key == item["id"]).values(wake_at=past))
        s.execute(sa.update(Run).where(Run.id == run_id).values(wake_at=past))
    outcome = engine.run_sync(run_id)
    assert outcome.status == runs.SUCCEEDED, outcome.error
    view = nodes(engine.db, run_id)
    assert view["approve_x"]["output"]["decision"] == "timed_out"
    assert view["approve_x"]["output"]["approved"] is True and view["ship"]["status"] == "finished"
    (row,) = audit(engine.db, item["id"])
    assert (row.decision, row.by) == ("timed_out", None)
    with pytest.raises(Conflict, match="already decided: timed_out"):
        approvals.decide(engine.db, item["id"], approve=False, by="ann", reason="")


@pytest.mark.slow
def test_waiting_approval_survives_kill_9_and_resumes_in_other_processes(
    approval_flow, engine_factory, database_url, compiler, tmp_path
):
    engine = engine_factory([approval_flow.digest])
    doc = tmp_path / "flow.json"
    doc.write_text(json.dumps(DOC))
    where = {"instance": tmp_path / "inst", "database_url": database_url, "artifacts": compiler.store.root}
    first = wasmflow_process(["run", str(doc), "--input", '{"n": 3}'], **where)
    end = time.monotonic() + 60
    while True:
        with engine.db.session() as s:
            run_id = s.execute(sa.select(Run.id).where(Run.status == runs.WAITING)).scalar()
        if run_id or time.monotonic() > end or first.poll() is not None:
            break
        time.sleep(0.05)
    if first.poll() is None:
        os.kill(first.pid, signal.SIGKILL)
    first.communicate(timeout=30)
    assert run_id, "the run never reached its approval"
    (item,) = approvals.list_approvals(engine.db, run_id=run_id)

    decider = wasmflow_process(["approve", item["id"], "--reason", "ok by cli", "--by", "ann"], **where)
    out, err = decider.communicate(timeout=60)
    assert decider.returncode == 0, err
    assert f"approval {item['id']} approved by ann" in out
    again = wasmflow_process(["reject", item["id"], "--reason", "late"], **where)
    out, err = again.communicate(timeout=60)
    assert again.returncode == 3 and "already decided: approved by ann" in err

    resumer = wasmflow_process(["runs", "resume", run_id], **where)
    out, err = resumer.communicate(timeout=120)
    assert resumer.returncode == 0, err
    assert "shipped" in out
    done = wait_status(engine.db, run_id, {runs.SUCCEEDED})
    assert nodes(engine.db, run_id)["approve_x"]["output"]["by"] == "ann"
    assert done.status == runs.SUCCEEDED
