"""A held-out "external API" for fault injection: a real threaded HTTP server on 127.0.0.1.

It behaves like a careful real API (Stripe's idempotency rules) that sometimes applies a request and then
loses the answer. Every POST carries a JSON body with a business ``key`` (``ship-A1``, ``line-A1-SKU2``):
applying it creates one resource for that key. The server counts applications per business key AND per
``Idempotency-Key``, so the same order shipped twice under two different idempotency keys is caught.

Idempotency: the first request with a key is executed and its answer stored; a repeat gets the stored answer
with ``Idempotent-Replayed: true`` (a stored 503 too when ``replay_errors``, as Stripe does; else the stored
answer is the success the API had computed before the gateway failed); a repeat while the first is still
executing gets 409; a key reused with another body gets 422. A request that failed before applying stores
nothing, so its retry with the same key is executed afresh.

Faults are chosen per request: the query ``fault=a,b,c`` gives the mode of the 1st, 2nd, 3rd... request the
server receives for that business key (``ok`` after the list); without it, ``schedule(business_key, n)``
(seeded by the trial) decides. Modes (``MODES``):

- ``ok``: apply, 201.
- ``slow``: take ``slow_seconds`` executing (under the client's timeout), then apply, 201.
- ``apply_then_503``: apply, answer 503.
- ``apply_then_drop``: apply, close the socket without an answer.
- ``apply_then_late``: apply, answer only after ``late_seconds`` (after the client's timeout).
- ``fail_before_apply``: 503 without applying.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

MODES = ("ok", "slow", "apply_then_503", "apply_then_drop", "apply_then_late", "fail_before_apply")
APPLYING = frozenset({"ok", "slow", "apply_then_503", "apply_then_drop", "apply_then_late"})


@dataclass
class Application:
    """One business effect applied: the resource created for ``business_key``."""

    business_key: str
    idempotency_key: str | None
    resource_id: str
    path: str
    mode: str
    attempt: int  # the n-th request the server received for this business key
    at: float


@dataclass
class Answer:
    status: int
    body: dict
    replayed: bool = False


@dataclass
class _Entry:
    fingerprint: str
    business_key: str
    answer: Answer | None = None  # None while the first request is executing


@dataclass
class Seen:
    """One request as the server saw it (for reports and unit tests)."""

    path: str
    business_key: str | None
    idempotency_key: str | None
    mode: str
    outcome: str  # applied | replayed | conflict | mismatch | failed | bad_request
    status: int | None  # what was sent; None when the socket was dropped
    at: float = field(default_factory=time.monotonic)


class ExtApi:
    """The fault-injecting API. ``with ExtApi() as api: api.url`` is its base URL (no trailing slash)."""

    def __init__(
        self,
        *,
        replay_errors: bool = True,
        slow_seconds: float = 0.3,
        late_seconds: float = 2.0,
        schedule: Callable[[str, int], str] | None = None,
        on_apply: Callable[[Application], None] | None = None,
    ) -> None:
        self.replay_errors = replay_errors
        self.slow_seconds = slow_seconds
        self.late_seconds = late_seconds
        self.schedule = schedule
        self.on_apply = on_apply  # called after applying, before answering (e.g. to kill the caller now)
        self.applications: list[Application] = []
        self.seen: list[Seen] = []
        self._entries: dict[str, _Entry] = {}
        self._attempts: Counter[str] = Counter()
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                split = urlsplit(self.path)
                if split.path == "/health":
                    self._send(Answer(200, {"ok": True}))
                else:
                    self._send(Answer(404, {"error": "no such route"}))

            def do_POST(self) -> None:  # noqa: N802
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                query = dict(parse_qsl(split.query, keep_blank_values=True))
                key = self.headers.get("Idempotency-Key")
                try:
                    answer, late = api._handle(split.path, query, key, raw)
                except _Drop:
                    self.close_connection = True  # the effect is applied; the client gets no answer at all
                    return
                if late:
                    time.sleep(api.late_seconds)
                try:
                    self._send(answer)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (timeout) or died: expected here

            def _send(self, answer: Answer) -> None:
                body = json.dumps(answer.body).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if answer.replayed:
                    self.send_header("Idempotent-Replayed", "true")
                self.end_headers()
                self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

            def handle_error(self, request, client_address) -> None:
                pass  # clients killed with -9 or timing out mid-answer are the point of this server

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="extapi", daemon=True
        )

    # -- the API's logic ---------------------------------------------------------------------------------

    def _handle(self, path: str, query: dict, key: str | None, raw: bytes) -> tuple[Answer, bool]:
        try:
            body = json.loads(raw) if raw else None
            bkey = body["key"]
            assert isinstance(bkey, str) and bkey
        except (ValueError, TypeError, KeyError, AssertionError):
            self._note(path, None, key, "-", "bad_request", 400)
            return Answer(400, {"error": "a JSON body with a business 'key' is required"}), False
        fingerprint = hashlib.sha256(raw).hexdigest()
        with self._lock:
            self._attempts[bkey] += 1
            attempt = self._attempts[bkey]
            mode = self._mode(query, bkey, attempt)
            entry = self._entries.get(key) if key else None
            if entry is not None:
                if entry.fingerprint != fingerprint:
                    self._note_locked(path, bkey, key, mode, "mismatch", 422)
                    return Answer(422, {"error": "idempotency_key_reused", "key": key}), False
                if entry.answer is None:
                    self._note_locked(path, bkey, key, mode, "conflict", 409)
                    return Answer(409, {"error": "a request with this Idempotency-Key is in progress"}), False
                stored = entry.answer
                self._note_locked(path, bkey, key, mode, "replayed", stored.status)
                return Answer(stored.status, stored.body, replayed=True), False
            if mode == "fail_before_apply":
                self._note_locked(path, bkey, key, mode, "failed", 503)
                return Answer(503, {"error": "service unavailable (nothing was done)"}), False
            if key:
                self._entries[key] = _Entry(fingerprint, bkey)  # executing: a concurrent repeat gets 409
        if mode == "slow":
            time.sleep(self.slow_seconds)
        with self._lock:
            app = Application(
                business_key=bkey,
                idempotency_key=key,
                resource_id=f"res_{len(self.applications) + 1}",
                path=path,
                mode=mode,
                attempt=attempt,
                at=time.monotonic(),
            )
            self.applications.append(app)
            created = Answer(201, {"id": app.resource_id, "key": bkey, "attempt": attempt})
            failed = Answer(503, {"error": "service unavailable (after applying)"})
            if key:
                stored = failed if mode == "apply_then_503" and self.replay_errors else created
                self._entries[key].answer = stored
        if self.on_apply is not None:
            self.on_apply(app)
        with self._lock:
            if mode == "apply_then_drop":
                self._note_locked(path, bkey, key, mode, "applied", None)
                raise _Drop()
            answer = failed if mode == "apply_then_503" else created
            self._note_locked(path, bkey, key, mode, "applied", answer.status)
        return answer, mode == "apply_then_late"

    def _mode(self, query: dict, bkey: str, attempt: int) -> str:
        if "fault" in query:
            plan = [m for m in query["fault"].split(",") if m]
            mode = plan[attempt - 1] if attempt <= len(plan) else "ok"
        elif self.schedule is not None:
            mode = self.schedule(bkey, attempt)
        else:
            mode = "ok"
        return mode if mode in MODES else "ok"

    def _note(self, *args) -> None:
        with self._lock:
            self._note_locked(*args)

    def _note_locked(self, path, bkey, key, mode, outcome, status) -> None:
        self.seen.append(Seen(path, bkey, key, mode, outcome, status))

    # -- what the checks read ------------------------------------------------------------------------------

    def applied(self) -> Counter[str]:
        """Applications per business key."""
        with self._lock:
            return Counter(a.business_key for a in self.applications)

    def applied_by_idempotency_key(self) -> Counter[str]:
        with self._lock:
            return Counter(a.idempotency_key for a in self.applications)

    def duplicates(self) -> dict[str, list[Application]]:
        """Business keys applied more than once, with their applications (keys, attempts, modes)."""
        with self._lock:
            by: dict[str, list[Application]] = {}
            for a in self.applications:
                by.setdefault(a.business_key, []).append(a)
        return {k: v for k, v in by.items() if len(v) > 1}

    def resource_of(self, business_key: str) -> str | None:
        """The id of the first resource created for ``business_key``."""
        with self._lock:
            return next((a.resource_id for a in self.applications if a.business_key == business_key), None)

    def outcomes(self) -> Counter[str]:
        with self._lock:
            return Counter(s.outcome for s in self.seen)

    def start(self) -> ExtApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever, which never ran otherwise
            self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ExtApi:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _Drop(Exception):
    """Close the connection without answering."""
