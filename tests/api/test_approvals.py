"""The approvals API: list, show, approve, reject; 409 for a second decision, 404 unknown, located 422s; a
decision resumes the compiled approval workflow on its branch at once (the endpoint kicks the run)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from apihelpers import copy_artifacts, wait_for
from approvalflow import DOC

from app.engine import runs
from app.store.models import ApprovalDecision, Run, Wait


def _db(app):
    return app.extensions["wasmflow.engine"].db


def pending(db, *, approvers=(), workflow: str = "wf") -> str:
    """A waiting run with a pending approval (nothing compiled); returns its key."""
    with db.session() as s:
        run_id = runs.create_run(s, workflow_name=workflow, digest="0" * 64, input={})
        s.execute(sa.update(Run).where(Run.id == run_id).values(status=runs.WAITING))
        key = f"{run_id}:2"
        s.add(
            Wait(
                key=key,
                run_id=run_id,
                seq=2,
                kind="approval",
                node="approve_x",
                wake_at=runs.utcnow() + timedelta(hours=1),
                detail={
                    "title": "Ship?",
                    "details": "order 7",
                    "timeout_seconds": 3600,
                    "timeout_action": "reject",
                    "approvers": list(approvers),
                },
                status="pending",
                created_at=runs.utcnow(),
            )
        )
    return key


def audit_count(db, key: str) -> int:
    with db.session() as s:
        q = sa.select(sa.func.count()).select_from(ApprovalDecision).where(ApprovalDecision.approval_key == key)
        return s.execute(q).scalar()


def test_list_show_approve_and_second_decision_409(app, client):
    key = pending(_db(app))
    listed = client.get("/api/approvals").get_json()["approvals"]
    assert [a["id"] for a in listed] == [key]
    assert listed[0]["status"] == "pending" and listed[0]["details"] == "order 7"
    shown = client.get(f"/api/approvals/{key}")
    assert shown.status_code == 200 and shown.get_json()["title"] == "Ship?"
    r = client.post(f"/api/approvals/{key}/approve", json={"by": "ann", "reason": "fine"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["approved"] is True and body["decision"] == "approved" and body["by"] == "ann"
    again = client.post(f"/api/approvals/{key}/reject", json={"by": "bob", "reason": "no"})
    assert again.status_code == 409
    err = again.get_json()["error"]
    assert err["code"] == "already_decided" and "already decided: approved by ann" in err["message"]
    assert client.get(f"/api/approvals/{key}").get_json()["decision"]["by"] == "ann"
    assert audit_count(_db(app), key) == 1
    assert client.get("/api/approvals").get_json()["approvals"] == []
    decided = client.get("/api/approvals?status=decided").get_json()["approvals"]
    assert [a["id"] for a in decided] == [key]
    run_id = key.split(":")[0]
    assert len(client.get(f"/api/approvals?status=all&run_id={run_id}").get_json()["approvals"]) == 1
    assert client.get("/api/approvals?status=all&workflow=other").get_json()["approvals"] == []


def test_url_encoded_key_reject(app, client):
    key = pending(_db(app))
    r = client.post(f"/api/approvals/{key.replace(':', '%3A')}/reject", json={"by": "ann"})
    assert r.status_code == 200 and r.get_json()["decision"] == "rejected" and r.get_json()["reason"] == ""


def test_errors_name_the_field(app, client):
    key = pending(_db(app), approvers=["ann"])
    assert client.get("/api/approvals/nope:1").status_code == 404
    missing = client.post("/api/approvals/nope:1/approve", json={"by": "ann"})
    assert missing.status_code == 404 and missing.get_json()["error"]["field"] == "key"
    no_by = client.post(f"/api/approvals/{key}/approve", json={"reason": "x"})
    assert no_by.status_code == 422
    assert [p["path"] for p in no_by.get_json()["error"]["errors"]] == ["/by"]
    wrong = client.post(f"/api/approvals/{key}/approve", json={"by": "eve"})
    assert wrong.status_code == 409 and wrong.get_json()["error"]["field"] == "by"
    bad_status = client.get("/api/approvals?status=maybe")
    assert bad_status.status_code == 422
    assert client.get(f"/api/approvals/{key}").get_json()["status"] == "pending"
    assert audit_count(_db(app), key) == 0
    assert client.post(f"/api/approvals/{key}/approve", json={"by": "ann"}).status_code == 200


@pytest.mark.slow
def test_approve_resumes_the_run_on_the_approved_branch(make_app, compiler, database_url):
    digest = compiler.compile(DOC, with_bundle=False).digest
    copy_artifacts(compiler, database_url, [digest])
    app = make_app()
    client = app.test_client()
    engine = app.extensions["wasmflow.engine"]
    run_id = engine.start_run(digest, {"n": 5}, workflow_name=DOC["name"])
    wait_for(client, run_id, "waiting", timeout=240)  # a first run may load a fresh artifact on a busy machine
    (item,) = client.get(f"/api/approvals?run_id={run_id}").get_json()["approvals"]
    assert item["title"] == "Ship 5?" and item["timeout_action"] == "approve"
    r = client.post(f"/api/approvals/{item['id']}/approve", json={"by": "ann", "reason": "go"})
    assert r.status_code == 200, r.get_json()
    done = wait_for(client, run_id, {"succeeded", "failed", "needs_attention"})
    assert done["status"] == "succeeded", done
    view = {n["node"]: n for n in done["nodes"]}
    assert view["approve_x"]["output"]["by"] == "ann" and view["approve_x"]["output"]["approved"] is True
    assert view["ship"]["status"] == "finished" and view.get("hold", {}).get("status") != "finished"
    assert client.post(f"/api/approvals/{item['id']}/reject", json={"by": "bob"}).status_code == 409
