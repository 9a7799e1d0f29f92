"""``/hooks/<token>``: webhook deliveries start runs (thin edge over app.engine.triggers), and
``install_triggers`` wires the webhook responses, live-event wakeups and cron schedules to the app's engine."""

from __future__ import annotations

import json
import os
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from app.engine import runs, triggers
from app.errors import DocumentTooLarge
from app.store import open_database

bp = Blueprint("webhooks", __name__)

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
HOP_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})


def install_triggers(app: Flask, engine: Any) -> None:
    """Called by create_app once the engine exists: respond-node wakeups, live-event wakeups, schedules."""
    from app.engine.feed import install_notifier
    from app.engine.schedules import schedule_duty

    waiter = _waiter(app)
    previous = engine.world.responded

    def responded(run_id: str, response: dict) -> None:
        previous(run_id, response)
        waiter.responded(run_id, response)

    engine.world.responded = responded
    engine.add_listener(waiter.ended)
    engine.add_duty(schedule_duty)
    install_notifier(engine)  # PostgreSQL: wake the live feeds of other server processes
    feed = app.extensions.get("wasmflow.feed")  # else the feed starts with its first subscriber (app.api.live)
    if feed is not None:
        engine.add_listener(feed.wake)


def _waiter(app: Flask) -> triggers.ResponseWaiter:
    waiter = app.extensions.get("wasmflow.webhook_waiter")
    if waiter is None:
        db = open_database(app.extensions["wasmflow.settings"].database_url)
        waiter = app.extensions["wasmflow.webhook_waiter"] = triggers.ResponseWaiter(db)
    return waiter


def _limit(name: str, env: str, default: float) -> float:
    value = current_app.config.get(name)
    if value is None:
        value = os.environ.get(env) or default
    return float(value)


def _secrets():
    engine = current_app.extensions.get("wasmflow.engine")
    if engine is not None and engine.world.secrets is not None:
        return engine.world.secrets
    store = current_app.extensions.get("wasmflow.webhook_secrets")
    if store is None:
        from app.runtime.secrets import open_secret_store

        settings = current_app.extensions["wasmflow.settings"]
        store = open_secret_store(open_database(settings.database_url), settings.instance_dir)
        current_app.extensions["wasmflow.webhook_secrets"] = store
    return store


def _read_body(max_bytes: int) -> bytes:
    too_large = DocumentTooLarge(
        f"the webhook body is larger than the limit of {max_bytes:,} bytes", details={"limit_bytes": max_bytes}
    )
    if request.content_length is not None and request.content_length > max_bytes:
        raise too_large
    body = request.stream.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise too_large
    return body


@bp.route("/hooks/<token>", methods=METHODS)
def deliver(token: str):
    db = open_database(current_app.extensions["wasmflow.settings"].database_url)
    req = triggers.Request(
        method=request.method,
        path=request.path,
        headers=list(request.headers.items()),
        query=triggers.flat(request.args.to_dict(flat=False)),
        mimetype=request.mimetype,
        charset=request.mimetype_params.get("charset", "utf-8"),
        body=_read_body(int(_limit("WEBHOOK_MAX_BYTES", "WASMFLOW_WEBHOOK_MAX_BYTES", 1024 * 1024))),
    )
    engine = current_app.extensions.get("wasmflow.engine")
    # With a free run slot here, the run is stored leased to this process and executed at once: no claim,
    # no read-back (else it is stored queued and whoever has room claims it).
    reserved = engine is not None and engine.reserve()
    try:
        hook, run_id, created, run_input = triggers.receive(
            db,
            token,
            req,
            secrets=_secrets(),
            claimed_by=engine.owner if reserved else None,
            lease_seconds=engine.lease_seconds if reserved else 30,
        )
    except BaseException:
        if reserved:
            engine.release()
        raise
    sync = hook.config.get("respond") == "respond_node"
    slot = _waiter(current_app).expect(run_id) if sync else None  # before the run can answer
    local = created and reserved
    if local:
        engine.submit_fresh(run_id, runs.Fresh(hook.workflow_name, hook.digest, run_input))
    else:
        if reserved:
            engine.release()
        if created and engine is not None:
            engine.kick(run_id)  # else a worker picks the queued run up
    if not sync:
        return jsonify({"run_id": run_id, "duplicate": not created}), 202
    timeout = _limit("WEBHOOK_RESPOND_TIMEOUT", "WASMFLOW_WEBHOOK_RESPOND_TIMEOUT", 30)
    status, response = _waiter(current_app).wait(run_id, timeout=timeout, slot=slot, local=local)
    if response is not None:
        return _shaped(run_id, response)
    if status in ("failed", "cancelled", "needs_attention"):
        err = {"kind": "fatal", "code": "run_failed", "message": f"the run ended ({status}) without responding"}
        return jsonify({"error": {**err, "details": {"run_id": run_id, "status": status}}}), 500
    return jsonify({"run_id": run_id, "status": status, "responded": False}), 202


def _shaped(run_id: str, response: dict) -> Response:
    """The respond node's status, headers and body (JSON unless it set a non-JSON type for a string)."""
    headers = {str(k): str(v) for k, v in (response.get("headers") or {}).items() if k.lower() not in HOP_HEADERS}
    ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    body = response.get("body")
    if body is None:
        data = b""
    elif isinstance(body, str) and ctype and "json" not in ctype.lower():
        data = body.encode("utf-8")
    else:
        data = json.dumps(body, default=str).encode("utf-8")
        if ctype is None:
            headers["Content-Type"] = "application/json"
    resp = Response(data, status=int(response.get("status") or 200))
    for k, v in headers.items():
        resp.headers[k] = v
    resp.headers["X-Wasmflow-Run-Id"] = run_id
    return resp
