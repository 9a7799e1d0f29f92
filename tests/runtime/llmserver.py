"""A real OpenAI-compatible chat-completions server on 127.0.0.1 for tests: scripted turns, every request recorded.

    with FakeLLM() as fake:
        fake.reply(text="Hello there", usage=(12, 3))
        fake.reply(tool_calls=[{"name": "lookup", "arguments": {"q": "x"}}])
        fake.fail(429, headers={"Retry-After": "2"})
        fake.respond(lambda req: Turn(text=req.messages[-1]["content"]))  # decided when the request arrives
        fake.base_url           # http://127.0.0.1:<port>/v1
        fake.requests           # [LlmRequest(method, path, headers, body, json), ...]

Each POST to ``/v1/chat/completions`` takes the next scripted turn, in order. It streams when the request says
``"stream": true`` (SSE, one event per HTTP chunk: a role chunk, the text word by word, each tool call's name
and then its arguments in three parts, a finish chunk, a usage chunk if ``stream_options.include_usage``, then
``[DONE]``) and answers one JSON document otherwise. With no turn left it answers 500 saying so.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PATH = "/v1/chat/completions"


@dataclass
class LlmRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    json: Any  # the parsed body, None if it was not JSON

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def messages(self) -> list[dict]:
        return self.json.get("messages", []) if isinstance(self.json, dict) else []

    @property
    def stream(self) -> bool:
        return isinstance(self.json, dict) and self.json.get("stream") is True


@dataclass
class Turn:
    """One scripted answer: a completion (text and/or tool calls) or, with ``body``, a raw HTTP answer."""

    text: str | None = None
    tool_calls: list[dict] = field(default_factory=list)  # {"name", "arguments": object or raw string, "id"?}
    usage: tuple[int, int] | None = (10, 5)  # (prompt, completion) tokens; None: not reported
    finish_reason: str | None = None  # default: "tool_calls" when there are tool calls, else "stop"
    model: str | None = None  # default: the request's model
    pieces: list[str] | None = None  # the text's stream chunks; default: word by word
    delay: float = 0.0  # seconds before the status line
    chunk_delay: float = 0.0  # seconds between stream events
    ignore_stream: bool = False  # answer one JSON document even when asked to stream
    truncate: bool = False  # end the stream after the content: no finish chunk, no usage, no [DONE]
    status: int = 200
    body: bytes | None = None  # a raw answer, sent as is with ``headers``
    headers: dict[str, str] = field(default_factory=dict)


Script = Callable[[LlmRequest], Turn]


def _call_args(call: dict) -> str:
    args = call.get("arguments", {})
    return args if isinstance(args, str) else json.dumps(args)


def _thirds(text: str) -> list[str]:
    step = max(1, -(-len(text) // 3))
    return [text[i : i + step] for i in range(0, len(text), step)] or [""]


class FakeLLM:
    """A threaded ``http.server`` on 127.0.0.1 with a random port, speaking OpenAI's chat completions."""

    def __init__(self) -> None:
        self.requests: list[LlmRequest] = []
        self._script: deque[Script] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                try:
                    doc = json.loads(body) if body else None
                except ValueError:
                    doc = None
                headers = {k.lower(): v for k, v in self.headers.items()}
                rec = LlmRequest(method=self.command, path=self.path, headers=headers, body=body, json=doc)
                try:
                    self._answer(fake._turn(rec), rec)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client hung up (size cap, timeout): expected

            def _answer(self, turn: Turn, rec: LlmRequest) -> None:
                if turn.delay and fake._closing.wait(turn.delay):
                    return
                if turn.body is not None:
                    self._send(turn.status, turn.body, turn.headers)
                elif rec.stream and not turn.ignore_stream:
                    self._stream(turn, rec)
                else:
                    self._send(200, json.dumps(fake._completion(turn, rec)).encode(), turn.headers)

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                if not any(k.lower() == "content-type" for k in headers):
                    self.send_header("Content-Type", "application/json")
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _stream(self, turn: Turn, rec: LlmRequest) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                for k, v in turn.headers.items():
                    self.send_header(k, v)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for event in fake._events(turn, rec):
                    if turn.chunk_delay and fake._closing.wait(turn.chunk_delay):
                        return
                    data = b"data: " + event.encode() + b"\n\n"
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.write(b"0\r\n\r\n")

            do_GET = do_POST = _handle

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

            def handle_error(self, request, client_address) -> None:
                pass

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-llm", daemon=True
        )

    # -- scripting -------------------------------------------------------------------------------------------

    def reply(
        self,
        text: str | None = None,
        *,
        tool_calls: list[dict] | None = None,
        usage: tuple[int, int] | None = (10, 5),
        **options: Any,
    ) -> None:
        """Queue a completion; ``options`` are the other ``Turn`` fields (delay, pieces, finish_reason, ...)."""
        turn = Turn(text=text, tool_calls=list(tool_calls or []), usage=usage, **options)
        self.respond(lambda _req: turn)

    def fail(self, status: int, body: Any = None, headers: dict[str, str] | None = None, *, delay: float = 0.0) -> None:
        """Queue an error answer: ``body`` as JSON, or bytes/str as is (Content-Type application/json unless
        ``headers`` say otherwise); by default OpenAI's ``{"error": {"message": ...}}``."""
        if body is None:
            body = {"error": {"message": f"scripted failure: HTTP {status}", "type": "fake_error", "code": None}}
        raw = body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.raw(raw, status=status, headers=headers, delay=delay)

    def raw(
        self, body: bytes | str, *, status: int = 200, headers: dict[str, str] | None = None, delay: float = 0.0
    ) -> None:
        """Queue an answer sent exactly as given (a malformed stream, a redirect, an HTML error page)."""
        data = body.encode() if isinstance(body, str) else body
        turn = Turn(status=status, body=data, headers=dict(headers or {}), delay=delay)
        self.respond(lambda _req: turn)

    def respond(self, script: Script) -> None:
        """Queue a turn decided when its request arrives (echo the prompt, check the tools offered...)."""
        with self._lock:
            self._script.append(script)

    @property
    def pending(self) -> int:
        """Scripted turns not yet used."""
        with self._lock:
            return len(self._script)

    @property
    def last(self) -> LlmRequest:
        return self.requests[-1]

    # -- answers ---------------------------------------------------------------------------------------------

    def _turn(self, rec: LlmRequest) -> Turn:
        with self._lock:
            self.requests.append(rec)
            number = len(self.requests)
            routed = rec.path == PATH and rec.method == "POST"
            script = self._script.popleft() if self._script and routed else None
        if not routed:
            return self._error(404, f"FakeLLM: no route {rec.method} {rec.path}; only POST {PATH}")
        if script is None:
            return self._error(
                500,
                f"FakeLLM: no turn was scripted for request {number} (POST {PATH}); "
                "script one with fake.reply(...), fake.fail(...) or fake.respond(...)",
            )
        return script(rec)

    @staticmethod
    def _error(status: int, message: str) -> Turn:
        return Turn(status=status, body=json.dumps({"error": {"message": message, "type": "fake_llm"}}).encode())

    @staticmethod
    def _model(turn: Turn, rec: LlmRequest) -> str:
        return turn.model or (rec.json or {}).get("model") or "fake-model"

    @staticmethod
    def _finish(turn: Turn) -> str:
        return turn.finish_reason or ("tool_calls" if turn.tool_calls else "stop")

    @staticmethod
    def _usage(turn: Turn) -> dict[str, int] | None:
        if turn.usage is None:
            return None
        prompt, completion = turn.usage
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _completion(self, turn: Turn, rec: LlmRequest) -> dict:
        message: dict[str, Any] = {"role": "assistant", "content": turn.text}
        if turn.tool_calls:
            message["tool_calls"] = [
                {
                    "id": c.get("id", f"call_{i}"),
                    "type": "function",
                    "function": {"name": c["name"], "arguments": _call_args(c)},
                }
                for i, c in enumerate(turn.tool_calls)
            ]
        doc: dict[str, Any] = {
            "id": f"chatcmpl-fake-{len(self.requests)}",
            "object": "chat.completion",
            "created": 0,
            "model": self._model(turn, rec),
            "choices": [{"index": 0, "message": message, "finish_reason": self._finish(turn)}],
        }
        if turn.usage is not None:
            doc["usage"] = self._usage(turn)
        return doc

    def _events(self, turn: Turn, rec: LlmRequest) -> list[str]:
        options = (rec.json or {}).get("stream_options") or {}
        with_usage = options.get("include_usage") is True
        base = {"id": f"chatcmpl-fake-{len(self.requests)}", "object": "chat.completion.chunk", "created": 0}
        base["model"] = self._model(turn, rec)

        def chunk(delta: dict, finish: str | None = None) -> str:
            doc = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            if with_usage:
                doc["usage"] = None  # as OpenAI does until the last chunk
            return json.dumps(doc)

        events = [chunk({"role": "assistant", "content": ""})]
        pieces = turn.pieces if turn.pieces is not None else re.findall(r"\S+\s*|\s+", turn.text or "")
        events += [chunk({"content": p}) for p in pieces]
        for i, call in enumerate(turn.tool_calls):
            head = {"index": i, "id": call.get("id", f"call_{i}"), "type": "function"}
            events.append(chunk({"tool_calls": [{**head, "function": {"name": call["name"], "arguments": ""}}]}))
            for part in _thirds(_call_args(call)):
                events.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": part}}]}))
        if turn.truncate:
            return events
        events.append(chunk({}, self._finish(turn)))
        if with_usage and turn.usage is not None:
            events.append(json.dumps({**base, "choices": [], "usage": self._usage(turn)}))
        return [*events, "[DONE]"]

    # -- lifecycle -------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.url()

    def url(self, host: str = "127.0.0.1") -> str:
        """The base URL under ``host`` (a name a test's resolver maps to 127.0.0.1, say)."""
        return f"http://{host}:{self.port}/v1"

    def start(self) -> FakeLLM:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()  # delayed answers give up at once
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
