"""Webhook triggers without Flask: find the deployment by token, check the signature, accept a delivery
exactly once, and wait for a run's ``respond`` node.

Exactly once per delivery id: the ``webhook_deliveries`` row (primary key workflow + delivery id) and the run
are inserted in ONE transaction; a concurrent duplicate fails on the key and answers with the existing run.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import sqlalchemy as sa

from app.dsl import parse_json
from app.engine import runs
from app.errors import NotFound, RetriableError, UnsupportedMediaType, UserError
from app.store import Database
from app.store.models import Deployment, Run, WebhookDelivery, WorkflowVersion

DROPPED_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
DELIVERY_HEADERS = ("X-Delivery-Id", "Idempotency-Key")


class SignatureRejected(UserError):
    code = "invalid_signature"
    http_status = 401


class MethodNotAllowed(UserError):
    code = "method_not_allowed"
    http_status = 405


@dataclass(frozen=True)
class Request:
    """What the HTTP edge hands over: the parts of a webhook request, body already size-checked."""

    method: str
    path: str
    headers: list[tuple[str, str]]
    query: dict[str, Any]
    mimetype: str
    charset: str
    body: bytes

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)


def receive(
    db: Database, token: str, req: Request, *, secrets: Any, claimed_by: str | None = None, lease_seconds: float = 30
) -> tuple[Hook, str, bool, dict]:
    """Check a webhook request and store its run: (hook, run_id, created, run input). With ``claimed_by``
    a new run is stored already leased to that process (it executes the run without claiming it)."""
    hook = find_hook(db, token)
    check_method(hook, req.method)
    if secrets is not None and hook.config.get("signature") and hasattr(secrets, "for_workflow"):
        secrets = secrets.for_workflow(hook.workflow_name)  # its workspace's secret, granted to it
    verify_signature(hook, req.header, req.body, secrets=secrets)
    run_input = {
        "method": req.method,
        "path": req.path,
        "headers": run_headers(req.headers),
        "query": req.query,
        "body": parse_body(req.mimetype, req.charset, req.body),
    }
    delivery_id = next((req.header(h) for h in DELIVERY_HEADERS if req.header(h)), None)
    run_id, created = accept(
        db, hook, run_input, delivery_id=delivery_id, claimed_by=claimed_by, lease_seconds=lease_seconds
    )
    return hook, run_id, created, run_input


def parse_body(mimetype: str, charset: str, body: bytes) -> Any:
    """JSON (``application/json``, ``*+json``), form fields (``application/x-www-form-urlencoded``; a repeated
    field becomes a list) or text (``text/*``); an empty body is null; any other type is 415."""
    if not body:
        return None
    mime = (mimetype or "").lower()
    if mime == "application/json" or mime.endswith("+json"):
        return parse_json(body)  # the DSL's rules: no duplicate keys, NaN or deep nesting (400 invalid_json)
    if mime == "application/x-www-form-urlencoded":
        return flat(parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True))
    if mime.startswith("text/"):
        try:
            return body.decode(charset or "utf-8", "replace")
        except LookupError:
            return body.decode("utf-8", "replace")
    raise UnsupportedMediaType(
        f"Content-Type {mime or '(none)'} is not accepted: send application/json, "
        "application/x-www-form-urlencoded or text/*",
        details={"content_type": mime or None},
    )


def flat(values: dict[str, list[str]]) -> dict[str, Any]:
    """Query or form fields: one value as is, a repeated field as a list."""
    return {k: (v[0] if len(v) == 1 else v) for k, v in values.items()}


@dataclass(frozen=True)
class Hook:
    """A deployed workflow reachable by webhook: its version, digest and trigger config."""

    workflow_name: str
    version: int
    digest: str
    config: dict


def trigger_node(dsl: dict) -> dict | None:
    """The trigger node of a DSL document (there is exactly one in a valid workflow)."""
    for node in (dsl or {}).get("nodes") or []:
        if str(node.get("type", "")).startswith("trigger."):
            return node
    return None


# (workflow, version, created_at) -> the version's trigger.webhook config: versions are immutable, and the
# creation instant tells a version apart from one of the same number in another (or a recreated) database
_TRIGGER_CONFIGS: dict[tuple, dict | None] = {}


def find_hook(db: Database, token: str) -> Hook:
    """The active deployment behind ``token`` whose version starts with ``trigger.webhook``; else NotFound.

    One narrow read per delivery (a deployment can be switched off at any time); the trigger's config comes
    from the version's DSL, read once per version and process (versions are immutable)."""
    with db.session() as s:
        row = s.execute(
            sa.select(Deployment.workflow_name, Deployment.version, WorkflowVersion.digest, WorkflowVersion.created_at)
            .join(
                WorkflowVersion,
                sa.and_(
                    WorkflowVersion.workflow_name == Deployment.workflow_name,
                    WorkflowVersion.number == Deployment.version,
                ),
            )
            .where(Deployment.webhook_token == token, Deployment.active.is_(True))
        ).first()
        if row is None:
            raise NotFound("no active webhook at this address", code="webhook_not_found")
        name, version, digest, created_at = row
        place = (name, version, created_at)
        if place not in _TRIGGER_CONFIGS:
            dsl = s.execute(
                sa.select(WorkflowVersion.dsl).where(
                    WorkflowVersion.workflow_name == name, WorkflowVersion.number == version
                )
            ).scalar()
            node = trigger_node(dsl)
            config = None
            if node is not None and node.get("type") == "trigger.webhook":
                config = {"method": "POST", "respond": "immediately", "signature": None, **(node.get("config") or {})}
            _TRIGGER_CONFIGS[place] = config
    config = _TRIGGER_CONFIGS[place]
    if config is None:
        raise NotFound(
            f"workflow {name} (version {version}) is not started by a webhook",
            code="webhook_not_found",
        )
    return Hook(name, version, digest, config)


def check_method(hook: Hook, method: str) -> None:
    if method.upper() != hook.config["method"]:
        raise MethodNotAllowed(f"this webhook accepts {hook.config['method']} requests, not {method.upper()}")


def verify_signature(
    hook: Hook, headers: Callable[[str], str | None], body: bytes, *, secrets: Any, now: float | None = None
) -> None:
    """Check ``<header>: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`` and the timestamp window."""
    sig = hook.config.get("signature")
    if not sig:
        return
    name = sig["secret"]
    header, ts_header = sig.get("header") or "X-Signature", sig.get("timestamp_header") or "X-Timestamp"
    tolerance = int(sig.get("tolerance_seconds") or 300)
    raw_ts = (headers(ts_header) or "").strip()
    try:
        ts = int(raw_ts)
    except ValueError:
        raise SignatureRejected(
            f"header {ts_header} must carry the signing time in Unix seconds",
            code="invalid_timestamp",
            details={"header": ts_header},
        ) from None
    now = time.time() if now is None else now
    if abs(now - ts) > tolerance:
        raise SignatureRejected(
            f"header {ts_header} is outside the allowed window of {tolerance} seconds (stale or replayed request)",
            code="stale_timestamp",
            details={"header": ts_header, "tolerance_seconds": tolerance},
        )
    secret = secrets.value(name) if secrets is not None else None
    if secret is None:
        raise RetriableError(
            f"the webhook secret {name} is not set on this server (wasmflow secrets set {name})",
            code="secret_missing",
            details={"secret": name},
        )
    given = (headers(header) or "").strip()
    if given.lower().startswith("sha256="):
        given = given[len("sha256=") :]
    expected = hmac.new(secret.encode("utf-8"), raw_ts.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given.lower().encode("ascii", "replace"), expected.encode("ascii")):
        raise SignatureRejected(f"header {header} does not carry a valid signature", details={"header": header})


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The header value a sender puts in the signature header (for clients and tests)."""
    mac = hmac.new(secret.encode("utf-8"), str(timestamp).encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def run_headers(items: list[tuple[str, str]]) -> dict[str, str]:
    """Request headers for the run input: lower-case names, credentials dropped, repeats joined."""
    out: dict[str, str] = {}
    for k, v in items:
        k = k.lower()
        if k in DROPPED_HEADERS:
            continue
        out[k] = f"{out[k]}, {v}" if k in out else v
    return out


def accept(
    db: Database,
    hook: Hook,
    run_input: dict,
    *,
    delivery_id: str | None,
    claimed_by: str | None = None,
    lease_seconds: float = 30,
) -> tuple[str, bool]:
    """Create the run for a delivery: (run_id, created). A repeated delivery id returns the first run."""
    if delivery_id is not None and not (0 < len(delivery_id) <= 200):
        raise UserError("the delivery id header must hold 1-200 characters", code="invalid_delivery_id")
    rid = runs.new_run_id()
    try:
        with db.session() as s:
            if delivery_id is not None:
                # the key insert first: a concurrent duplicate blocks on it, then fails before creating anything
                s.add(
                    WebhookDelivery(
                        workflow_name=hook.workflow_name, delivery_id=delivery_id, run_id=rid, received_at=runs.utcnow()
                    )
                )
                s.flush()
            runs.create_run(
                s,
                workflow_name=hook.workflow_name,
                digest=hook.digest,
                input=run_input,
                run_id=rid,
                claimed_by=claimed_by,
                lease_seconds=lease_seconds,
            )
        return rid, True
    except sa.exc.IntegrityError:
        if delivery_id is None:
            raise
        with db.session() as s:
            row = s.get(WebhookDelivery, (hook.workflow_name, delivery_id))
        if row is None:  # not a duplicate delivery after all
            raise
        return row.run_id, False


class ResponseWaiter:
    """Wait for a run's respond node: the in-process callback (``World.responded``) hands the response over
    directly; ``runs.response`` is polled in the database when another process executes the run."""

    def __init__(self, db: Database, *, poll_seconds: float = 0.2):
        self.db = db
        self.poll_seconds = poll_seconds
        self._slots: dict[str, list[_Slot]] = {}
        self._lock = threading.Lock()

    def responded(self, run_id: str, response: dict) -> None:
        with self._lock:
            waiting = list(self._slots.get(run_id, ()))
        for slot in waiting:
            slot.response = response
            slot.event.set()

    def ended(self, run_id: str, events: list[dict]) -> None:
        """A committed-events listener: a run that ends without responding stops its waiters' sleep."""
        if any(e.get("type") in _RUN_ENDS for e in events):
            with self._lock:
                waiting = list(self._slots.get(run_id, ()))
            for slot in waiting:
                slot.event.set()

    def expect(self, run_id: str) -> _Slot:
        """Register for ``run_id``'s response before the run can answer (then ``wait(..., slot=)``)."""
        slot = _Slot()
        with self._lock:
            self._slots.setdefault(run_id, []).append(slot)
        return slot

    def wait(
        self, run_id: str, *, timeout: float, slot: _Slot | None = None, local: bool = False
    ) -> tuple[str, dict | None]:
        """(status, response): the response as soon as one exists; else the run's status when it ends
        without one or when ``timeout`` passes. ``local``: this process executes the run, so its answer (or
        its end) arrives by callback, and the database is read only after that or a poll interval."""
        slot = slot or self.expect(run_id)
        end = time.monotonic() + timeout
        try:
            if local:
                slot.event.wait(min(self.poll_seconds, timeout))
            while True:
                if slot.response is not None:  # answered in this process: no read needed
                    return runs.RUNNING, slot.response
                with self.db.session() as s:
                    row = s.execute(sa.select(Run.status, Run.response).where(Run.id == run_id)).first()
                if row is None:
                    raise NotFound(f"no run {run_id}")
                status, response = row
                if response is not None or status in runs.FINAL or status == runs.NEEDS_ATTENTION:
                    return status, response
                left = end - time.monotonic()
                if left <= 0:
                    return status, None
                slot.event.wait(min(self.poll_seconds, left))
        finally:
            with self._lock:
                waiting = self._slots.get(run_id, [])
                if slot in waiting:
                    waiting.remove(slot)
                if not waiting:
                    self._slots.pop(run_id, None)


_RUN_ENDS = frozenset({"run.succeeded", "run.failed", "run.cancelled", "run.needs_attention", "run.waiting"})


class _Slot:
    __slots__ = ("event", "response")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.response: dict | None = None
