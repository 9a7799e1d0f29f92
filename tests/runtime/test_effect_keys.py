"""One idempotency key per logical side effect, whatever happens to its attempts (ARCHITECTURE.md, contract 5).

The real engine (wasmtime, durable backoff timers) against a real HTTP server on 127.0.0.1 that deduplicates
by ``Idempotency-Key`` the way careful APIs do (Stripe): the first request with a key is applied and its
answer stored; a repeat gets the stored answer with ``Idempotent-Replayed: true``. Effects are counted by
business key (``order_id``), so a second application under another key would be caught.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pytest
from httpserver import Recorded, Reply, TestServer

from app.engine import run_service, runs
from app.errors import Conflict, InvalidRequest
from app.store.models import Run

pytestmark = pytest.mark.slow

RETRY = {
    "max_attempts": 3,
    "backoff": {"initial_seconds": 0.2, "multiplier": 1, "jitter": False},
    "retry_on": ["5xx", "timeout", "network"],
}


def _post(node: str, *, idempotency: str = "key", **extra) -> dict:
    config = {
        "method": "POST",
        "url": "{{ input['base'] }}{{ input['path'] }}",
        "allowed_hosts": ["127.0.0.1"],
        "body": "{'order_id': input['order']}",
        "timeout_seconds": 1,
        "idempotency": idempotency,
    }
    return {"id": node, "type": "http.request", "config": config, "retry": RETRY, **extra}


def _doc(name: str, nodes: list, edges: list) -> dict:
    return {"dsl": "wasmflow/1", "name": name, "nodes": nodes, "edges": edges}


START = {"id": "start", "type": "trigger.manual"}
KEYED = _doc("effect-keyed", [START, _post("ship")], [{"from": "start", "to": "ship"}])
UNKEYED = _doc("effect-unkeyed", [START, _post("ship", idempotency="none")], [{"from": "start", "to": "ship"}])
# The child applies its effect, then fails for good; the parent retries the child run.
CHILD = _doc(
    "effect-child",
    [
        START,
        _post("ship"),
        {"id": "stop", "type": "fail", "config": {"code": "after_ship", "message": "failed after shipping"}},
    ],
    [{"from": "start", "to": "ship"}, {"from": "ship", "to": "stop"}],
)
PARENT = _doc(
    "effect-parent",
    [
        START,
        {
            "id": "child",
            "type": "subflow",
            "config": {"workflow": "effect-child", "input": "input"},
            "retry": {"max_attempts": 2, "backoff": {"initial_seconds": 0.2, "jitter": False}, "retry_on": ["any"]},
        },
    ],
    [{"from": "start", "to": "child"}],
)


class Api:
    """Applies POSTs once per Idempotency-Key and counts applications per business key.

    Paths pick the fault: ``/ok``; ``/late`` applies, then answers after the client's 1 s timeout;
    ``/fail`` applies, then answers 503 (a lie a retry must not turn into a second application)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stored: dict[str, tuple[int, dict]] = {}
        self.applied: Counter = Counter()  # order_id -> applications
        self.keys: list[str] = []

    def __call__(self, req: Recorded) -> Reply:
        key = req.header("idempotency-key") or ""
        with self.lock:
            self.keys.append(key)
            if key in self.stored:
                status, body = self.stored[key]
                return Reply(
                    status=status,
                    headers={"Content-Type": "application/json", "Idempotent-Replayed": "true"},
                    body=json.dumps(body).encode(),
                )
            order = json.loads(req.body)["order_id"]
            self.applied[order] += 1
            status = 503 if req.path == "/fail" else 201
            body = {"shipment": f"s-{order}"} if status == 201 else {"error": "lost the answer"}
            self.stored[key] = (status, body)
        delay = 1.6 if req.path == "/late" else 0.0
        return Reply(
            status=status, headers={"Content-Type": "application/json"}, body=json.dumps(body).encode(), delay=delay
        )


@pytest.fixture(scope="module")
def flows(compiler):
    out = {}
    for doc in (KEYED, UNKEYED, CHILD, PARENT):
        result = compiler.compile(doc, with_bundle=False)
        compiler.store.precompiled_path(result.digest)
        out[doc["name"]] = result
    return out


@pytest.fixture
def api():
    handler = Api()
    with TestServer() as srv:
        for path in ("/ok", "/late", "/fail"):
            srv.route(path, handler)
        srv.api = handler
        yield srv


