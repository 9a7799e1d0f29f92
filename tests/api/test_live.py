"""Live events over a real WebSocket: order, history for late subscribers, exact resume after a drop, events
of another process, and the feed's handling of ids that commit out of order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from simple_websocket import Client, ConnectionClosed
from support import EXAMPLES, ROOT
from trigger_helpers import close_app, serving, trigger_app

from app.engine import runs
from app.engine.feed import EventFeed
from app.store import open_database
from app.store.models import Event

LEAD = {"email": "ada@example.com", "company": "Analytical", "employees": 5}
ENDS = {"run.succeeded", "run.failed", "run.cancelled", "run.needs_attention"}


@pytest.fixture(scope="module")
def lead_digest(compiler) -> str:
    return compiler.compile((EXAMPLES / "lead-routing.json").read_bytes(), with_bundle=False).digest


@pytest.fixture
def live(tmp_path, database_url, compiler, lead_digest):
    """(ws base url, app, engine) with a real server in a thread."""
    app = trigger_app(tmp_path, database_url, compiler, digests=[lead_digest])
    with serving(app) as base:
        yield base.replace("http://", "ws://"), app, app.extensions["wasmflow.engine"]
    close_app(app)


def _connect(base: str, query: str) -> Client:
    return Client.connect(f"{base}/api/ws?{query}")


def _read(
    ws: Client, *, until=lambda m: False, count: int | None = None, timeout: float = 60, markers: list | None = None
) -> list[dict]:
    """Event messages until ``until(msg)`` holds or ``count`` were read; ``stream.live`` go to ``markers``."""
    out: list[dict] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        raw = ws.receive(timeout=max(0.05, end - time.monotonic()))
        if raw is None:
            continue
        msg = json.loads(raw)
        if msg["type"].startswith("stream."):
            assert msg["type"] == "stream.live", msg
            if markers is not None:
                markers.append(msg)
            continue
        out.append(msg)
        if until(msg) or (count is not None and len(out) >= count):
            return out
    raise AssertionError(f"timed out after {len(out)} events: {[m['type'] for m in out]}")


def _db_events(db, run_id: str | None = None) -> list[tuple]:
    with db.session() as s:
        q = sa.select(Event.id, Event.run_id, Event.seq, Event.type).order_by(Event.id)
        if run_id:
            q = q.where(Event.run_id == run_id)
        return [tuple(r) for r in s.execute(q)]


def _key(msgs: list[dict]) -> list[tuple]:
    return [(m["id"], m["run_id"], m["seq"], m["type"]) for m in msgs]


def test_a_runs_events_arrive_live_in_order(live):
    base, app, engine = live
    ws = _connect(base, "all=1")
    _read_live_marker(ws)
    run_id = engine.start_run(_lead(engine), LEAD)
    msgs = _read(ws, until=lambda m: m["run_id"] == run_id and m["type"] in ENDS)
    ws.close()
    assert [m["seq"] for m in msgs] == list(range(1, len(msgs) + 1))
    assert msgs[0]["type"] == "run.queued" and msgs[-1]["type"] == "run.succeeded"
    assert all(m["cursor"] == m["id"] and m["workflow"] == "lead-routing" for m in msgs)
    assert _key(msgs) == _db_events(engine.db, run_id)


def test_a_late_subscriber_gets_the_full_history_then_live(live):
    base, app, engine = live
    run_id = engine.start_run(_lead(engine), LEAD)
    engine.wait_idle()
    ws = _connect(base, f"run={run_id}")
    markers: list[dict] = []
    msgs = _read(ws, until=lambda m: m["type"] in ENDS, markers=markers)
    if not markers:  # the feed had not yet released the last events when the history was read
        markers.append(json.loads(ws.receive(timeout=10)))
    assert len(markers) == 1 and markers[0]["type"] == "stream.live" and 1 <= markers[0]["cursor"] <= len(msgs)
    assert _key(msgs) == _db_events(engine.db, run_id)
    assert [m["cursor"] for m in msgs] == list(range(1, len(msgs) + 1))  # a run's cursor is its seq
    ws.close()
    ws = _connect(base, f"run={run_id}&after=3")
    assert [m["seq"] for m in _read(ws, until=lambda m: m["type"] in ENDS)] == list(range(4, len(msgs) + 1))
    ws.close()


def test_a_dropped_connection_resumes_from_its_cursor_exactly(live):
    base, app, engine = live
    ws = _connect(base, "all=1")
    _read_live_marker(ws)
    first = engine.start_run(_lead(engine), LEAD)
    before = _read(ws, count=3)
    ws.close()  # dropped mid-run
    second = engine.start_run(_lead(engine), {**LEAD, "employees": 2000})
    engine.wait_idle()
    ws = _connect(base, f"all=1&after={before[-1]['cursor']}")
    expected = _db_events(engine.db)
    after = _read(ws, count=len(expected) - len(before))
    ws.close()
    assert _key(before + after) == expected
    assert {m["run_id"] for m in after} == {first, second}


def test_events_of_another_process_reach_the_subscriber(live, tmp_path, database_url, compiler):
    base, app, engine = live
    ws = _connect(base, "workflow=lead-routing")
    _read_live_marker(ws)
    env = {
        **os.environ,
        "WASMFLOW_DATABASE_URL": database_url,
        "WASMFLOW_ARTIFACTS_DIR": str(compiler.store.root),
    }
    cli = Path(sys.executable).parent / "wasmflow"
    proc = subprocess.run(
        [str(cli), "--instance", str(tmp_path / "instance"), "run", str(EXAMPLES / "lead-routing.json")]
        + ["--input", json.dumps(LEAD), "--json"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    run_id = json.loads(proc.stdout)["run_id"]
    msgs = _read(ws, until=lambda m: m["type"] in ENDS)
    ws.close()
    assert _key(msgs) == _db_events(engine.db, run_id)


def test_bad_stream_arguments_are_a_stream_error(live):
    base, _app, _engine = live
    for query in ("", "run=a&all=1", "all=1&after=x", "run=nope"):
        ws = _connect(base, query)
        seen = []
        with pytest.raises(ConnectionClosed) as closed:
            for _ in range(3):  # the stream.error message, then the close (1008, policy violation)
                seen.append(json.loads(ws.receive(timeout=5)))
        assert closed.value.reason == 1008, query
        assert all(m["type"] == "stream.error" for m in seen), seen


def _read_live_marker(ws: Client) -> None:
    assert json.loads(ws.receive(timeout=10))["type"] == "stream.live"


def _lead(engine) -> str:
    with engine.db.session() as s:
        from app.store.models import Artifact

        return s.execute(sa.select(Artifact.digest).where(Artifact.workflow_name == "lead-routing")).scalar_one()


# -- the feed's gap handling, on the database directly ------------------------------------------------------


def _event(run_id: str, seq: int, id: int | None = None) -> dict:
    row = {"run_id": run_id, "seq": seq, "type": "log", "node": None, "data": None, "at": runs.utcnow()}
    return row if id is None else {**row, "id": id}


@pytest.fixture
def feed_db(database_url):
    db = open_database(database_url)
    with db.session() as s:
        run_id = runs.create_run(s, workflow_name="w", digest="0" * 64, input=None)
    yield db, run_id
    from app.store.db import close_database

    close_database(database_url)


def test_an_id_that_commits_late_holds_back_later_ids(feed_db):
    db, run_id = feed_db
    feed = EventFeed(db, poll_seconds=3600, hole_grace=30)
    try:
        sub = feed.subscribe(workflow="w")
        assert [m["type"] for m in sub.next(0.1)] == ["run.queued"]
        top = feed.released
        with db.session() as s:  # id top+2 is visible before top+1 (as concurrent commits can be)
            s.execute(sa.insert(Event), [_event(run_id, 3, top + 2)])
        feed.poll_once()
        assert sub.next(0.1) == [] and feed.released == top
        with db.session() as s:
            s.execute(sa.insert(Event), [_event(run_id, 2, top + 1)])
        feed.poll_once()
        assert [m["id"] for m in sub.next(0.1)] == [top + 1, top + 2]
    finally:
        feed.close()


def test_a_hole_past_its_grace_is_passed_then_delivered_late(feed_db):
    db, run_id = feed_db
    feed = EventFeed(db, poll_seconds=3600, hole_grace=0.2)
    try:
        sub = feed.subscribe()
        sub.next(0.1)
        top = feed.released
        with db.session() as s:
            s.execute(sa.insert(Event), [_event(run_id, 3, top + 2)])
        feed.poll_once()
        time.sleep(0.3)
        feed.poll_once()
        assert [m["id"] for m in sub.next(0.1)] == [top + 2]
        with db.session() as s:
            s.execute(sa.insert(Event), [_event(run_id, 2, top + 1)])
        feed.poll_once()
        late = sub.next(0.1)
        assert [(m["id"], m.get("late")) for m in late] == [(top + 1, True)]
    finally:
        feed.close()


def test_concurrent_transactions_committing_out_of_id_order(feed_db, database_url):
    """PostgreSQL: a transaction takes an id, another takes the next and commits first; nothing is skipped."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite serializes writers: ids always commit in order")
    db, run_id = feed_db
    with db.session() as s:
        other = runs.create_run(s, workflow_name="w", digest="0" * 64, input=None)
    feed = EventFeed(db, poll_seconds=0.05, hole_grace=30)
    try:
        sub = feed.subscribe(workflow="w")
        slow = db.engine.connect()
        tx = slow.begin()
        slow_id = slow.execute(sa.insert(Event).returning(Event.id), [_event(run_id, 2)]).scalar_one()
        with db.session() as s:
            runs.append_events(s, other, [{"type": "log"}])
        time.sleep(0.3)
        got = [m["id"] for m in sub.next(0.1)]
        assert slow_id not in got and max(got) < slow_id  # held back behind the open transaction
        tx.commit()
        slow.close()
        time.sleep(0.3)
        got = [m["id"] for m in sub.next(0.5)]
        assert got[0] == slow_id and got == sorted(got)
    finally:
        feed.close()


