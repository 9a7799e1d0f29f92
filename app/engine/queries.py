"""Read models of runs for the CLI and the API (no writes)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app.engine import runs
from app.store import Database
from app.store.models import Event, JournalEntry


def _iso(dt) -> str | None:
    dt = runs.as_utc(dt)
    return dt.isoformat() if dt else None


def run_details(db: Database, run_id: str, *, with_journal: bool = False) -> dict[str, Any]:
    with db.session() as s:
        run = runs.get_run(s, run_id)
        events = s.execute(sa.select(Event).where(Event.run_id == run_id).order_by(Event.seq)).scalars().all()
        out: dict[str, Any] = {
            "id": run.id,
            "workflow": run.workflow_name,
            "digest": run.digest,
            "status": run.status,
            "input": run.input,
            "output": run.output,
            "error": run.error,
            "response": run.response,
            "waiting_for": run.waiting_for,
            "wake_at": _iso(run.wake_at),
            "executions": run.executions,
            "parent_run_id": run.parent_run_id,
            "created_at": _iso(run.created_at),
            "started_at": _iso(run.started_at),
            "finished_at": _iso(run.finished_at),
            "events": [
                {"seq": e.seq, "type": e.type, "node": e.node, "data": e.data, "at": _iso(e.at)} for e in events
            ],
        }
        if with_journal:
            rows = s.execute(
                sa.select(JournalEntry).where(JournalEntry.run_id == run_id).order_by(JournalEntry.seq)
            ).scalars()
            out["journal"] = [
                {
                    "seq": r.seq,
                    "capability": r.capability,
                    "node": r.node,
                    "state": r.state,
                    "request_hash": r.request_hash,
                    "request": r.request,
                    "result": r.result,
                }
                for r in rows
            ]
        return out
