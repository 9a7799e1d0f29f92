"""Secret canary (ARCHITECTURE.md, contract 3): a unique secret value is injected into a real request, the
server echoes it back (raw and base64), the workflow logs, stores, returns and fails with that echo, and
then every trace the engine left (every column of every table, run details, published events, log
records) is searched for the value in any common encoding. It must appear nowhere; ``[secret:NAME]`` must
appear where it would have been."""

from __future__ import annotations

import base64
import json
import logging
import uuid

import pytest
import sqlalchemy as sa
from httpserver import Recorded, Reply, TestServer

from app.engine import runs
from app.engine.queries import run_details
from app.runtime.redact import derived_forms

pytestmark = pytest.mark.slow

SECRET = "CANARY_TOKEN"
MARKER = f"[secret:{SECRET}]"
DOC = {
    "dsl": "wasmflow/1",
    "name": "secret-canary",
    "settings": {"timeout_seconds": 30},
    "nodes": [
        {"id": "start", "type": "trigger.manual"},
        {
            "id": "call",
            "type": "http.request",
            "config": {
                "method": "POST",
                "url": "http://127.0.0.1:{{ input['port'] }}/reflect",
                "allowed_hosts": ["127.0.0.1"],
                "body": "{'wrapped': input.get('wrapped', False)}",
                "auth": {"type": "bearer", "secret": SECRET},
            },
        },
        {
            "id": "shout",
            "type": "transform",
            "config": {"code": "print(call)\nprint(call['body'])\nreturn call['body']"},
        },
        {"id": "save", "type": "kv.set", "config": {"namespace": "canary", "key": "echo", "value": "call"}},
        {"id": "check", "type": "branch", "config": {"condition": "input.get('fail', False)"}},
        {"id": "boom", "type": "fail", "config": {"message": "the server said {{ call['body'] }}", "code": "canary"}},
        {"id": "result", "type": "transform", "config": {"expression": "{'echo': call, 'shout': shout}"}},
    ],
    "edges": [
        {"from": "start", "to": "call"},
        {"from": "call", "to": "shout"},
        {"from": "shout", "to": "save"},
        {"from": "save", "to": "check"},
        {"from": "check", "to": "boom", "port": "true"},
        {"from": "check", "to": "result", "port": "false"},
    ],
}


def _reflect(req: Recorded) -> Reply:
    """Echo the request headers, and the bearer token again in the encodings a careless API might use;
    ``wrapped``: also base64 of the whole header value ("Bearer <token>", the token at another alignment)."""
    token = (req.header("authorization") or "").removeprefix("Bearer ")
    doc = {
        "headers": req.headers,
        "token_b64": base64.b64encode(token.encode()).decode(),
        "token_b64url": base64.urlsafe_b64encode(token.encode()).decode().rstrip("="),
    }
    if json.loads(req.body or b"{}").get("wrapped"):
        doc["auth_b64"] = base64.b64encode((req.header("authorization") or "").encode()).decode()
    return Reply(headers={"Content-Type": "application/json", "X-Echo-Token": token}, body=json.dumps(doc).encode())


