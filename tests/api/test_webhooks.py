"""Webhook triggers against a real server on 127.0.0.1: signatures, content types, limits, exactly one run
per delivery id (also under 10 concurrent identical deliveries), and respond nodes shaping the answer."""

from __future__ import annotations

import copy
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy as sa
from trigger_helpers import close_app, deploy_rows, example, serving, trigger_app

from app.engine.triggers import sign
from app.store import open_database
from app.store.models import Run

SECRET_NAME = "HELPDESK_WEBHOOK_SECRET"
SECRET = "s3cr3t-webhook-value-4711"
REFUND = {"ticket_id": 42, "customer_id": 7, "amount": 30, "currency": "EUR", "reason": "broken"}


@pytest.fixture(scope="module")
def digests(compiler) -> dict:
    """webhook-approval (a respond node first) and lead-routing (never responds), compiled once."""
    futures = {n: compiler.submit(example(n), with_bundle=False) for n in ("webhook-approval", "lead-routing")}
    return {n: f.result().digest for n, f in futures.items()}


@pytest.fixture
def hooks(tmp_path, database_url, compiler, digests):
    """(base url, db, {variant: token}) for the example as is and a few trigger variants."""
    app = trigger_app(tmp_path, database_url, compiler, digests=digests.values(), WEBHOOK_MAX_BYTES=2000)
    db = open_database(database_url)
    doc = example("webhook-approval")
    plain = copy.deepcopy(doc)
    plain["nodes"][0]["config"] = {"method": "POST", "respond": "immediately", "signature": None}
    silent = example("lead-routing")
    silent["nodes"][0] = {**doc["nodes"][0], "config": {"respond": "respond_node"}}
    tokens = {
        "signed": deploy_rows(db, "webhook-approval", digests["webhook-approval"], dsl=doc),
        "plain": deploy_rows(db, "plain-hook", digests["webhook-approval"], dsl=plain),
        "silent": deploy_rows(db, "silent-hook", digests["lead-routing"], dsl=silent),
    }
    with serving(app) as base:
        yield base, db, tokens, app
    close_app(app)


def _signed(body: bytes, *, ts: int | None = None, secret: str = SECRET) -> dict:
    ts = int(time.time()) if ts is None else ts
    return {"Content-Type": "application/json", "X-Timestamp": str(ts), "X-Signature": sign(secret, ts, body)}


def _run_count(db, workflow: str) -> int:
    with db.session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(Run).where(Run.workflow_name == workflow))


def _set_secret(app) -> None:
    app.extensions["wasmflow.engine"].world.secrets.set(SECRET_NAME, SECRET)


def test_signed_delivery_is_answered_by_the_respond_node(hooks):
    base, db, tokens, app = hooks
    _set_secret(app)
    body = json.dumps(REFUND).encode()
    headers = {**_signed(body), "Authorization": "Bearer nope", "Cookie": "a=b", "X-Extra": "kept"}
    r = httpx.post(f"{base}/hooks/{tokens['signed']}?source=helpdesk", content=body, headers=headers, timeout=60)
    assert r.status_code == 202, r.text
    assert r.json() == {"received": True, "ticket": 42}
    assert r.headers["content-type"] == "application/json"
    run_id = r.headers["x-wasmflow-run-id"]
    with db.session() as s:
        run = s.get(Run, run_id)
        assert run.response["status"] == 202
        inp = run.input
    assert inp["method"] == "POST" and inp["path"] == f"/hooks/{tokens['signed']}"
    assert inp["query"] == {"source": "helpdesk"} and inp["body"] == REFUND
    assert inp["headers"]["x-extra"] == "kept" and "authorization" not in inp["headers"]
    assert "cookie" not in inp["headers"]


def test_bad_and_stale_signatures_are_401_naming_the_header(hooks):
    base, db, tokens, app = hooks
    _set_secret(app)
    url = f"{base}/hooks/{tokens['signed']}"
    body = json.dumps(REFUND).encode()
    r = httpx.post(url, content=body, headers=_signed(body, secret="wrong"))
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_signature"
    assert "X-Signature" in r.json()["error"]["message"]
    stale = int(time.time()) - 301
    r = httpx.post(url, content=body, headers=_signed(body, ts=stale))
    assert r.status_code == 401 and r.json()["error"]["code"] == "stale_timestamp"
    assert "X-Timestamp" in r.json()["error"]["message"]
    r = httpx.post(url, content=body, headers={"Content-Type": "application/json", "X-Signature": "sha256=00"})
    assert r.status_code == 401 and r.json()["error"]["details"]["header"] == "X-Timestamp"
    tampered = _signed(body)
    r = httpx.post(url, content=body.replace(b"30", b"3000"), headers=tampered)
    assert r.status_code == 401
    assert _run_count(db, "webhook-approval") == 0


def test_missing_secret_is_503_naming_it(hooks):
    base, db, tokens, _app = hooks
    body = b"{}"
    r = httpx.post(f"{base}/hooks/{tokens['signed']}", content=body, headers=_signed(body))
    assert r.status_code == 503
    err = r.json()["error"]
    assert err["code"] == "secret_missing" and err["details"]["secret"] == SECRET_NAME
    assert SECRET not in r.text


def test_immediate_delivery_and_replays(hooks):
    base, db, tokens, _app = hooks
    url = f"{base}/hooks/{tokens['plain']}"
    first = httpx.post(url, json={"n": 1}, headers={"X-Delivery-Id": "d-1"})
    assert first.status_code == 202 and first.json()["duplicate"] is False
    again = httpx.post(url, json={"n": 1}, headers={"X-Delivery-Id": "d-1"})
    assert again.status_code == 202 and again.json() == {"run_id": first.json()["run_id"], "duplicate": True}
    other = httpx.post(url, json={"n": 2}, headers={"Idempotency-Key": "d-2"})
    assert other.json()["run_id"] != first.json()["run_id"]
    assert _run_count(db, "plain-hook") == 2


