"""Retries, error routes, ``continue`` and the workflow error handler end to end: the real engine (wasmtime,
durable timers woken by its poller) against a real HTTP server on 127.0.0.1 (SQLite and PostgreSQL).

One workflow covers them all (it compiles once): ``call`` retries 5xx twice with durable backoff waits;
``risky`` fails (400) and follows its error edge to ``recover``; ``soft`` fails (400) with ``continue`` and
``after_soft`` reads the error value; the error handler ``on_failure`` posts the run error to ``/alert``.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from httpserver import Recorded, TestServer, _reply

from app.engine import run_service, runs
from app.store.models import Run, Wait

NAME = "error-routes"


def _http(node: str, path: str, **extra) -> dict:
    config = {"url": "{{ input['base'] }}" + path, "allowed_hosts": ["127.0.0.1"]}
    config.update(extra.pop("config", {}))
    return {"id": node, "type": "http.request", "config": config, **extra}


DOC = {
    "dsl": "wasmflow/1",
    "name": NAME,
    "settings": {"error_handler": "on_failure"},
    "nodes": [
        {"id": "start", "type": "trigger.manual"},
        _http(
            "call",
            "{{ input['path'] }}",
            retry={
                "max_attempts": 3,
                "backoff": {"initial_seconds": 1, "multiplier": 2, "jitter": False},
                "retry_on": ["5xx"],
            },
        ),
        _http("risky", "/bad", on_error="route"),
        {"id": "recover", "type": "transform", "config": {"expression": "{'routed': risky['error']}"}},
        {"id": "ok", "type": "transform", "config": {"expression": "'not taken'"}},
        _http("soft", "/bad", on_error="continue"),
        {"id": "after_soft", "type": "transform", "config": {"expression": "{'saw': soft, 'recover': recover}"}},
        _http(
            "on_failure",
            "/alert",
            config={
                "method": "POST",
                "body": "{'code': error['code'], 'node': error['node'], 'status': error['details'].get('status')}",
            },
        ),
    ],
    "edges": [
        {"from": "start", "to": "call"},
        {"from": "call", "to": "risky"},
        {"from": "risky", "to": "recover", "port": "error"},
        {"from": "risky", "to": "ok"},
        {"from": "recover", "to": "soft"},
        {"from": "soft", "to": "after_soft"},
    ],
}


class Flaky:
    """/flaky answers 503 ``failures`` times, then 200; it notes when each request came."""

    def __init__(self) -> None:
        self.failures = 2
        self.times: list[float] = []
        self.lock = threading.Lock()

    def __call__(self, req: Recorded):
        with self.lock:
            self.times.append(time.monotonic())
            n = len(self.times)
        if n <= self.failures:
            return _reply(status=503, json={"busy": n})
        return _reply(json={"ok": True, "attempt": n})


@pytest.fixture(scope="module")
def flow(compiler):
    result = compiler.compile(DOC, with_bundle=False)
    compiler.store.precompiled_path(result.digest)
    return result


@pytest.fixture
def server():
    flaky = Flaky()
    with TestServer() as srv:
        srv.route("/flaky", flaky)
        srv.route("/bad", status=400, json={"reason": "bad input"})
        srv.route("/alert", lambda req: _reply(json={"alerted": json.loads(req.body)}))
        srv.flaky = flaky
        yield srv


def _finish(engine, run_id: str, timeout: float = 60) -> Run:
    end = time.monotonic() + timeout
    while True:
        with engine.db.session() as s:
            run = s.get(Run, run_id)
            s.expunge(run)
        if run.status in runs.FINAL | {runs.NEEDS_ATTENTION} or time.monotonic() > end:
            assert run.status in runs.FINAL, f"run {run_id} is {run.status}: {run.error}"
            return run
        time.sleep(0.05)


def _start(engine, flow, server, path: str) -> tuple[Run, dict]:
    run_id = engine.create_run(flow.digest, {"base": server.url("").rstrip("/"), "path": path})
    run = _finish(engine, run_id)
    details = run_service.run_details(engine.db, run_id, with_journal=True)
    return run, details


def test_retry_after_two_503s_with_durable_backoff_then_error_edge_and_continue(flow, server, engine_factory):
    engine = engine_factory([flow.digest], poll=True, poll_seconds=0.1)
    run, details = _start(engine, flow, server, "/flaky")
    assert run.status == runs.SUCCEEDED, run.error
    nodes = {n["node"]: n for n in details["nodes"]}

    # three attempts, one success, waits of 1 s then 2 s between them, each a durable timer the run slept on
    assert server.paths().count("/flaky") == 3
    gaps = [b - a for a, b in zip(server.flaky.times, server.flaky.times[1:], strict=False)]
    assert gaps[0] >= 1.0 and gaps[1] >= 2.0, gaps
    assert nodes["call"]["attempts"] == 3 and nodes["call"]["status"] == "finished"
    assert nodes["call"]["output"]["body"] == {"ok": True, "attempt": 3}
    assert "error" not in nodes["call"]  # the earlier attempts' errors are in the events, not the result
    failed = [e for e in details["events"] if e["type"] == "node.failed" and e["node"] == "call"]
    assert [(e["data"]["attempt"], e["data"]["will_retry"]) for e in failed] == [(1, True), (2, True)]
    assert [e["data"]["error"]["details"]["status"] for e in failed] == [503, 503]
    waits = [j for j in details["journal"] if j["capability"] == "timer.wait"]
    assert [(j["node"], j["request"]["seconds"]) for j in waits] == [("call", 1.0), ("call", 2.0)]
    suspended = [e for e in details["events"] if e["type"] == "run.waiting"]
    assert [e["node"] for e in suspended] == ["call", "call"] and run.executions == 3
    with engine.db.session() as s:
        assert s.query(Wait).filter_by(run_id=run.id, kind="timer").count() == 2

    # risky failed (400, no retry policy): its error edge was taken with the error as recover's input
    assert nodes["risky"]["attempts"] == 1 and nodes["risky"]["status"] == "failed"
    routed = nodes["recover"]["output"]["routed"]
    assert routed["code"] == "unexpected_status" and routed["node"] == "risky"
    assert routed["details"]["status"] == 400 and routed["details"]["body"] == {"reason": "bad input"}
    assert nodes["recover"]["input"] == {"from": ["risky"]}
    assert nodes["ok"]["status"] == "skipped"
    # soft failed with continue: its output is the error value, and the run went on through its out port
    assert nodes["risky"]["output"] == {"error": routed}
    assert nodes["soft"]["status"] == "failed" and nodes["soft"]["output"]["error"]["details"]["status"] == 400
    assert nodes["after_soft"]["output"]["saw"] == nodes["soft"]["output"]
    assert run.output["output"] == nodes["after_soft"]["output"]
    assert "on_failure" not in nodes and "/alert" not in server.paths()


def test_non_retryable_status_fails_at_once_and_the_error_handler_runs(flow, server, engine_factory):
    engine = engine_factory([flow.digest], poll=True, poll_seconds=0.1)
    run, details = _start(engine, flow, server, "/bad")
    assert run.status == runs.FAILED
    nodes = {n["node"]: n for n in details["nodes"]}

    # 400 is not in retry_on ["5xx"]: one attempt, no backoff wait
    assert server.paths()[0] == "/bad" and server.paths().count("/bad") == 1
    assert nodes["call"]["attempts"] == 1 and nodes["call"]["status"] == "failed"
    (failed,) = [e for e in details["events"] if e["type"] == "node.failed" and e["node"] == "call"]
    assert failed["data"]["will_retry"] is False
    assert not [j for j in details["journal"] if j["capability"] in ("timer.wait", "random.bytes")]

    # the run failed with the node's error; the handler ran with that error as input, and its result shows
    assert run.error["code"] == "unexpected_status" and run.error["node"] == "call"
    assert run.error["details"]["status"] == 400
    alert = [r for r in server.requests if r.path == "/alert"]
    assert [json.loads(r.body) for r in alert] == [{"code": "unexpected_status", "node": "call", "status": 400}]
    assert nodes["on_failure"]["status"] == "finished"
    assert nodes["on_failure"]["output"]["body"] == {
        "alerted": {"code": "unexpected_status", "node": "call", "status": 400}
    }
    assert [n for n in ("risky", "recover", "soft", "after_soft") if n in nodes] == []


def test_replay_after_the_retried_node_reuses_its_attempts_and_waits(flow, server, engine_factory):
    """Replaying from the node after ``call``: its three attempts and both backoff timers come from the
    journal (no request to /flaky, no new timer, no sleeping); the nodes from ``risky`` on run live."""
    from app.engine import replay

    engine = engine_factory([flow.digest], poll=True, poll_seconds=0.1)
    original, _ = _start(engine, flow, server, "/flaky")
    assert original.status == runs.SUCCEEDED, original.error
    server.requests.clear()

    started = replay.replay_run(engine, original.id, from_node="risky")
    began = time.monotonic()
    run = _finish(engine, started["run_id"])
    assert run.status == runs.SUCCEEDED, run.error
    assert time.monotonic() - began < 3  # the 1 s + 2 s of backoff were not waited again
    assert server.paths() == ["/bad", "/bad"]  # risky and soft, live
    assert run.executions == 1
    nodes = {n["node"]: n for n in run_service.run_details(engine.db, run.id)["nodes"]}
    assert nodes["call"]["attempts"] == 3 and nodes["call"]["status"] == "finished"
    with engine.db.session() as s:
        assert s.query(Wait).filter_by(run_id=run.id).count() == 0