def _settled(engine, run_id: str, timeout: float = 120) -> Run:
    end = time.monotonic() + timeout
    while True:
        with engine.db.session() as s:
            run = s.get(Run, run_id)
            s.expunge(run)
        if run.status in runs.FINAL | {runs.NEEDS_ATTENTION}:
            return run
        assert time.monotonic() < end, f"run {run_id} is still {run.status}"
        time.sleep(0.05)


def _run(engine, flow, api, path: str, order: str) -> tuple[Run, dict]:
    run_id = engine.create_run(flow.digest, {"base": api.url("").rstrip("/"), "path": path, "order": order})
    run = _settled(engine, run_id)
    return run, run_service.run_details(engine.db, run_id, with_journal=True)


def test_a_post_retried_after_a_timeout_reuses_its_key_and_is_applied_once(flows, api, engine_factory):
    flow = flows["effect-keyed"]
    engine = engine_factory([flow.digest], poll=True, poll_seconds=0.1)
    run, details = _run(engine, flow, api, "/late", "o-1")

    assert run.status == runs.SUCCEEDED, run.error
    assert api.api.applied == {"o-1": 1}
    assert api.api.keys == [f"{run.id}:ship#1"] * 2  # attempt 2 carried attempt 1's key
    (node,) = [n for n in details["nodes"] if n["node"] == "ship"]
    assert node["attempts"] == 2 and node["output"]["replayed"] is True
    assert node["output"]["body"] == {"shipment": "s-o-1"}  # the stored answer of the first attempt
    (replayed,) = [e for e in details["events"] if e["type"] == "http.replayed"]
    assert replayed["node"] == "ship" and replayed["data"]["key"] == f"{run.id}:ship#1"


def test_a_failure_the_server_replays_for_the_key_ends_the_retries_on_the_node(flows, api, engine_factory):
    flow = flows["effect-keyed"]
    engine = engine_factory([flow.digest], poll=True, poll_seconds=0.1)
    run, details = _run(engine, flow, api, "/fail", "o-2")

    assert run.status == runs.FAILED
    assert api.api.applied == {"o-2": 1}
    # attempt 2 got the stored 503 back: a third attempt would only get it again, so there is none
    assert api.api.keys == [f"{run.id}:ship#1"] * 2
    assert run.error["code"] == "idempotent_replay" and run.error["node"] == "ship"
    assert "Idempotent-Replayed" in run.error["message"]
    failed = [e for e in details["events"] if e["type"] == "node.failed" and e["node"] == "ship"]
    assert [(e["data"]["attempt"], e["data"]["will_retry"]) for e in failed] == [(1, True), (2, False)]
    assert failed[-1]["data"]["error"]["code"] == "idempotent_replay"


def test_an_unknown_outcome_at_a_server_without_keys_goes_to_needs_attention(flows, api, engine_factory):
    """``idempotency: none``: the server would apply a retry again, so a POST that timed out is never
    retried blindly; the run stops for an operator, naming the call and its key."""
    flow = flows["effect-unkeyed"]
    engine = engine_factory([flow.digest], poll=True, poll_seconds=0.1)
    run, details = _run(engine, flow, api, "/late", "o-3")

    assert run.status == runs.NEEDS_ATTENTION
    assert api.api.applied == {"o-3": 1} and len(api.api.keys) == 1
    assert run.error["code"] == "ambiguous_side_effect"
    assert run.error["details"]["node"] == "ship" and run.error["details"]["key"] == f"{run.id}:ship#1"
    assert run.error["details"]["error"]["code"] == "timeout"
    (call,) = [j for j in details["journal"] if j["capability"] == "http.request"]
    assert call["state"] == "intent"  # the journal says what it knows: sent, outcome unknown

    # resuming replays up to that call and stops there again: it is not sent a second time
    run_service.resume_run(engine, run.id)
    again = _settled(engine, run.id)
    assert again.status == runs.NEEDS_ATTENTION and again.executions == 2, again.error
    assert again.error["code"] == "ambiguous_side_effect" and again.error["details"]["seq"] == call["seq"]
    assert len(api.api.keys) == 1