def test_long_histories_come_in_pages_then_live(feed_db):
    db, run_id = feed_db
    with db.session() as s:
        runs.append_events(s, run_id, [{"type": "log"}] * 1200)
    feed = EventFeed(db, poll_seconds=3600)
    try:
        sub = feed.subscribe(run_id=run_id, after=100)
        with db.session() as s:
            runs.append_events(s, run_id, [{"type": "log"}] * 3)
        feed.poll_once()
        got = []
        while batch := sub.next(0.1):
            assert len(batch) <= 500
            got.extend(batch)
        assert [m["seq"] for m in got] == list(range(101, 1205)) == [m["cursor"] for m in got]
    finally:
        feed.close()


def test_a_slow_subscriber_is_cut_off_with_its_cursor(feed_db, monkeypatch):
    import app.engine.feed as feed_module

    monkeypatch.setattr(feed_module, "QUEUE_LIMIT", 5)
    db, run_id = feed_db
    feed = EventFeed(db, poll_seconds=3600)
    try:
        sub = feed.subscribe(workflow="w")
        with db.session() as s:
            runs.append_events(s, run_id, [{"type": "log"}] * 20)
        feed.poll_once()
        assert [m["type"] for m in sub.next(0.1)] == ["run.queued"]  # the history
        assert [m["seq"] for m in sub.next(0.1)] == [2, 3, 4, 5, 6]  # what was buffered before the cut-off
        with pytest.raises(feed_module.Lagging):
            sub.next(0.1)
        resumed = feed.subscribe(workflow="w", after=sub.last)
        assert [m["seq"] for m in resumed.next(0.1)] == list(range(7, 22))
    finally:
        feed.close()


