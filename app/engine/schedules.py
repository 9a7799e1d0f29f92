"""Cron schedules of deployed workflows, fired exactly once per tick across processes.

``sync_schedules`` makes the ``schedules`` table match the active deployments whose version starts with
``trigger.schedule``; ``fire_due`` fires due ticks. A tick is claimed by moving ``next_fire_at`` with
``UPDATE ... WHERE next_fire_at = <the due tick>`` in the same transaction that creates the run: only one
process's update matches, so the run exists exactly once (and not at all if that transaction fails).

Missed ticks (the server was down): ONE catch-up run for the most recent missed tick, then the schedule
continues from now; older missed ticks are skipped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from croniter import croniter

from app.engine import runs
from app.engine.triggers import trigger_node
from app.store import Database
from app.store.models import Deployment, ScheduleState, WorkflowVersion

log = logging.getLogger(__name__)

# (database url, workflow, version) -> (cron, timezone) or None: versions are immutable, so it never goes stale
_triggers: dict[tuple[str, str, int], tuple[str, str] | None] = {}
_triggers_lock = threading.Lock()


def iso_z(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def next_tick(cron: str, timezone: str, after: datetime) -> datetime:
    """The first tick strictly after ``after`` (UTC), reading ``cron`` in ``timezone``."""
    local = after.astimezone(ZoneInfo(timezone))
    return croniter(cron, local).get_next(datetime).astimezone(UTC)


def last_tick(cron: str, timezone: str, at: datetime) -> datetime:
    """The latest tick at or before ``at`` (UTC)."""
    local = (at + timedelta(seconds=1)).astimezone(ZoneInfo(timezone))
    return croniter(cron, local).get_prev(datetime).astimezone(UTC)


def _schedule_of(s, url: str, workflow: str, *, version: int) -> tuple[str, str] | None:
    key = (url, workflow, version)
    with _triggers_lock:
        if key in _triggers:
            return _triggers[key]
    dsl = s.execute(
        sa.select(WorkflowVersion.dsl).where(
            WorkflowVersion.workflow_name == workflow, WorkflowVersion.number == version
        )
    ).scalar()
    node = trigger_node(dsl) if dsl else None
    found = None
    if node and node.get("type") == "trigger.schedule":
        cfg = node.get("config") or {}
        found = (cfg["cron"], cfg.get("timezone") or "UTC")
    if dsl is not None:
        with _triggers_lock:
            _triggers[key] = found
    return found


def sync_schedules(db: Database, *, now: datetime | None = None) -> None:
    """Insert, update or remove schedule rows so they match the active deployments (cheap when unchanged)."""
    now = now or runs.utcnow()
    with db.session() as s:
        deployed = s.execute(
            sa.select(Deployment.workflow_name, Deployment.version).where(Deployment.active.is_(True))
        ).all()
        states = {st.workflow_name: st for st in s.execute(sa.select(ScheduleState)).scalars()}
        wanted = {}
        for name, version in deployed:
            sched = _schedule_of(s, db.url, name, version=version)
            if sched is not None:
                wanted[name] = (version, *sched)
    for name in states:
        if name not in wanted:
            with db.session() as s:
                s.execute(sa.delete(ScheduleState).where(ScheduleState.workflow_name == name))
    for name, (version, cron, tz) in wanted.items():
        st = states.get(name)
        if st is not None and (st.version, st.cron, st.timezone) == (version, cron, tz):
            continue
        try:
            nxt = next_tick(cron, tz, now)
        except Exception as exc:  # noqa: BLE001 - a bad schedule must not stop the others
            log.warning("schedule of %s (version %s) is unusable: %s", name, version, exc)
            continue
        try:
            with db.session() as s:
                if st is None:
                    s.add(ScheduleState(workflow_name=name, version=version, cron=cron, timezone=tz, next_fire_at=nxt))
                elif (st.cron, st.timezone) == (cron, tz):
                    # a new version with the same schedule keeps its next tick
                    s.execute(
                        sa.update(ScheduleState).where(ScheduleState.workflow_name == name).values(version=version)
                    )
                else:
                    s.execute(
                        sa.update(ScheduleState)
                        .where(ScheduleState.workflow_name == name)
                        .values(version=version, cron=cron, timezone=tz, next_fire_at=nxt)
                    )
        except sa.exc.IntegrityError:
            pass  # another process inserted it first


def fire_due(db: Database, *, kick: Callable[[str], Any] | None = None, now: datetime | None = None) -> list[str]:
    """Fire every due tick once (claim + create the run in one transaction); returns the new run ids."""
    now = now or runs.utcnow()
    with db.session() as s:
        due = list(s.execute(sa.select(ScheduleState).where(ScheduleState.next_fire_at <= now)).scalars())
    fired = []
    for st in due:
        try:
            rid = _fire(db, st, now)
        except Exception:  # noqa: BLE001 - one broken schedule must not block the others
            log.exception("firing the schedule of %s failed", st.workflow_name)
            continue
        if rid is not None:
            fired.append(rid)
            if kick is not None:
                kick(rid)
    return fired


class _Lost(Exception):
    """Another process claimed this tick first (rolls the transaction back)."""


def _fire(db: Database, st: ScheduleState, now: datetime) -> str | None:
    fire_at = max(runs.as_utc(st.next_fire_at), last_tick(st.cron, st.timezone, now))
    nxt = next_tick(st.cron, st.timezone, now)
    rid = runs.new_run_id()
    try:
        with db.session() as s:
            claimed = s.execute(
                sa.update(ScheduleState)
                .where(ScheduleState.workflow_name == st.workflow_name, ScheduleState.next_fire_at == st.next_fire_at)
                .values(next_fire_at=nxt, last_fired_at=fire_at, last_run_id=rid)
            ).rowcount
            if claimed != 1:
                raise _Lost
            digest = s.execute(
                sa.select(WorkflowVersion.digest).where(
                    WorkflowVersion.workflow_name == st.workflow_name, WorkflowVersion.number == st.version
                )
            ).scalar_one()
            runs.create_run(
                s, workflow_name=st.workflow_name, digest=digest, input={"scheduled_at": iso_z(fire_at)}, run_id=rid
            )
    except _Lost:
        return None
    return rid


def schedule_duty(engine: Any) -> None:
    """An Engine duty: sync the schedule rows, then fire what is due (errors are logged, never raised)."""
    try:
        sync_schedules(engine.db)
        fire_due(engine.db, kick=engine.kick)
    except Exception:  # noqa: BLE001 - the engine's poll loop must go on picking up runs
        log.exception("schedule duty failed")