def test_a_retried_child_run_shares_the_keys_of_the_first_child(flows, api, engine_factory):
    """The child shipped, then failed; the parent's retry starts a second child, whose POST carries the same
    key as the first child's, so the shipment is not made twice."""
    parent = flows["effect-parent"]
    engine = engine_factory([parent.digest, flows["effect-child"].digest], poll=True, poll_seconds=0.1)
    run, details = _run(engine, parent, api, "/ok", "o-4")

    assert run.status == runs.FAILED
    assert api.api.applied == {"o-4": 1}
    with engine.db.session() as s:
        children = s.query(Run).filter_by(parent_run_id=run.id).order_by(Run.parent_seq).all()
        assert [c.status for c in children] == [runs.FAILED, runs.FAILED]
        first_key = children[0].key_base
        assert first_key == children[1].key_base == f"{run.id}:child#1"
    assert api.api.keys == [f"{run.id}:child#1:ship#1"] * 2
    failed = [e for e in details["events"] if e["type"] == "node.failed" and e["node"] == "child"]
    assert [e["data"]["attempt"] for e in failed] == [1, 2]


@pytest.mark.parametrize("applied", [False, True], ids=["not-applied", "applied"])
def test_an_operator_settles_the_unknown_outcome_and_the_run_goes_on(flows, api, engine_factory, applied):
    """After checking the other system: "not applied" makes the call again with the same key (this API had
    applied it, so it answers from its cache and nothing is applied twice); "applied" records the answer the
    operator gives, and the run goes on without sending anything."""
    flow = flows["effect-unkeyed"]
    engine = engine_factory([flow.digest], poll=True, poll_seconds=0.1)
    run, _ = _run(engine, flow, api, "/late", "o-5")
    assert run.status == runs.NEEDS_ATTENTION, run.error
    seq = run.error["details"]["seq"]

    response = {"status": 201, "body": {"shipment": "checked-by-hand"}} if applied else None
    if applied:  # a malformed answer is refused, naming its place, and changes nothing
        with pytest.raises(InvalidRequest) as bad:
            run_service.resolve_call(engine, run.id, seq=seq, applied=True, response={"status": "201", "x": 1})
        assert sorted(p.path for p in bad.value.problems) == ["/response/status", "/response/x"]
        with engine.db.session() as s:
            assert s.get(Run, run.id).status == runs.NEEDS_ATTENTION
    run_service.resolve_call(engine, run.id, seq=seq, applied=applied, response=response, by="ops@example.com")
    done = _settled(engine, run.id)
    assert done.status == runs.SUCCEEDED, done.error
    assert api.api.applied == {"o-5": 1}
    details = run_service.run_details(engine.db, run.id)
    (ship,) = [n for n in details["nodes"] if n["node"] == "ship"]
    (resolved,) = [e for e in details["events"] if e["type"] == "call.resolved"]
    assert resolved["data"] == {
        "seq": seq,
        "node": "ship",
        "outcome": "applied" if applied else "not_applied",
        "by": "ops@example.com",
    }
    if applied:
        assert len(api.api.keys) == 1 and ship["output"]["body"] == {"shipment": "checked-by-hand"}
    else:
        assert api.api.keys == [f"{run.id}:ship#1"] * 2 and ship["output"]["replayed"] is True

    with pytest.raises(Conflict, match="only a run stopped by a call of unknown outcome"):
        run_service.resolve_call(engine, run.id, seq=seq, applied=True)


def test_wasmflow_runs_resolve_settles_the_call_from_the_command_line(
    flows, api, engine_factory, compiler, database_url
):
    """The same through the real entry point on the local database: ``wasmflow runs resolve RUN SEQ
    --not-applied`` resumes the run in the command, which sends the call again with its key."""
    from procs import wasmflow_process

    flow = flows["effect-unkeyed"]
    engine = engine_factory([flow.digest])  # no poller: the command executes the resumed run itself
    run_id = engine.create_run(flow.digest, {"base": api.url("").rstrip("/"), "path": "/late", "order": "o-6"})
    assert engine.run_sync(run_id).status == runs.NEEDS_ATTENTION
    with engine.db.session() as s:
        seq = s.get(Run, run_id).error["details"]["seq"]
    opts = {"instance": engine.settings.instance_dir, "database_url": database_url, "artifacts": compiler.store.root}

    refused = wasmflow_process(["runs", "resolve", run_id, str(seq)], **opts)
    _, err = refused.communicate(timeout=120)
    assert refused.returncode != 0 and "--applied or --not-applied" in err

    proc = wasmflow_process(["runs", "resolve", run_id, str(seq), "--not-applied", "--by", "ops", "--json"], **opts)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert json.loads(out)["status"] == "succeeded", out
    assert api.api.applied == {"o-6": 1} and api.api.keys == [f"{run_id}:ship#1"] * 2