def test_notify_wakes_the_feed_of_another_process_at_once(feed_db, database_url):
    """PostgreSQL: with polling effectively off, a NOTIFY from the committing process wakes the feed."""
    if not database_url.startswith("postgresql"):
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    from app.engine.feed import Notifier

    db, run_id = feed_db
    feed = EventFeed(db, poll_seconds=3600)
    try:
        sub = feed.subscribe(run_id=run_id)
        assert [m["type"] for m in sub.next(0.1)] == ["run.queued"]
        time.sleep(1.0)  # the listener is connected and its first catch-up poll is done
        with db.session() as s:
            runs.append_events(s, run_id, [{"type": "log"}])
        started = time.monotonic()
        Notifier(db)(run_id, [])
        got = sub.next(5)
        assert [m["seq"] for m in got] == [2] and time.monotonic() - started < 2
    finally:
        feed.close()


def test_a_sibling_poke_wakes_the_feed_without_polling(feed_db, tmp_path):
    """`serve --processes N` (SQLite has no NOTIFY): a sibling's Notifier pokes the feed's socket in the wake
    folder, so the feed delivers with polling effectively off; the socket is gone once the feed closes."""
    from app.engine.feed import Notifier

    db, run_id = feed_db
    if db.engine.dialect.name == "postgresql":
        assert Notifier(db, wake_dir=str(tmp_path)).wake_dir is None  # NOTIFY reaches every process: no pokes
        pytest.skip("pokes stand in for NOTIFY on SQLite")
    wake = tmp_path / "wake"
    feed = EventFeed(db, poll_seconds=3600, wake_dir=str(wake))
    try:
        sub = feed.subscribe(run_id=run_id)
        assert [m["type"] for m in sub.next(0.1)] == ["run.queued"]
        with db.session() as s:
            runs.append_events(s, run_id, [{"type": "log"}])
        assert sub.next(0.2) == []  # committed, but nobody woke the feed
        Notifier(db, wake_dir=str(wake))(run_id, [])
        assert [m["seq"] for m in sub.next(30)] == [2]
    finally:
        feed.close()
    assert list(wake.iterdir()) == []
