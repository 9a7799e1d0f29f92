"""Hostile guests: each ends its run with a clear reason naming the limit or capability it hit, and the same
engine then runs a normal workflow successfully (ARCHITECTURE.md, contracts 2 and 7).

One component holds every hostile node behind a switch on ``input["mode"]`` (one build per session); the
``default`` port is the well-behaved path.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from httpserver import TestServer

from app.engine import runs
from app.engine.queries import run_details
from app.runtime.host import MAX_BUFFERED_RECORDS
from app.runtime.world import MAX_MESSAGE_CHARS
from app.store.models import Artifact, Run

pytestmark = pytest.mark.slow

TIMEOUT = 2
SECRET = "SANDBOX_TOKEN"
HOSTILE = {
    "loop": {"code": "while True:\n    pass"},
    # log.write calls in a loop: the time limit is then hit in the host, not by wasmtime's epoch deadline
    "chatty": {"code": "while True:\n    print('tick')"},
    "bomb": {"expression": "'x' * 2**30"},  # 1 GiB string, memory_mb is 256
    "biglist": {"code": "xs = []\nwhile True:\n    xs.append('x' * 1000000 + str(len(xs)))"},
    "bigout": {"expression": "'x' * 100_000_000"},
    "recurse": {"code": "def f(n):\n    return f(n + 1) + 1\nreturn f(0)"},
    "shout": {"code": "print('x' * 20_000_000)\nreturn 'said it'"},
}
MODES = (*HOSTILE, "host", "secret", "loud")
HTTP_URL = "http://{{ input['host'] }}:{{ input['port'] }}/echo"
DOC = {
    "dsl": "wasmflow/1",
    "name": "hostile-guests",
    "settings": {"timeout_seconds": TIMEOUT},
    "nodes": [
        {"id": "start", "type": "trigger.manual"},
        {
            "id": "pick",
            "type": "switch",
            "config": {"cases": [{"port": m, "when": f"input['mode'] == '{m}'"} for m in MODES]},
        },
        *({"id": m, "type": "transform", "config": c} for m, c in HOSTILE.items()),
        {"id": "host", "type": "http.request", "config": {"url": HTTP_URL, "allowed_hosts": ["127.0.0.1"]}},
        {
            "id": "secret",
            "type": "http.request",
            "config": {
                "url": HTTP_URL,
                "allowed_hosts": ["127.0.0.1"],
                "auth": {"type": "bearer", "secret": SECRET},
            },
        },
        {"id": "loud", "type": "fail", "config": {"message": "{{ 'x' * 20_000_000 }}"}},
        {"id": "ok", "type": "transform", "config": {"expression": "{'ok': True, 'mode': input['mode']}"}},
    ],
    "edges": [
        {"from": "start", "to": "pick"},
        *({"from": "pick", "to": m, "port": m} for m in MODES),
        {"from": "pick", "to": "ok", "port": "default"},
    ],
}


@pytest.fixture(scope="module")
def hostile(compiler):
    result = compiler.compile(DOC, with_bundle=False)
    compiler.store.precompiled_path(result.digest)  # the native form now, not inside the first run's time
    return result


@pytest.fixture(scope="module")
def server():
    with TestServer() as srv:
        yield srv


def _run(engine, digest: str, mode: str, server, host: str = "127.0.0.1"):
    run_id = engine.create_run(digest, {"mode": mode, "host": host, "port": server.port})
    return engine.run_sync(run_id)


def _still_healthy(engine, digest: str, server) -> None:
    outcome = _run(engine, digest, "normal", server)
    assert outcome.status == runs.SUCCEEDED, outcome.error
    assert outcome.output["output"] == {"ok": True, "mode": "normal"}


def test_granted_paths_work(hostile, engine_factory, server):
    """The control: the same component succeeds on its normal path and with its granted host and secret."""
    engine = engine_factory([hostile.digest])
    assert hostile.artifact.manifest["secrets"] == [SECRET]
    assert hostile.artifact.manifest["hosts"] == ["127.0.0.1"]
    engine.world.secrets.set(SECRET, "sandbox-secret-value")
    _still_healthy(engine, hostile.digest, server)
    outcome = _run(engine, hostile.digest, "secret", server)
    assert outcome.status == runs.SUCCEEDED, outcome.error
    assert server.requests[-1].header("authorization") == "Bearer sandbox-secret-value"


@pytest.mark.parametrize("mode", ["loop", "chatty"])
def test_infinite_loop_hits_the_time_limit(hostile, engine_factory, server, mode):
    engine = engine_factory([hostile.digest])
    published: list[list[dict]] = []
    engine.add_listener(lambda _run_id, events: published.append(events))
    outcome = _run(engine, hostile.digest, mode, server)
    assert outcome.status == runs.FAILED
    err = outcome.error
    assert (err["code"], err.get("limit"), err.get("node")) == ("limit_exceeded", "timeout_seconds", mode), err
    assert "settings.timeout_seconds" in err["message"] and f"{TIMEOUT} s" in err["message"]
    details = run_details(engine.db, outcome.run_id)
    assert details["status"] == "failed" and details["error"] == err
    # the looping node ends with the run (not left "started"), and its events carry the time they happened:
    # started when it began, failed when the limit stopped it, TIMEOUT seconds later
    node = [n for n in details["nodes"] if n["node"] == mode][0]
    assert node["status"] == "failed" and node["error"]["limit"] == "timeout_seconds", node
    events = {e["type"]: e for e in details["events"] if e["node"] == mode and e["type"].startswith("node.")}
    began, ended = (datetime.fromisoformat(events[t]["at"]) for t in ("node.started", "node.failed"))
    assert (ended - began).total_seconds() >= TIMEOUT * 0.9, (began, ended)
    batches = [len(b) for b in published]
    if mode == "chatty":  # thousands of log lines: committed in bounded batches, not held until the end
        assert sum(batches) > 2 * MAX_BUFFERED_RECORDS and max(batches) <= MAX_BUFFERED_RECORDS + 1, batches
    # while the node computed (no host call to commit with), the progress flusher published its start
    (started_in,) = [
        i for i, b in enumerate(published) if any(e["type"] == "node.started" and e["node"] == mode for e in b)
    ]
    assert not any(e["type"] == "run.failed" for e in published[started_in]), [e["type"] for e in published[started_in]]
    _still_healthy(engine, hostile.digest, server)


def test_the_time_limit_counts_earlier_executions(hostile, engine_factory, server):
    """settings.timeout_seconds is the run's execution time over all its executions: a run resumed with its
    budget already used up (earlier executions, before a wait or a crash) stops at once."""
    engine = engine_factory([hostile.digest])
    run_id = engine.create_run(hostile.digest, {"mode": "normal", "host": "127.0.0.1", "port": server.port})
    with engine.db.session() as s:
        s.get(Run, run_id).active_seconds = TIMEOUT
    outcome = engine.run_sync(run_id)
    assert outcome.status == runs.FAILED
    assert (outcome.error["code"], outcome.error.get("limit")) == ("limit_exceeded", "timeout_seconds"), outcome.error
    with engine.db.session() as s:
        assert s.get(Run, run_id).active_seconds >= TIMEOUT
    fresh = _run(engine, hostile.digest, "normal", server)  # a run of its own has its whole budget
    assert fresh.status == runs.SUCCEEDED, fresh.error
    with engine.db.session() as s:
        assert 0 < s.get(Run, fresh.run_id).active_seconds < TIMEOUT


@pytest.mark.parametrize("mode", ["bomb", "biglist", "bigout"])
def test_memory_hogs_fail_naming_the_memory_limit(hostile, engine_factory, server, mode):
    """Wasmtime refuses to grow memory past memory_mb, CPython raises MemoryError inside the guest, and the
    run error names the limit and the node (a bare "MemoryError: " would tell the user nothing). The 100 MB
    output (bigout) runs out of memory while being reported, before the host's output_bytes check."""
    engine = engine_factory([hostile.digest])
    outcome = _run(engine, hostile.digest, mode, server)
    assert outcome.status == runs.FAILED
    err = outcome.error
    assert (err["code"], err.get("limit"), err.get("node")) == ("limit_exceeded", "memory_mb", mode), err
    assert "256 MB" in err["message"] and "settings.memory_mb" in err["message"] and "MemoryError" in err["message"]
    _still_healthy(engine, hostile.digest, server)


