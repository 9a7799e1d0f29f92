"""The CLI's client for a wasmflow server (``wasmflow --server URL ...``): JSON over HTTP with httpx, live
events over the ``/api/ws`` WebSocket with simple-websocket (the library flask-sock serves it with).

Every failure becomes a ``WasmflowError`` whose message is one line built from the API's JSON error body
(``message (at field)``), so commands print remote and local errors the same way. A server that cannot be
reached raises ``Unreachable`` (its own exit code, see ``app.cli.common``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx

from app.errors import Problem, UserError, ValidationFailed, WasmflowError

RECONNECT_SECONDS = 30.0  # a followed stream that drops keeps reconnecting this long (a server restart)
DEFAULT_TIMEOUT = 300.0  # deploy FILE waits for a compile (~10 s) and the native precompile (minutes under load)
CONNECT_TIMEOUT = 10.0


class Unreachable(WasmflowError):
    """No answer from the server at all (refused, DNS, timeout): nothing was done there."""

    code = "unreachable"


class ServerError(WasmflowError):
    """The server answered with an error; ``status`` is its HTTP status, ``field`` the place it names."""

    def __init__(self, message: str, *, status: int, code: str, field: str | None = None):
        super().__init__(message, code=code, details={"status": status, **({"field": field} if field else {})})
        self.status = status
        self.field = field


def _located(message: str, field: str | None) -> str:
    return f"{message} (at {field})" if field else message


def error_from(resp: httpx.Response) -> WasmflowError:
    """The API's error body as one error: a 422 with located problems keeps them (one line each)."""
    try:
        body = resp.json()["error"]
        message, code = str(body["message"]), str(body.get("code") or "error")
    except (ValueError, KeyError, TypeError):
        text = " ".join(resp.text.split())[:200] or resp.reason_phrase
        return ServerError(
            f"HTTP {resp.status_code} from {resp.request.url}: {text}", status=resp.status_code, code="http"
        )
    field = body.get("field")
    problems = [
        Problem(str(e.get("path") or ""), str(e.get("message") or ""), str(e.get("code") or "invalid"), e.get("node"))
        for e in body.get("errors") or []
        if isinstance(e, dict)
    ]
    if resp.status_code == 422:  # the input is invalid: exit code 1 like a local validation
        err = ValidationFailed(problems or [Problem(field or "", message, code)], message=message)
        err.details["remote"] = True
        return err
    return ServerError(_located(message, field), status=resp.status_code, code=code, field=field)


class Client:
    """A wasmflow server at ``base_url`` (e.g. ``http://127.0.0.1:8000``)."""

    def __init__(self, base_url: str, *, timeout: float = DEFAULT_TIMEOUT):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UserError(f"--server {base_url!r} is not an http:// or https:// URL", code="bad_server_url")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        token = os.environ.get("WASMFLOW_TOKEN")  # an API token (wasmflow tokens create) for a server with auth on
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.workspace = os.environ.get("WASMFLOW_WORKSPACE") or None  # else the token's, else default
        if self.workspace:
            headers["X-Wasmflow-Workspace"] = self.workspace
        self._http = httpx.Client(
            base_url=self.base_url, timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT), headers=headers
        )

    def close(self) -> None:
        self._http.close()

    # -- HTTP ---------------------------------------------------------------------------------------------

    def request(self, method: str, path: str, *, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        """JSON of a 2xx answer (None for 204); any other answer raises its error as one line."""
        params = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            resp = self._http.request(method, path, params=params, json=body if body is not None else None)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise Unreachable(f"cannot reach server at {self.base_url}: {_reason(exc)}") from None
        except httpx.TimeoutException:
            raise ServerError(
                f"{method} {path}: no answer from {self.base_url} within {self.timeout:.0f} s "
                "(the server may still finish it: check before retrying)",
                status=0,
                code="timeout",
            ) from None
        except httpx.TransportError as exc:  # the connection broke mid-request: the outcome is unknown
            raise ServerError(
                f"{method} {path}: the connection to {self.base_url} broke: {_reason(exc)}", status=0, code="transport"
            ) from None
        if resp.is_success:
            if resp.status_code == 204 or not resp.content:
                return None
            try:
                return resp.json()
            except ValueError:
                raise ServerError(
                    f"{method} {path} answered {resp.status_code} without JSON: is {self.base_url} a wasmflow server?",
                    status=resp.status_code,
                    code="not_json",
                ) from None
        raise error_from(resp)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return self.request("POST", path, body=body if body is not None else {}, params=params)

    # -- calls the commands make ----------------------------------------------------------------------------

    def run(self, run_id: str) -> dict[str, Any]:
        return self.get(f"/api/runs/{quote(run_id, safe='')}")

    def approval_path(self, key: str, action: str = "") -> str:
        return f"/api/approvals/{quote(key, safe=':')}" + (f"/{action}" if action else "")

    # -- live events ------------------------------------------------------------------------------------------

    def _auth_headers(self) -> dict[str, str]:
        token = self._http.headers.get("authorization")
        return {"Authorization": token} if token else {}

    def ws_url(self, **query: Any) -> str:
        scheme = "wss" if self.base_url.startswith("https:") else "ws"
        rest = self.base_url.split("://", 1)[1]
        query = {**query, "workspace": self.workspace}  # a WebSocket upgrade names it in the query
        return f"{scheme}://{rest}/api/ws?{urlencode({k: v for k, v in query.items() if v is not None})}"

    def run_events(self, run_id: str, *, after: int = 0, idle: float = 0.25) -> Iterator[dict | None]:
        """A run's events over the WebSocket from ``after`` (its seq), history first, then live.

        Yields each event message, and ``None`` whenever ``idle`` seconds pass without one (the caller spins
        its spinner and decides whether to stop). A dropped connection reconnects from the last cursor, so no
        event is lost or repeated; a server that cannot be reached at first, or stays away
        for ``RECONNECT_SECONDS`` after a drop, raises ``Unreachable``."""
        from simple_websocket import Client as WsClient
        from simple_websocket import ConnectionClosed

        cursor = after
        down_since: float | None = None
        connected = False
        while True:
            try:
                ws = WsClient.connect(self.ws_url(run=run_id, after=cursor), headers=self._auth_headers())
            except (OSError, ConnectionError) as exc:  # refused, reset, DNS: the server is (still) away
                down_since = down_since or time.monotonic()
                if not connected or time.monotonic() - down_since > RECONNECT_SECONDS:
                    raise Unreachable(f"cannot reach server at {self.base_url}: {_reason(exc)}") from None
                time.sleep(0.5)
                yield None
                continue
            down_since, connected = None, True
            try:
                while True:
                    raw = ws.receive(timeout=idle)
                    if raw is None:
                        yield None
                        continue
                    msg = json.loads(raw)
                    kind = msg.get("type", "")
                    if kind == "stream.error":
                        err = msg.get("error") or {}
                        field = (err.get("details") or {}).get("field")  # as the HTTP error bodies name it
                        raise ServerError(
                            _located(str(err.get("message")), field), status=404, code=str(err.get("code"))
                        )
                    if kind == "stream.lagging":
                        cursor = int(msg.get("cursor") or cursor)
                        break  # reconnect from the cursor
                    if kind.startswith("stream."):
                        continue
                    cursor = int(msg.get("cursor") or msg.get("seq") or cursor)
                    yield msg
            except ConnectionClosed:
                time.sleep(0.2)  # reconnect from the cursor
            finally:
                try:
                    ws.close()
                except Exception:  # noqa: BLE001 - already closed by the server
                    pass


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())
