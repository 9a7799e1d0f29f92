"""``wasmflow serve`` (gunicorn) stopped with SIGTERM: it stops accepting, its live streams close with 1001
(reconnect), and a run it was executing goes back to the queue with its lease released, so another process
resumes it at once by replay; nothing it did is repeated. Probes: /healthz, /readyz (503 while stopping)."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest
import sqlalchemy as sa
from apihelpers import copy_artifacts
from httpserver import Recorded, Reply, TestServer
from support import fetch_doc, wasmflow_server_process

from app.engine import runs
from app.store.models import Event, Run


@pytest.mark.slow
def test_sigterm_hands_the_running_run_back_and_closes_live_streams(tmp_path, database_url, compiler, monkeypatch):
    arrived, release = threading.Event(), threading.Event()

    def slow(_req: Recorded) -> Reply:
        arrived.set()
        release.wait(60)
        return Reply(headers={"Content-Type": "application/json"}, body=b'{"n": 1}')

    with TestServer() as srv:
        srv.route("/slow", slow)
        doc = fetch_doc("graceful-stop", srv.url("/slow"))
        flow = compiler.compile(doc, with_bundle=False)
        copy_artifacts(compiler, database_url, [flow.digest])
        env = {
            "WASMFLOW_DATABASE_URL": database_url,
            "WASMFLOW_ARTIFACTS_DIR": str(compiler.store.root),
            "WASMFLOW_HTTP_ALLOW_NETWORKS": "127.0.0.1/32",
        }
        log = tmp_path / "server.log"
        with wasmflow_server_process(tmp_path / "instance", env, log, args=("--processes", "1")) as (base, proc):
            with httpx.Client(base_url=base, timeout=30) as client:
                assert client.get("/healthz").json() == {"status": "ok"}
                assert client.get("/readyz").json() == {"status": "ready"}
                assert client.post("/api/workflows", json=doc).status_code == 201
                started = client.post("/api/workflows/graceful-stop/runs", json={"input": {}, "digest": flow.digest})
                assert started.status_code == 202, started.text
                run_id = started.json()["run_id"]
            assert arrived.wait(60), log.read_text()
            from simple_websocket import Client, ConnectionClosed

            ws = Client.connect(base.replace("http", "ws") + f"/api/ws?run={run_id}")
            proc.send_signal(signal.SIGTERM)
            closed = None
            end = time.monotonic() + 30
            while closed is None and time.monotonic() < end:
                try:
                    ws.receive(timeout=1)
                except ConnectionClosed as exc:
                    closed = exc
            release.set()  # the call in flight returns; the run hands back at its next host call
            assert proc.wait(timeout=60) == 0, log.read_text()
            assert closed is not None and closed.reason == 1001, closed

        monkeypatch.setenv("WASMFLOW_HTTP_ALLOW_NETWORKS", "127.0.0.1/32")
        engine = _engine(tmp_path, database_url, compiler)
        with engine.db.session() as s:
            run = s.get(Run, run_id)
            assert (run.status, run.lease_owner) == (runs.QUEUED, None), (run.status, log.read_text())
        outcome = engine.run_sync(run_id)
        assert outcome.status == runs.SUCCEEDED, outcome.error
        assert outcome.output["output"] == {"n": 1}
        with engine.db.session() as s:
            types = [e.type for e in s.execute(sa.select(Event).where(Event.run_id == run_id)).scalars()]
        assert types.count("run.released") == 1
        assert [r.path for r in srv.requests] == ["/slow"]  # replayed from the journal, not sent again
        engine.close()
        engine.world.http.close()


def _engine(tmp_path, database_url: str, compiler):
    """Another process's engine (in this one): it resumes what the stopped server handed back."""
    from app.config import Settings
    from app.engine.engine import Engine
    from app.runtime.wiring import world_services

    settings = Settings.load(tmp_path / "instance", database_url=database_url, artifacts_dir=compiler.store.root)
    http, secrets = world_services(settings)
    return Engine(settings, http=http, secrets=secrets, poll=False)


def test_readyz_says_stopping_while_the_engine_hands_back(app):
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    app.extensions["wasmflow.engine"].world.stopping.set()
    resp = client.get("/readyz")
    assert resp.status_code == 503 and resp.get_json()["status"] == "stopping"
    assert client.get("/healthz", headers={"Host": "10.0.0.7:8000"}).status_code == 200  # a probe by pod IP