def test_deep_recursion_is_a_node_error(hostile, engine_factory, server):
    engine = engine_factory([hostile.digest])
    outcome = _run(engine, hostile.digest, "recurse", server)
    assert outcome.status == runs.FAILED
    err = outcome.error
    assert err["node"] == "recurse" and err["code"] == "expression_error", err
    assert "RecursionError" in err["message"] and "recursion depth" in err["message"]
    _still_healthy(engine, hostile.digest, server)


def test_huge_log_line_is_truncated(hostile, engine_factory, server):
    """A 20 MB print() succeeds, but its log event (a row, and a live-view message) is cut to a preview."""
    engine = engine_factory([hostile.digest])
    outcome = _run(engine, hostile.digest, "shout", server)
    assert outcome.status == runs.SUCCEEDED, outcome.error
    (log,) = [e for e in run_details(engine.db, outcome.run_id)["events"] if e["type"] == "log"]
    assert log["node"] == "shout" and len(log["data"]["message"]) < MAX_MESSAGE_CHARS + 100
    assert log["data"]["message"].endswith("... [truncated: 20,000,000 characters]")
    _still_healthy(engine, hostile.digest, server)


def test_huge_error_message_is_truncated(hostile, engine_factory, server):
    """A fail node whose message is 20 MB: the run fails with that node's code, its message cut to a preview
    in the run row and in the node.failed event."""
    engine = engine_factory([hostile.digest])
    outcome = _run(engine, hostile.digest, "loud", server)
    assert outcome.status == runs.FAILED
    err = outcome.error
    assert (err["code"], err["node"]) == ("workflow_failed", "loud"), {**err, "message": err["message"][:80]}
    assert len(err["message"]) < MAX_MESSAGE_CHARS + 100
    assert err["message"].endswith("... [truncated: 20,000,000 characters]")
    details = run_details(engine.db, outcome.run_id)
    assert details["error"] == err
    (failed,) = [e for e in details["events"] if e["type"] == "node.failed"]
    assert failed["data"]["error"]["message"] == err["message"]
    _still_healthy(engine, hostile.digest, server)


