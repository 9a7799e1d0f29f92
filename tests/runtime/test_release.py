"""A process that stops hands its executing runs back: each one is queued again at its next host call with its
lease released, and another process resumes it at once by replay. What it did is journaled, so nothing is
repeated (the HTTP call in flight when the stop came is not sent again)."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from httpserver import Recorded, Reply, TestServer
from support import fetch_doc

from app.engine import runs
from app.store.models import Event, Run

pytestmark = pytest.mark.slow


def test_a_stopping_engine_hands_its_run_to_another(compiler, engine_factory):
    arrived, release = threading.Event(), threading.Event()

    def slow(_req: Recorded) -> Reply:
        arrived.set()
        release.wait(60)
        return Reply(headers={"Content-Type": "application/json"}, body=b'{"n": 1}')

    with TestServer() as srv:
        srv.route("/slow", slow)
        flow = compiler.compile(fetch_doc("release-handoff", srv.url("/slow")), with_bundle=False)
        first = engine_factory([flow.digest], owner="first")
        second = engine_factory([flow.digest], owner="second", poll=True, poll_seconds=0.1)
        run_id = first.start_run(flow.digest, {})
        assert arrived.wait(60)
        closing = threading.Thread(target=first.close)
        closing.start()
        while not first.world.stopping.is_set():
            time.sleep(0.01)
        release.set()  # the call in flight returns; the run hands back at its next host call
        closing.join(60)
        assert not closing.is_alive()

        end = time.monotonic() + 60
        while True:
            with second.db.session() as s:
                run = s.get(Run, run_id)
                status, owner = run.status, run.lease_owner
            if status == runs.SUCCEEDED:
                break
            assert time.monotonic() < end, status
            time.sleep(0.05)
        with second.db.session() as s:
            run = s.get(Run, run_id)
            assert run.output["output"] == {"n": 1} and run.executions == 2
            types = [
                e.type for e in s.execute(sa.select(Event).where(Event.run_id == run_id).order_by(Event.seq)).scalars()
            ]
    assert types.count("run.released") == 1
    assert [r.path for r in srv.requests] == ["/slow"]  # replayed from the journal, not sent again
    assert owner is None
