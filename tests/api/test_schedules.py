"""Cron schedules: sync follows deployments, a due tick fires exactly once across engines and threads, missed
ticks give one catch-up run, time zones, and ``wasmflow worker`` fires schedules too."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from support import ROOT
from trigger_helpers import copy_artifacts, deploy_rows, example

from app.config import Settings
from app.engine.engine import Engine
from app.engine.schedules import fire_due, last_tick, next_tick, schedule_duty, sync_schedules
from app.store import open_database
from app.store.db import close_database
from app.store.models import Deployment, Run, ScheduleState

NOW = datetime(2026, 11, 18, 10, 17, 30, tzinfo=UTC)  # a Wednesday


@pytest.fixture(scope="module")
def report_digest(compiler) -> str:
    return compiler.submit(example("daily-report"), with_bundle=False).result().digest


@pytest.fixture
def db(database_url, compiler, report_digest):
    copy_artifacts(compiler, database_url, [report_digest])
    yield open_database(database_url)
    close_database(database_url)


def _doc(cron: str, tz: str = "UTC", name: str = "daily-report") -> dict:
    doc = example("daily-report")
    doc["name"] = name
    doc["nodes"][0]["config"] = {"cron": cron, "timezone": tz}
    return doc


def _state(db, name: str = "daily-report") -> ScheduleState | None:
    with db.session() as s:
        return s.get(ScheduleState, name)


def _utc(dt):
    return dt if dt is None or dt.tzinfo else dt.replace(tzinfo=UTC)


def _runs(db, name: str = "daily-report") -> list[Run]:
    with db.session() as s:
        return list(s.execute(sa.select(Run).where(Run.workflow_name == name).order_by(Run.created_at)).scalars())


def test_ticks_are_read_in_the_schedules_time_zone():
    berlin = "Europe/Berlin"
    # Friday noon before the switch to summer time: next weekday 07:00 Berlin is Monday 05:00 UTC (CEST)
    assert next_tick("0 7 * * 1-5", berlin, datetime(2026, 3, 27, 12, tzinfo=UTC)) == datetime(
        2026, 3, 30, 5, tzinfo=UTC
    )
    assert next_tick("0 7 * * 1-5", berlin, datetime(2026, 3, 26, 12, tzinfo=UTC)) == datetime(
        2026, 3, 27, 6, tzinfo=UTC
    )
    assert last_tick("0 * * * *", "UTC", datetime(2026, 1, 1, 9, 0, tzinfo=UTC)) == datetime(2026, 1, 1, 9, tzinfo=UTC)
    assert last_tick("0 * * * *", "UTC", datetime(2026, 1, 1, 9, 59, tzinfo=UTC)) == datetime(2026, 1, 1, 9, tzinfo=UTC)


def test_sync_follows_deployments(db, report_digest):
    deploy_rows(db, "daily-report", report_digest, dsl=_doc("0 7 * * 1-5", "Europe/Berlin"))
    deploy_rows(db, "manual", report_digest, dsl=example("lead-routing"))
    sync_schedules(db, now=NOW)
    st = _state(db)
    assert (st.version, st.cron, st.timezone) == (1, "0 7 * * 1-5", "Europe/Berlin")
    assert _utc(st.next_fire_at) == datetime(2026, 11, 19, 6, tzinfo=UTC)  # 07:00 CET
    assert _state(db, "manual") is None
    # a new version with the same schedule keeps its next tick; a changed cron moves it
    deploy_rows(db, "daily-report", report_digest, dsl=_doc("0 7 * * 1-5", "Europe/Berlin"), version=2)
    sync_schedules(db, now=NOW + timedelta(days=3))
    st = _state(db)
    assert st.version == 2 and _utc(st.next_fire_at) == datetime(2026, 11, 19, 6, tzinfo=UTC)
    deploy_rows(db, "daily-report", report_digest, dsl=_doc("30 * * * *"), version=3)
    sync_schedules(db, now=NOW)
    assert _utc(_state(db).next_fire_at) == datetime(2026, 11, 18, 10, 30, tzinfo=UTC)
    # a version without a schedule trigger, an undeploy, or a removed deployment removes the row
    deploy_rows(db, "daily-report", report_digest, dsl=example("lead-routing"), version=4)
    sync_schedules(db, now=NOW)
    assert _state(db) is None
    deploy_rows(db, "daily-report", report_digest, dsl=_doc("30 * * * *"), version=3)
    sync_schedules(db, now=NOW)
    assert _state(db) is not None
    deploy_rows(db, "daily-report", report_digest, dsl=_doc("30 * * * *"), version=3, active=False)
    sync_schedules(db, now=NOW)
    assert _state(db) is None
    deploy_rows(db, "daily-report", report_digest, dsl=_doc("30 * * * *"), version=3)
    sync_schedules(db, now=NOW)
    with db.session() as s:
        s.execute(sa.delete(Deployment))
    sync_schedules(db, now=NOW)
    assert _state(db) is None


def test_missed_ticks_fire_one_catch_up_run(db, report_digest):
    deploy_rows(db, "daily-report", report_digest, dsl=_doc("0 * * * *"))
    sync_schedules(db, now=NOW - timedelta(hours=5))  # next tick 06:00; the server is down until 10:17
    fired = fire_due(db, now=NOW)
    assert len(fired) == 1
    (run,) = _runs(db)
    assert run.id == fired[0] and run.input == {"scheduled_at": "2026-11-18T10:00:00Z"}
    assert run.status == "queued"
    st = _state(db)
    assert _utc(st.next_fire_at) == datetime(2026, 11, 18, 11, tzinfo=UTC)
    assert _utc(st.last_fired_at) == datetime(2026, 11, 18, 10, tzinfo=UTC) and st.last_run_id == run.id
    assert fire_due(db, now=NOW) == []  # nothing due until 11:00
    assert len(fire_due(db, now=NOW + timedelta(hours=1))) == 1
    assert [r.input["scheduled_at"] for r in _runs(db)] == ["2026-11-18T10:00:00Z", "2026-11-18T11:00:00Z"]


def test_a_due_tick_fires_once_under_concurrent_claims(db, report_digest):
    names = [f"report-{i}" for i in range(12)]
    for name in names:
        deploy_rows(db, name, report_digest, dsl=_doc("*/5 * * * *", name=name))
    sync_schedules(db, now=NOW - timedelta(minutes=3))  # next tick 10:15, due at NOW
    barrier = threading.Barrier(8)
    fired: list[str] = []

    def claim():
        barrier.wait()
        fired.extend(fire_due(db, now=NOW))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(fired) == len(set(fired)) == len(names)
    with db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Run)) == len(names)


def test_two_polling_engines_fire_a_due_schedule_once(tmp_path, database_url, compiler, db, report_digest):
    deploy_rows(db, "daily-report", report_digest, dsl=_doc("0 0 1 1 *"))
    sync_schedules(db)
    with db.session() as s:  # due a second ago
        s.execute(sa.update(ScheduleState).values(next_fire_at=datetime.now(UTC) - timedelta(seconds=1)))
    settings = Settings.load(tmp_path / "instance", database_url=database_url, artifacts_dir=compiler.store.root)
    engines = [Engine(settings, owner=f"e{i}", poll_seconds=0.05) for i in range(2)]
    try:
        for e in engines:
            e.add_duty(schedule_duty)
        time.sleep(1.5)
    finally:
        for e in engines:
            e.close()
    runs_ = _runs(db)
    assert len(runs_) == 1
    assert _utc(_state(db).next_fire_at) > datetime.now(UTC) + timedelta(days=1)


def test_wasmflow_worker_fires_schedules(tmp_path, database_url, compiler, db, report_digest):
    doc = copy.deepcopy(_doc("0 0 1 1 *"))
    deploy_rows(db, "daily-report", report_digest, dsl=doc)
    sync_schedules(db)
    with db.session() as s:
        s.execute(sa.update(ScheduleState).values(next_fire_at=datetime.now(UTC) - timedelta(seconds=1)))
    env = {**os.environ, "WASMFLOW_DATABASE_URL": database_url, "WASMFLOW_ARTIFACTS_DIR": str(compiler.store.root)}
    cli = Path(sys.executable).parent / "wasmflow"
    proc = subprocess.Popen(
        [str(cli), "--instance", str(tmp_path / "instance"), "worker"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        end = time.monotonic() + 60
        while time.monotonic() < end and not _runs(db):
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    (run,) = _runs(db)
    assert run.input["scheduled_at"].endswith("Z")


def test_deploy_and_undeploy_through_the_api_drive_the_schedule(make_app):
    from apihelpers import deploy

    app = make_app(ENGINE_POLL=True, ENGINE_POLL_SECONDS=0.05)  # create_app installs the schedule duty
    client = app.test_client()
    db = app.extensions["wasmflow.engine"].db
    deploy(client, example("daily-report"))
    _until(lambda: _state(db) is not None)
    st = _state(db)
    assert (st.cron, st.timezone) == ("0 7 * * 1-5", "Europe/Berlin") and _utc(st.next_fire_at) > datetime.now(UTC)
    assert client.post("/api/workflows/daily-report/undeploy").status_code < 300
    _until(lambda: _state(db) is None)


def _until(cond, timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)