def test_ungranted_host_is_denied_and_never_contacted(hostile, engine_factory, server):
    engine = engine_factory([hostile.digest])
    before = len(server.requests)
    outcome = _run(engine, hostile.digest, "host", server, host="localhost")
    assert outcome.status == runs.FAILED
    err = outcome.error
    assert (err["code"], err["node"]) == ("capability_denied", "host"), err
    assert "'localhost'" in err["message"] and "127.0.0.1" in err["message"]
    assert len(server.requests) == before  # localhost is this very server: the host stopped it first
    journal = run_details(engine.db, outcome.run_id, with_journal=True)["journal"]
    (call,) = [j for j in journal if j["capability"] == "http.request"]
    assert call["state"] == "failed" and call["result"]["err"]["code"] == "capability_denied"
    _still_healthy(engine, hostile.digest, server)


def test_secret_missing_from_the_manifest_is_denied(hostile, engine_factory, server):
    """The host grants exactly the manifest's secrets: the same component, with SANDBOX_TOKEN dropped from
    its manifest row, is refused the secret even though it exists on the instance."""
    engine = engine_factory([hostile.digest])
    engine.world.secrets.set(SECRET, "sandbox-secret-value")
    with engine.db.session() as s:
        row = s.get(Artifact, hostile.digest)
        row.manifest = {**row.manifest, "secrets": []}
    before = len(server.requests)
    outcome = _run(engine, hostile.digest, "secret", server)
    assert outcome.status == runs.FAILED
    err = outcome.error
    assert (err["code"], err["node"]) == ("capability_denied", "secret"), err
    assert repr(SECRET) in err["message"] and "no secrets" in err["message"]
    assert len(server.requests) == before
    assert "sandbox-secret-value" not in repr(run_details(engine.db, outcome.run_id, with_journal=True))
    _still_healthy(engine, hostile.digest, server)
