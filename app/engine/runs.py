"""Run rows: creation, leases, state transitions and events, as small functions over a session.

Every transition appends an event in the same transaction. Event sequence numbers are allocated by the
database (``next_event_seq``), so the executor, the API and other processes never collide.
"""

from __future__ import annotations

import secrets as _secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.errors import Conflict, InvalidRequest, NotFound, Problem
from app.store.models import Event, JournalEntry, Run

QUEUED, RUNNING, WAITING = "queued", "running", "waiting"
SUCCEEDED, FAILED, CANCELLED, NEEDS_ATTENTION = "succeeded", "failed", "cancelled", "needs_attention"
FINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})
STATES = (QUEUED, RUNNING, WAITING, SUCCEEDED, FAILED, CANCELLED, NEEDS_ATTENTION)


@dataclass(frozen=True)
class Fresh:
    """A run this process has just created already leased to itself (``create_run(claimed_by=...)``): what
    its first execution would otherwise read back (the row it wrote, and an empty journal)."""

    workflow_name: str
    digest: str
    input: Any
    key_base: str | None = None
    parent_run_id: str | None = None


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_run_id() -> str:
    """Sortable by creation time: 11 hex digits of milliseconds, then 16 random hex digits."""
    return f"{int(time.time() * 1000):011x}{_secrets.token_hex(8)}"


