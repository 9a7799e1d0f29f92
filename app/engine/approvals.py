"""Approvals as people see them: list pending and decided approvals, approve or reject one (no Flask).

An approval is the ``Wait`` row (kind ``approval``) that an ``approval`` node created, keyed ``run_id:seq``.
A decision settles it in one transaction with its audit row (``approval_decisions``, append-only), its
``approval.decided`` event and the run made due; the run then resumes by replay and reads the decision as the
node's output. The settling write comes first and is conditional (``status = 'pending'``), so of two racing
deciders exactly one wins: on PostgreSQL the UPDATE locks the row and re-checks the condition; on SQLite the
write lock serializes the transactions.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app.engine.runs import utcnow
from app.errors import Conflict, NotFound, UserError
from app.runtime.world import iso, settle_pending
from app.store.models import ApprovalDecision, Run, Wait
from app.workspaces import workflow_filter

STATUSES = ("pending", "decided", "all")
MAX_REASON = 2000
MAX_BY = 200


def _iso(dt) -> str | None:
    return iso(dt) if dt is not None else None


def _row(w: Wait, workflow: str | None) -> dict[str, Any]:
    detail = w.detail or {}
    result = w.result if w.status == "done" and isinstance(w.result, dict) else None
    return {
        "id": w.key,
        "run_id": w.run_id,
        "workflow": workflow,
        "node": w.node,
        "title": detail.get("title"),
        "details": detail.get("details"),
        "requested_at": _iso(w.created_at),
        "timeout_at": _iso(w.wake_at),
        "timeout_action": detail.get("timeout_action") or "reject",
        "approvers": list(detail.get("approvers") or []),
        "status": "pending" if w.status == "pending" else "decided",
        "decision": result,
    }


def list_approvals(
    db,
    *,
    status: str = "pending",
    run_id: str | None = None,
    workflow: str | None = None,
    workspace: str | None = None,
) -> list[dict[str, Any]]:
    """Approvals oldest first (of ``workspace``'s runs, when given); ``status`` is pending, decided or all."""
    if status not in STATUSES:
        raise UserError(f"status must be one of {', '.join(STATUSES)}, not {status!r}", details={"field": "status"})
    q = (
        sa.select(Wait, Run.workflow_name)
        .join(Run, Run.id == Wait.run_id, isouter=True)
        .where(Wait.kind == "approval")
        .order_by(Wait.created_at, Wait.key)
    )
    if status == "pending":
        q = q.where(Wait.status == "pending")
    elif status == "decided":
        q = q.where(Wait.status != "pending")
    if run_id:
        q = q.where(Wait.run_id == run_id)
    if workflow:
        q = q.where(Run.workflow_name == workflow)
    if workspace is not None:
        q = q.where(workflow_filter(Run.workflow_name, workspace))
    with db.session() as s:
        return [_row(w, name) for w, name in s.execute(q).all()]


def get_approval(db, key: str) -> dict[str, Any]:
    with db.session() as s:
        w = s.get(Wait, key)
        if w is None or w.kind != "approval":
            raise NotFound(f"no approval {key}", details={"field": "key", "key": key})
        return _row(w, s.execute(sa.select(Run.workflow_name).where(Run.id == w.run_id)).scalar())


def history(db, key: str) -> list[dict[str, Any]]:
    """The audit rows of ``key`` in order (one per settled approval)."""
    with db.session() as s:
        rows = s.execute(
            sa.select(ApprovalDecision).where(ApprovalDecision.approval_key == key).order_by(ApprovalDecision.id)
        ).scalars()
        return [
            {"id": r.id, "decision": r.decision, "by": r.by, "reason": r.reason, "decided_at": _iso(r.decided_at)}
            for r in rows
        ]


def _already(w: Wait) -> Conflict:
    r = w.result if isinstance(w.result, dict) else {}
    who = f" by {r['by']}" if r.get("by") else ""
    reason = f" ({r['reason']})" if r.get("reason") else ""
    return Conflict(
        f"approval {w.key} was already decided: {r.get('decision', 'settled')}{who} at {r.get('decided_at')}{reason}",
        code="already_decided",
        details={"field": "key", "key": w.key, "decision": r or None},
    )


def _check_by(by: Any, reason: Any) -> tuple[str, str]:
    if not isinstance(by, str) or not by.strip():
        raise UserError("by is required: who decides", details={"field": "by"})
    if len(by) > MAX_BY:
        raise UserError(f"by is longer than {MAX_BY} characters", details={"field": "by"})
    if reason is None:
        reason = ""
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise UserError(f"reason must be a string of at most {MAX_REASON} characters", details={"field": "reason"})
    return by.strip(), reason


def decide(db, key: str, *, approve: bool, by: str, reason: str = "") -> dict[str, Any]:
    """Approve or reject the pending approval ``key`` (NotFound, or Conflict if already decided or ``by`` is
    not an approver); returns the decision ``{approved, decision, by, reason, decided_at}`` and ``run_id``."""
    by, reason = _check_by(by, reason)
    now = utcnow()
    result = {
        "approved": bool(approve),
        "decision": "approved" if approve else "rejected",
        "by": by,
        "reason": reason,
        "decided_at": iso(now),
    }
    data = {"decision": result["decision"], "by": by, "reason": reason}
    with db.session() as s:
        won = settle_pending(s, key, result=result, event_type="approval.decided", event_data=data)
        w = s.get(Wait, key)
        if w is None or w.kind != "approval":
            raise NotFound(f"no approval {key}", details={"field": "key", "key": key})
        if not won:
            raise _already(w)
        approvers = list((w.detail or {}).get("approvers") or [])
        if approvers and by not in approvers:  # raising rolls the settling back
            raise Conflict(
                f"{by!r} may not decide approval {key}; approvers: {', '.join(approvers)}",
                code="not_an_approver",
                details={"field": "by", "approvers": approvers},
            )
        s.add(
            ApprovalDecision(
                approval_key=key,
                run_id=w.run_id,
                node=w.node,
                decision=result["decision"],
                by=by,
                reason=reason,
                decided_at=now,
            )
        )
        run_id = w.run_id
    return {"id": key, "run_id": run_id, **result}
