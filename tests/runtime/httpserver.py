"""A real HTTP server on 127.0.0.1 for tests: programmable routes, every request recorded.

    with TestServer() as srv:
        srv.route("/slow", delay=0.2, json={"ok": True})
        srv.route("/moved", status=302, headers={"Location": "/slow"})
        srv.url("/slow")        # http://127.0.0.1:<port>/slow
        srv.requests            # [Recorded(method, path, query, headers, body), ...]

``TestServer(tls=ctx)`` serves HTTPS with a server-side ``ssl.SSLContext``. A route is fixed (status, headers, body/json/text, delay, stream of n bytes) or a handler function
``fn(Recorded) -> Reply``. Unknown paths answer 404. ``/echo`` is built in: it returns the request as JSON.
"""

from __future__ import annotations

import json as jsonlib
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0
    stream_bytes: int = 0  # send this many bytes in chunks after ``body`` (no Content-Length: chunked)


def _reply(
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    json: object = None,
    text: str | None = None,
    delay: float = 0.0,
    stream_bytes: int = 0,
) -> Reply:
    hdrs = dict(headers or {})
    if json is not None:
        body = jsonlib.dumps(json).encode()
        hdrs.setdefault("Content-Type", "application/json")
    elif text is not None:
        body = text.encode()
        hdrs.setdefault("Content-Type", "text/plain; charset=utf-8")
    return Reply(status=status, headers=hdrs, body=body or b"", delay=delay, stream_bytes=stream_bytes)


def _echo(req: Recorded) -> Reply:
    doc = {"method": req.method, "path": req.path, "query": req.query, "headers": req.headers}
    doc["body"] = req.body.decode("utf-8", errors="replace")
    return _reply(json=doc)


class TestServer:
    """A threaded ``http.server`` on 127.0.0.1 with a random port."""

    __test__ = False  # not a pytest test class

    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[Recorded] = []
        self._routes: dict[str, Callable[[Recorded], Reply]] = {"/echo": _echo}
        self._lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _handle(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                rec = Recorded(
                    method=self.command,
                    path=split.path,
                    query=dict(parse_qsl(split.query, keep_blank_values=True)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                with server._lock:
                    server.requests.append(rec)
                    server.active += 1
                    server.max_active = max(server.max_active, server.active)
                try:
                    fn = server._routes.get(split.path)
                    reply = fn(rec) if fn else _reply(status=404, text="no such route")
                    if reply.delay:
                        time.sleep(reply.delay)
                    self._write(reply)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                finally:
                    with server._lock:
                        server.active -= 1

            def _write(self, reply: Reply) -> None:
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                if reply.stream_bytes:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    chunk = b"x" * 65536
                    sent = 0
                    self._chunk(reply.body)
                    while sent < reply.stream_bytes:
                        part = chunk[: reply.stream_bytes - sent]
                        self._chunk(part)
                        sent += len(part)
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(reply.body)

            def _chunk(self, data: bytes) -> None:
                if data:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

            def handle_error(self, request, client_address) -> None:
                pass  # clients that hang up early (size cap, timeout tests) are expected here

        self._httpd = Server(("127.0.0.1", 0), Handler)
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="test-http", daemon=True
        )

    def route(self, path: str, handler: Callable[[Recorded], Reply] | None = None, **reply) -> None:
        """Answer ``path`` with ``handler(request)`` or with a fixed reply (see ``_reply`` for the keywords)."""
        fixed = _reply(**reply) if handler is None else None
        self._routes[path] = handler or (lambda _req: fixed)

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def paths(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests]

    def start(self) -> TestServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> TestServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