def test_content_types_sizes_methods_and_unknown_tokens(hooks):
    base, db, tokens, _app = hooks
    url = f"{base}/hooks/{tokens['plain']}"
    r = httpx.post(url, content=b"<x/>", headers={"Content-Type": "application/xml"})
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"
    r = httpx.post(url, content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = httpx.post(url, content=b'{"n": 1, "n": 2}', headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "/n"  # parsed like a DSL document
    r = httpx.post(url, json={"big": "x" * 3000})
    assert r.status_code == 413 and r.json()["error"]["details"]["limit_bytes"] == 2000
    r = httpx.put(url, json={})
    assert r.status_code == 405 and "POST" in r.json()["error"]["message"]
    r = httpx.post(f"{base}/hooks/nope", json={})
    assert r.status_code == 404 and r.json()["error"]["code"] == "webhook_not_found"
    form = httpx.post(url, data={"a": "1", "b": ["2", "3"]})
    text = httpx.post(url, content="hello", headers={"Content-Type": "text/plain"})
    assert form.status_code == text.status_code == 202
    with db.session() as s:
        assert s.get(Run, form.json()["run_id"]).input["body"] == {"a": "1", "b": ["2", "3"]}
        assert s.get(Run, text.json()["run_id"]).input["body"] == "hello"
    assert _run_count(db, "plain-hook") == 2


def test_ten_concurrent_identical_deliveries_make_one_run(hooks):
    base, db, tokens, _app = hooks
    url = f"{base}/hooks/{tokens['plain']}"
    barrier = threading.Barrier(10)

    def send(_i):
        with httpx.Client(timeout=30) as client:
            barrier.wait()
            return client.post(url, json={"order": 1}, headers={"X-Delivery-Id": "burst-1"})

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(send, range(10)))
    assert [a.status_code for a in answers] == [202] * 10, [a.text for a in answers]
    assert len({a.json()["run_id"] for a in answers}) == 1
    assert sum(not a.json()["duplicate"] for a in answers) == 1
    assert _run_count(db, "plain-hook") == 1


def test_signed_replay_returns_the_same_response(hooks):
    base, db, tokens, app = hooks
    _set_secret(app)
    body = json.dumps(REFUND).encode()
    headers = {**_signed(body), "X-Delivery-Id": "refund-42"}
    url = f"{base}/hooks/{tokens['signed']}"
    a = httpx.post(url, content=body, headers=headers, timeout=60)
    b = httpx.post(url, content=body, headers=headers, timeout=60)
    assert a.status_code == b.status_code == 202 and a.json() == b.json()
    assert a.headers["x-wasmflow-run-id"] == b.headers["x-wasmflow-run-id"]
    assert _run_count(db, "webhook-approval") == 1


def test_a_run_that_ends_without_responding_is_a_500(hooks):
    base, _db, tokens, _app = hooks
    r = httpx.post(f"{base}/hooks/{tokens['silent']}", json={"no": "email"}, timeout=60)
    assert r.status_code == 500, r.text
    err = r.json()["error"]
    assert err["code"] == "run_failed" and err["details"]["status"] == "failed"


def test_a_workflow_deployed_through_the_api_answers_its_webhook(make_app):
    from apihelpers import deploy

    app = make_app()
    _set_secret(app)
    client = app.test_client()
    deployed = deploy(client, example("webhook-approval"))
    body = json.dumps(REFUND).encode()
    with serving(app) as base:
        url = f"{base}/hooks/{deployed['webhook_token']}"
        r = httpx.post(url, content=body, headers=_signed(body), timeout=60)
        assert r.status_code == 202 and r.json() == {"received": True, "ticket": 42}
        assert client.post("/api/workflows/webhook-approval/undeploy").status_code < 300
        r = httpx.post(url, content=body, headers=_signed(body), timeout=60)
        assert r.status_code == 404 and r.json()["error"]["code"] == "webhook_not_found"


def test_a_respond_wait_that_times_out_is_a_202_and_the_run_goes_on(hooks):
    base, db, tokens, app = hooks
    app.config["WEBHOOK_RESPOND_TIMEOUT"] = 0.01
    r = httpx.post(f"{base}/hooks/{tokens['silent']}", json={"no": "email"}, timeout=60)
    assert r.status_code == 202 and r.json()["responded"] is False
    assert r.json()["status"] in ("queued", "running")
    end = time.monotonic() + 30
    while time.monotonic() < end:
        with db.session() as s:
            if s.get(Run, r.json()["run_id"]).status == "failed":
                return
        time.sleep(0.1)
    raise AssertionError("the run did not go on after the webhook answered")


def test_the_waiter_sees_a_response_written_by_another_process(database_url):
    """No in-process callback: the response row is found by polling."""
    from app.engine import runs
    from app.engine.triggers import ResponseWaiter
    from app.store.db import close_database

    db = open_database(database_url)
    with db.session() as s:
        run_id = runs.create_run(s, workflow_name="w", digest="0" * 64, input=None)

    def respond_elsewhere():
        time.sleep(0.3)
        with db.session() as s:
            s.execute(sa.update(Run).where(Run.id == run_id).values(response={"status": 201, "body": "ok"}))

    threading.Thread(target=respond_elsewhere).start()
    started = time.monotonic()
    status, response = ResponseWaiter(db, poll_seconds=0.05).wait(run_id, timeout=10)
    assert response == {"status": 201, "body": "ok"} and status == "queued"
    assert time.monotonic() - started < 5
    close_database(database_url)