def _b64_cores(value: str) -> set[str]:
    """Base64 text that every base64 encoding of any text containing ``value`` must contain, whatever the
    value's byte alignment inside it (the 4-character groups made only of the value's own bytes)."""
    raw = value.encode()
    cores = set()
    for k in range(3):
        enc = base64.b64encode(b"\0" * k + raw)
        groups = [i for i in range((k + len(raw)) // 3) if 3 * i >= k and 3 * i + 3 <= k + len(raw)]
        core = enc[4 * groups[0] : 4 * groups[-1] + 4].decode()
        cores |= {core, core.replace("+", "-").replace("/", "_")}
    return cores


def _forms(canary: str) -> set[str]:
    return {canary, canary.removeprefix("canary-"), *derived_forms(canary), *_b64_cores(canary)}


def _all_rows_as_text(engine) -> dict[str, str]:
    """Every column of every row of every table of the engine's database, as text (bytes decoded leniently)."""
    out = {}
    with engine.db.engine.connect() as conn:
        meta = sa.MetaData()
        meta.reflect(bind=conn)
        for table in meta.sorted_tables:
            parts = []
            for row in conn.execute(sa.select(table)):
                for v in row:
                    if isinstance(v, (bytes, bytearray, memoryview)):
                        v = bytes(v).decode("latin-1")
                    parts.append(v if isinstance(v, str) else json.dumps(v, default=str))
            out[table.name] = "\n".join(parts)
    return out


@pytest.fixture(scope="module")
def canary_workflow(compiler):
    result = compiler.compile(DOC, with_bundle=False)
    compiler.store.precompiled_path(result.digest)  # the native form now, not inside the first run's time
    return result


def test_secret_value_never_leaves_the_boundary(canary_workflow, engine_factory, caplog):
    caplog.set_level(logging.INFO)  # httpcore DEBUG traces print raw response headers (see report)
    engine = engine_factory([canary_workflow.digest])
    canary = f"canary-{uuid.uuid4().hex}"
    engine.world.secrets.set(SECRET, canary)
    published: list[dict] = []
    engine.add_listener(lambda run_id, events: published.extend(events))

    with TestServer() as server:
        server.route("/reflect", _reflect)
        ok = engine.run_sync(engine.create_run(canary_workflow.digest, {"port": server.port}))
        failed = engine.run_sync(engine.create_run(canary_workflow.digest, {"port": server.port, "fail": True}))

    # the host did inject the real value at the boundary, once per run
    assert [r.header("authorization") for r in server.requests] == [f"Bearer {canary}"] * 2
    assert ok.status == runs.SUCCEEDED, ok.error
    assert failed.status == runs.FAILED and failed.error["code"] == "canary", failed.error

    details = {rid: run_details(engine.db, rid, with_journal=True) for rid in (ok.run_id, failed.run_id)}
    tables = _all_rows_as_text(engine)
    traces = {
        "output": json.dumps(ok.output),
        "error": json.dumps(failed.error),
        "run_details": json.dumps(details, default=str),
        "published_events": json.dumps(published, default=str),
        "log_records": caplog.text,
        **{f"table {name}": text for name, text in tables.items()},
    }
    assert {"runs", "journal", "events", "kv", "waits", "artifacts"} <= set(tables)
    for where, text in traces.items():
        leaked = [form for form in _forms(canary) if form in text]
        assert not leaked, f"the secret leaked into {where} as {leaked}"

    # ... and the redaction marker stands where the value would have been
    echo = ok.output["output"]["echo"]
    assert echo["body"]["headers"]["authorization"] == f"Bearer {MARKER}"
    assert echo["body"]["token_b64"] == echo["body"]["token_b64url"] == MARKER
    assert echo["headers"]["x-echo-token"] == MARKER
    assert MARKER in failed.error["message"]
    logs = [e for e in details[ok.run_id]["events"] if e["type"] == "log"]
    assert logs and all(MARKER in e["data"]["message"] for e in logs)
    for name in ("kv", "journal", "events"):
        assert MARKER in tables[name], name
    assert MARKER in traces["published_events"]


def test_base64_of_text_containing_the_secret_is_redacted(canary_workflow, engine_factory):
    engine = engine_factory([canary_workflow.digest])
    canary = f"canary-{uuid.uuid4().hex}"
    engine.world.secrets.set(SECRET, canary)
    with TestServer() as server:
        server.route("/reflect", _reflect)
        ok = engine.run_sync(engine.create_run(canary_workflow.digest, {"port": server.port, "wrapped": True}))
    assert ok.status == runs.SUCCEEDED, ok.error
    assert "auth_b64" in ok.output["output"]["echo"]["body"]
    text = json.dumps(run_details(engine.db, ok.run_id, with_journal=True), default=str)
    assert not [form for form in _forms(canary) if form in text]