def as_utc(dt: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes; everything here is UTC."""
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt


def append_events(s: Session, run_id: str, events: Iterable[dict[str, Any]]) -> list[int]:
    """Insert events for ``run_id`` with the next sequence numbers; returns them."""
    events = list(events)
    if not events:
        return []
    n = len(events)
    last = take_event_seqs(s, run_id, n)
    first = last - n
    _insert_events(s, run_id, first, events, utcnow())
    return list(range(first, last))


def take_event_seqs(s: Session, run_id: str, n: int) -> int:
    """Reserve ``n`` event sequence numbers of ``run_id``; returns the one after the last reserved."""
    return s.connection().execute(_TAKE_SEQS, {"rid": run_id, "n": n}).scalar_one()


# The statements on every run's path, built once: Core on the session's connection, bound parameters, no ORM
# statement construction or bulk machinery per call (a few hundred microseconds each, several per run).
_RUNS = Run.__table__
_RUN_INSERT = _RUNS.insert()
EVENT_INSERT = Event.__table__.insert()  # also the committer's
_TAKE_SEQS = (
    _RUNS.update()
    .where(_RUNS.c.id == sa.bindparam("rid"))
    .values(next_event_seq=_RUNS.c.next_event_seq + sa.bindparam("n"))
    .returning(_RUNS.c.next_event_seq)
)
_FINISH = (
    _RUNS.update()
    .where(_RUNS.c.id == sa.bindparam("rid"), _RUNS.c.status == RUNNING, _RUNS.c.lease_owner == sa.bindparam("owner"))
    .values(
        status=sa.bindparam("status"),
        output=sa.bindparam("output"),
        error=sa.bindparam("error"),
        lease_owner=None,
        lease_expires_at=None,
        updated_at=sa.bindparam("now"),
        finished_at=sa.bindparam("finished_at"),
        active_seconds=_RUNS.c.active_seconds + sa.bindparam("active"),
    )
    .returning(_RUNS.c.parent_run_id)
)


def _insert_events(s: Session, run_id: str, first: int, events: list[dict[str, Any]], now: datetime) -> None:
    s.connection().execute(
        EVENT_INSERT,
        [
            {
                "run_id": run_id,
                "seq": first + i,
                "type": e["type"],
                "node": e.get("node"),
                "data": e.get("data"),
                "at": e.get("at") or now,
            }
            for i, e in enumerate(events)
        ],
    )


def create_run(
    s: Session,
    *,
    workflow_name: str,
    digest: str,
    input: Any,
    parent_run_id: str | None = None,
    parent_seq: int | None = None,
    key_base: str | None = None,
    run_id: str | None = None,
    claimed_by: str | None = None,
    lease_seconds: float = 30,
) -> str:
    """Insert a queued run; with ``claimed_by``, a run already leased to that process (one commit, no claim)."""
    now = utcnow()
    rid = run_id or new_run_id()
    events = [{"type": "run.queued", "data": {"workflow": workflow_name, "digest": digest}}]
    if claimed_by:
        events.append({"type": "run.started", "data": {"execution": 1, "owner": claimed_by}})
    # Core on the connection, not the ORM: this is on every run's path (one cached statement, bound params)
    s.connection().execute(
        _RUN_INSERT,
        dict(
            id=rid,
            workflow_name=workflow_name,
            digest=digest,
            status=RUNNING if claimed_by else QUEUED,
            input=input,
            executions=1 if claimed_by else 0,
            lease_owner=claimed_by,
            lease_expires_at=now + timedelta(seconds=lease_seconds) if claimed_by else None,
            started_at=now if claimed_by else None,
            cancel_requested=False,
            parent_run_id=parent_run_id,
            parent_seq=parent_seq,
            key_base=key_base,
            next_event_seq=1 + len(events),
            active_seconds=0.0,
            created_at=now,
            updated_at=now,
        ),
    )
    _insert_events(s, rid, 1, events, now)
    return rid


def get_run(s: Session, run_id: str) -> Run:
    run = s.get(Run, run_id)
    if run is None:
        raise NotFound(f"no run {run_id}", details={"run_id": run_id})
    return run


def claim(s: Session, run_id: str, *, owner: str, lease_seconds: float, force_waiting: bool = False) -> bool:
    """Take the lease on ``run_id`` if it is runnable: queued, waiting and due (or ``force_waiting``),
    needs_attention being resumed by hand (caller's check), or running under an expired lease."""
    now = utcnow()
    runnable = sa.or_(
        Run.status == QUEUED,
        sa.and_(
            Run.status == WAITING, sa.true() if force_waiting else sa.and_(Run.wake_at.is_not(None), Run.wake_at <= now)
        ),
        sa.and_(Run.status == RUNNING, sa.or_(Run.lease_expires_at.is_(None), Run.lease_expires_at < now)),
    )
    return bool(_take_lease(s, sa.and_(Run.id == run_id, runnable), owner=owner, lease_seconds=lease_seconds))


def _take_lease(s: Session, where, *, owner: str, lease_seconds: float) -> list[str]:
    """Lease the runs matching ``where`` to ``owner`` and record each execution's start in the same
    transaction (one durable commit, not two); returns their ids."""
    now = utcnow()
    rows = s.execute(
        sa.update(Run)
        .where(where)
        .values(
            status=RUNNING,
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            executions=Run.executions + 1,
            started_at=sa.func.coalesce(Run.started_at, now),
            wake_at=None,
            updated_at=now,
        )
        .returning(Run.id, Run.executions)
        .execution_options(synchronize_session=False)
    ).all()
    for run_id, executions in rows:
        kind = "run.started" if executions == 1 else "run.resumed"
        append_events(s, run_id, [{"type": kind, "data": {"execution": executions, "owner": owner}}])
    return [run_id for run_id, _ in rows]


def claim_due(s: Session, *, owner: str, lease_seconds: float, limit: int) -> list[str]:
    """Claim up to ``limit`` due runs for ``owner`` in one transaction; returns their ids.

    On PostgreSQL the candidates are locked with ``FOR UPDATE SKIP LOCKED``, so concurrent workers take
    disjoint sets instead of racing for the same rows. On SQLite writers are serialized anyway; the update's
    own "still runnable" condition makes a lost race harmless there.
    """
    if limit <= 0:
        return []
    now = utcnow()
    due = _due_condition(now)
    q = sa.select(Run.id).where(due).order_by(Run.created_at).limit(limit)
    if s.bind.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    ids = list(s.execute(q).scalars())
    if not ids:
        return []
    return _take_lease(s, sa.and_(Run.id.in_(ids), due), owner=owner, lease_seconds=lease_seconds)


def next_wake_at(s: Session) -> datetime | None:
    """The earliest wake-up time of a waiting run still in the future (index on ``wake_at``), or None."""
    return s.execute(sa.select(sa.func.min(Run.wake_at)).where(Run.status == WAITING, Run.wake_at > utcnow())).scalar()


def _due_condition(now: datetime):
    return sa.or_(
        Run.status == QUEUED,
        sa.and_(Run.status == WAITING, Run.wake_at.is_not(None), Run.wake_at <= now),
        sa.and_(Run.status == RUNNING, Run.lease_expires_at < now),
    )


def renew_leases(s: Session, run_ids: Iterable[str], *, owner: str, lease_seconds: float) -> None:
    ids = list(run_ids)
    if ids:
        now = utcnow()
        s.execute(
            sa.update(Run)
            .where(Run.id.in_(ids), Run.lease_owner == owner, Run.status == RUNNING)
            .values(lease_expires_at=now + timedelta(seconds=lease_seconds))
        )


def require_owner(s: Session, run_id: str, owner: str) -> Run:
    """The run, if ``owner`` still holds its lease (else another process took it over)."""
    run = get_run(s, run_id)
    if run.status != RUNNING or run.lease_owner != owner:
        raise Conflict(f"run {run_id} is no longer leased by {owner} (status {run.status}, owner {run.lease_owner})")
    return run


def finish(
    s: Session,
    run_id: str,
    *,
    owner: str,
    status: str,
    output: Any = None,
    error: dict | None = None,
    event: dict | None = None,
    active_seconds: float = 0.0,
) -> None:
    """End the execution ``owner`` holds the lease of: the run's new state, the execution time it used
    (``active_seconds``) and its event in one statement each; a finished child makes its parent due."""
    now = utcnow()
    row = (
        s.connection()
        .execute(
            _FINISH,
            {
                "rid": run_id,
                "owner": owner,
                "status": status,
                "output": output,
                "error": error,
                "now": now,
                "finished_at": now if status in FINAL else None,
                "active": max(active_seconds, 0.0),
            },
        )
        .first()
    )
    if row is None:
        require_owner(s, run_id, owner)  # raises: the message says who holds it now
        raise Conflict(f"run {run_id} is no longer leased by {owner}")
    append_events(s, run_id, [event or {"type": f"run.{status}", "data": {"error": error} if error else None}])
    if status in FINAL and row.parent_run_id:
        wake(s, row.parent_run_id)


def add_active_seconds(s: Session, run_id: str, seconds: float) -> None:
    """Charge ``seconds`` of execution to the run (its time limit counts every execution, not waits)."""
    s.execute(sa.update(Run).where(Run.id == run_id).values(active_seconds=Run.active_seconds + max(seconds, 0.0)))


def suspend(s: Session, run_id: str, *, owner: str, wake_at: datetime | None, waiting_for: dict) -> None:
    run = require_owner(s, run_id, owner)
    run.status = WAITING
    run.wake_at = wake_at
    run.waiting_for = waiting_for
    run.lease_owner = None
    run.lease_expires_at = None
    run.updated_at = utcnow()
    append_events(
        s,
        run_id,
        [
            {
                "type": "run.waiting",
                "node": waiting_for.get("node"),
                "data": {**waiting_for, "wake_at": wake_at.isoformat() if wake_at else None},
            }
        ],
    )


def release(s: Session, run_id: str, *, owner: str) -> None:
    """Hand a running run back to the queue (its process is stopping): any process resumes it by replay."""
    run = require_owner(s, run_id, owner)
    run.status = QUEUED
    run.lease_owner = None
    run.lease_expires_at = None
    run.updated_at = utcnow()
    append_events(s, run_id, [{"type": "run.released", "data": {"by": owner}}])


def wake(s: Session, run_id: str) -> None:
    """Make a waiting run due now (an approval was decided, a child finished)."""
    s.execute(sa.update(Run).where(Run.id == run_id, Run.status == WAITING).values(wake_at=utcnow()))


def due_runs(s: Session, *, limit: int = 100) -> list[str]:
    """Runs any process may pick up now: queued, waiting and due, or running under an expired lease."""
    q = sa.select(Run.id).where(_due_condition(utcnow())).order_by(Run.created_at).limit(limit)
    return list(s.execute(q).scalars())


def is_cancel_requested(s: Session, run_id: str) -> bool:
    return bool(s.execute(sa.select(Run.cancel_requested).where(Run.id == run_id)).scalar())


def _emit(s: Session, run_id: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Append ``events`` and return them with their sequence numbers (for listeners, after commit)."""
    seqs = append_events(s, run_id, events)
    return [{**e, "seq": n} for e, n in zip(events, seqs, strict=True)]


def cancel(s: Session, run_id: str) -> tuple[str, list[dict[str, Any]]]:
    """Cancel ``run_id``: a queued, waiting or needs_attention run ends now (with an event); a running one gets
    ``cancel_requested`` and its executor stops at its next host call. Returns (status now, events written)."""
    now = utcnow()
    res = s.execute(
        sa.update(Run)
        .where(Run.id == run_id, Run.status.in_((QUEUED, WAITING, NEEDS_ATTENTION)))
        .values(
            status=CANCELLED,
            cancel_requested=True,
            error={"code": "cancelled", "message": "the run was cancelled"},
            wake_at=None,
            finished_at=now,
            updated_at=now,
        )
    )
    if res.rowcount == 1:
        events = _emit(s, run_id, [{"type": "run.cancelled", "data": {"by": "request"}}])
        parent = s.execute(sa.select(Run.parent_run_id).where(Run.id == run_id)).scalar()
        if parent:
            wake(s, parent)
        return CANCELLED, events
    run = get_run(s, run_id)
    if run.status == RUNNING:
        if run.cancel_requested:
            return RUNNING, []
        run.cancel_requested = True
        run.updated_at = now
        return RUNNING, _emit(s, run_id, [{"type": "run.cancel_requested", "data": None}])
    raise Conflict(f"run {run_id} is {run.status}; it has already ended", details={"field": "run_id"})


def resolve_call(
    s: Session, run_id: str, *, seq: int, applied: bool, response: dict | None = None, by: str = "operator"
) -> list[dict[str, Any]]:
    """An operator settles the unknown outcome of call ``seq`` of a run stopped by it, and re-queues the run.

    ``applied``: the other system did it; the journal records ``response`` as the call's answer and the
    replay continues from there. Not applied: the open intent is removed, so the resumed run performs the
    call again, with the same idempotency key."""
    run = get_run(s, run_id)
    error = run.error or {}
    if run.status != NEEDS_ATTENTION or error.get("code") != "ambiguous_side_effect":
        raise Conflict(
            f"run {run_id} is {run.status} ({error.get('code') or 'no error'}); only a run stopped by a call of "
            "unknown outcome (ambiguous_side_effect) has a call to resolve",
            details={"field": "run_id", "status": run.status},
        )
    row = s.get(JournalEntry, (run_id, seq))
    if row is None or row.state != "intent" or row.capability != "http.request":
        raise Conflict(
            f"call {seq} of run {run_id} is not an HTTP call of unknown outcome",
            details={"field": "seq", "open_call": (error.get("details") or {}).get("seq")},
        )
    now = utcnow()
    if applied:
        answer = {"status": 200, "headers": {}, "body": None, **_checked_response(response)}
        row.state, row.completed_at = "done", now
        row.result = {"ok": {**answer, "resolved_by": by}}
    else:
        s.delete(row)
    s.flush()
    data = {"seq": seq, "node": row.node, "outcome": "applied" if applied else "not_applied", "by": by}
    return _emit(s, run_id, [{"type": "call.resolved", "node": row.node, "data": data}]) + requeue(s, run_id)


def _checked_response(response: Any) -> dict[str, Any]:
    """The HTTP answer an operator records for a call: {status, headers, body}, each problem located."""
    if response is None:
        return {}
    problems = []
    if not isinstance(response, dict):
        problems.append(Problem("/response", "the response must be an object {status, headers, body}", "not_an_object"))
    else:
        for name in sorted(set(response) - {"status", "headers", "body"}):
            problems.append(
                Problem(f"/response/{name}", "not a field of an HTTP answer (status, headers, body)", "unknown_field")
            )
        status = response.get("status", 200)
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            problems.append(Problem("/response/status", f"an HTTP status 100..599, not {status!r}", "bad_status"))
        headers = response.get("headers", {})
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            problems.append(Problem("/response/headers", "an object of strings", "bad_headers"))
    if problems:
        raise InvalidRequest(problems, "the recorded response is invalid")
    return response


def requeue(s: Session, run_id: str) -> list[dict[str, Any]]:
    """Put a needs_attention run back in the queue so it is resumed by replay (same digest, same journal)."""
    now = utcnow()
    res = s.execute(
        sa.update(Run)
        .where(Run.id == run_id, Run.status == NEEDS_ATTENTION)
        .values(status=QUEUED, error=None, lease_owner=None, lease_expires_at=None, updated_at=now)
    )
    if res.rowcount != 1:
        run = get_run(s, run_id)
        raise Conflict(
            f"run {run_id} is {run.status}; only a needs_attention run can be resumed by hand",
            details={"field": "run_id", "status": run.status},
        )
    return _emit(s, run_id, [{"type": "run.requeued", "data": {"by": "request"}}])
