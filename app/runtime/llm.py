"""The world side of the ``llm.chat`` host function: an OpenAI-compatible chat-completions client.

``LlmClient.chat`` takes the guest's request document, POSTs it to ``{base_url}/chat/completions`` (OpenAI,
Ollama, vLLM and compatible gateways) and returns ``{"ok": result}`` or ``{"err": ...}``; a failure is data,
never an exception. The host passes the API key; it goes into the ``Authorization`` header only and is
redacted from everything returned, streamed text included. Same guard as ``http.request``: granted hosts only,
checked addresses, no proxies from the environment, no cookies, no redirects, bounded response size.
"""

from __future__ import annotations

import json
import re
import ssl
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from app.runtime.http import HttpFailure, HttpPolicy, _cert_rejected, _is_json_type, check_grant, guarded_client
from app.runtime.netguard import Blocked, Resolver, system_resolver
from app.runtime.redact import Redactor, derived_forms

CAPABILITY = "llm.chat"
KEY_NAME = "LLM_API_KEY"  # the label redacted keys show as: [secret:LLM_API_KEY]
ROLES = ("system", "developer", "user", "assistant", "tool")
REQUEST_FIELDS = frozenset(
    "base_url model messages tools max_tokens temperature response_format stream timeout_seconds".split()
)
MESSAGE_FIELDS = frozenset({"role", "content", "name", "tool_calls", "tool_call_id"})
DEFAULT_TIMEOUT = 120.0  # a long answer takes longer than http.request's 30 s default; still capped by policy
MAX_PROVIDER_MESSAGE = 500  # characters of a provider's error message kept in ours
MAX_ERROR_BODY = 64 * 1024  # bytes of an error response read to find that message
_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # OpenAI's rule for function names
_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}

OnDelta = Callable[[str], None]


def _invalid(field: str, message: str) -> HttpFailure:
    return HttpFailure("invalid_request", f"{field} {message}", details={"field": field})


def _bad_response(host: str, message: str) -> HttpFailure:
    return HttpFailure("invalid_response", f"the answer from {host!r} is malformed: {message}")


def _timed_out(host: str, timeout: float) -> HttpFailure:
    return HttpFailure(
        "timeout",
        f"{CAPABILITY} to host {host!r} took longer than {timeout:g} seconds",
        retriable=True,
        details={"timeout_seconds": timeout},
    )


def _summary(text: str, redactor: Redactor, limit: int = MAX_PROVIDER_MESSAGE) -> str:
    """Provider text for a message of ours: redacted before it is cut, as a cut through the key would leave a
    prefix the redactor no longer matches."""
    text = redactor.redact_text(text)
    return text if len(text) <= limit else text[:limit] + "..."


def _provider_failure(host: str, body: bytes, redactor: Redactor) -> HttpFailure:
    """An error document in a 200 answer or in the stream: the provider failed while answering."""
    message, code = _provider_error(body)
    return HttpFailure(
        "provider_error",
        f"{CAPABILITY} to host {host!r} failed while answering: {_summary(message, redactor)}",
        retriable=True,
        details={"provider_code": _summary(code, redactor, 100)} if code else None,
    )


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), "a number")


@dataclass(frozen=True)
class _Prepared:
    url: httpx.URL
    body: dict[str, Any]
    stream: bool
    timeout: float


def _prepare(req: Any, policy: HttpPolicy) -> _Prepared:
    """The validated OpenAI request body; ``invalid_request`` names the first bad field."""
    if not isinstance(req, Mapping):
        raise _invalid("request", "must be an object")
    for name in req:
        if name not in REQUEST_FIELDS:
            raise _invalid(str(name), f"is not a request field; known: {', '.join(sorted(REQUEST_FIELDS))}")
    url = _endpoint(req.get("base_url"))
    model = req.get("model")
    if not isinstance(model, str) or not model.strip():
        raise _invalid("model", "must be a non-empty string")
    messages = req.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _invalid("messages", "must be a non-empty list")
    stream = req.get("stream", True)
    if not isinstance(stream, bool):
        raise _invalid("stream", "must be true or false")
    body: dict[str, Any] = {"model": model, "messages": [_message(i, m) for i, m in enumerate(messages)]}
    if req.get("tools"):
        body["tools"] = _tools(req["tools"])
    if req.get("max_tokens") is not None:
        n = req["max_tokens"]
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise _invalid("max_tokens", f"must be a positive integer, not {n!r}")
        body["max_tokens"] = n
    if req.get("temperature") is not None:
        t = req["temperature"]
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t <= 2:
            raise _invalid("temperature", f"must be a number from 0 to 2, not {t!r}")
        body["temperature"] = t
    if req.get("response_format") is not None:
        if not isinstance(req["response_format"], Mapping):
            raise _invalid("response_format", "must be an object")
        body["response_format"] = req["response_format"]
    body["stream"] = stream
    if stream:
        body["stream_options"] = {"include_usage": True}
    return _Prepared(url=url, body=body, stream=stream, timeout=_timeout(req.get("timeout_seconds"), policy))


def _endpoint(raw: Any) -> httpx.URL:
    if not isinstance(raw, str) or not raw:
        raise _invalid("base_url", "must be a non-empty string")
    try:
        url = httpx.URL(raw)
    except httpx.InvalidURL as exc:
        raise _invalid("base_url", f"{raw!r} is not valid: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise _invalid("base_url", f"{raw!r} must be an absolute http:// or https:// URL")
    if url.userinfo:
        raise _invalid("base_url", "must not carry credentials: the API key comes from the node's secret")
    if url.query or url.fragment:
        raise _invalid("base_url", f"{raw!r} must not have a query or fragment")
    return url.copy_with(path=url.path.rstrip("/") + "/chat/completions")


def _timeout(raw: Any, policy: HttpPolicy) -> float:
    if raw is None:
        return min(DEFAULT_TIMEOUT, policy.max_timeout)
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or raw <= 0:
        raise _invalid("timeout_seconds", f"must be a positive number, not {raw!r}")
    return min(float(raw), policy.max_timeout)


def _message(i: int, m: Any) -> dict[str, Any]:
    where = f"messages[{i}]"
    if not isinstance(m, Mapping):
        raise _invalid(where, "must be an object")
    for name in m:
        if name not in MESSAGE_FIELDS:
            raise _invalid(f"{where}.{name}", "is not a message field")
    role = m.get("role")
    if role not in ROLES:
        raise _invalid(f"{where}.role", f"must be one of {', '.join(ROLES)}, not {role!r}")
    out: dict[str, Any] = {"role": role}
    content, calls = m.get("content"), m.get("tool_calls")
    if content is None and not (role == "assistant" and calls):
        raise _invalid(f"{where}.content", "is required (only an assistant message with tool_calls may omit it)")
    if content is not None and not isinstance(content, (str, list)):
        raise _invalid(f"{where}.content", "must be a string or a list of content parts")
    if isinstance(content, list) and not all(isinstance(part, Mapping) for part in content):
        raise _invalid(f"{where}.content", "parts must be objects")
    out["content"] = content
    if m.get("name") is not None:
        if not isinstance(m["name"], str):
            raise _invalid(f"{where}.name", "must be a string")
        out["name"] = m["name"]
    if calls:
        if role != "assistant" or not isinstance(calls, list):
            raise _invalid(f"{where}.tool_calls", "must be a list, on an assistant message only")
        out["tool_calls"] = [_call_out(f"{where}.tool_calls[{j}]", c) for j, c in enumerate(calls)]
    if role == "tool":
        call_id = m.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise _invalid(f"{where}.tool_call_id", "must name the tool call this message answers")
        out["tool_call_id"] = call_id
    elif m.get("tool_call_id") is not None:
        raise _invalid(f"{where}.tool_call_id", "belongs on a tool message only")
    return out


def _call_out(where: str, c: Any) -> dict[str, Any]:
    """A tool call of an earlier answer, in OpenAI's form; takes OpenAI's form or this module's result form."""
    if not isinstance(c, Mapping):
        raise _invalid(where, "must be an object")
    call_id = c.get("id")
    if not isinstance(call_id, str) or not call_id:
        raise _invalid(f"{where}.id", "must be a non-empty string")
    fn = c.get("function") if "function" in c else c
    if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str) or not fn["name"]:
        raise _invalid(f"{where}.name", "must be a non-empty string")
    if "arguments_text" in fn:  # arguments the model got wrong go back verbatim, with our error beside them
        args = fn["arguments_text"]
    else:
        args = fn.get("arguments", {})
    if isinstance(args, Mapping):
        args = json.dumps(args, ensure_ascii=False, separators=(",", ":"))
    if not isinstance(args, str):
        raise _invalid(f"{where}.arguments", "must be an object or a JSON string")
    return {"id": call_id, "type": "function", "function": {"name": fn["name"], "arguments": args}}


def _tools(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise _invalid("tools", "must be a list of {name, description, parameters}")
    out, seen = [], set()
    for i, tool in enumerate(raw):
        where = f"tools[{i}]"
        if isinstance(tool, Mapping) and tool.get("type") == "function":  # already in OpenAI's form
            tool = tool.get("function")
        if not isinstance(tool, Mapping):
            raise _invalid(where, "must be an object")
        name = tool.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.fullmatch(name):
            raise _invalid(f"{where}.name", f"must be 1-64 letters, digits, '_' or '-', not {name!r}")
        if name in seen:
            raise _invalid(f"{where}.name", f"{name!r} is declared twice")
        seen.add(name)
        fn: dict[str, Any] = {"name": name}
        description = tool.get("description")
        if description is not None and not isinstance(description, str):
            raise _invalid(f"{where}.description", "must be a string")
        if description:
            fn["description"] = description
        params = tool.get("parameters", {"type": "object", "properties": {}})
        if not isinstance(params, Mapping):
            raise _invalid(f"{where}.parameters", "must be a JSON Schema object")
        fn["parameters"] = params
        out.append({"type": "function", "function": fn})
    return out


class _SseEvents:
    """Splits a server-sent-events byte stream into the ``data`` of each event (multi-line data joined)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[str]:
        if b"\n" not in chunk:
            self._buf += chunk
            return []
        self._buf += chunk
        *lines, rest = self._buf.split(b"\n")
        self._buf = bytearray(rest)
        out: list[str] = []
        for line in lines:
            self._line(line.rstrip(b"\r"), out)
        return out

    def close(self) -> list[str]:
        out: list[str] = []
        if self._buf:
            self._line(bytes(self._buf).rstrip(b"\r"), out)
        self._line(b"", out)
        return out

    def _line(self, line: bytes, out: list[str]) -> None:
        if not line:
            if self._data:
                out.append("\n".join(self._data))
                self._data = []
        elif not line.startswith(b":"):  # ":" starts a comment (keep-alives)
            name, _, value = line.partition(b":")
            if name == b"data":
                self._data.append(value.removeprefix(b" ").decode("utf-8", errors="replace"))


class _Emitter:
    """Hands text pieces to ``on_delta`` with the key redacted. With a key, the tail that could still become a
    key split across pieces is held back until it cannot (or the answer ends), so pieces may be regrouped."""

    def __init__(self, on_delta: OnDelta | None, redactor: Redactor, tokens: list[str]):
        self._on, self._redactor, self._tokens = on_delta, redactor, tokens
        self._hold = max((len(t) for t in tokens), default=1) - 1
        self._pending = ""

    def push(self, piece: str) -> None:
        if self._on is None or not piece:
            return
        if not self._tokens:
            self._on(piece)
            return
        text = self._pending + piece
        cut, moved = len(text) - self._hold, True
        while moved and cut > 0:  # never cut through a whole token: emit it redacted next time
            moved = False
            for t in self._tokens:
                start = text.find(t, max(0, cut - len(t) + 1), cut + len(t) - 1)
                if 0 <= start < cut:
                    cut, moved = start, True
        if cut <= 0:
            self._pending = text
            return
        self._pending = text[cut:]
        self._on(self._redactor.redact_text(text[:cut]))

    def finish(self, rest: str = "") -> None:
        """The answer is complete: hand over what was held back, and ``rest``, in one piece."""
        text, self._pending = self._pending + rest, ""
        if self._on is not None and text:
            self._on(self._redactor.redact_text(text))


def _text(content: Any) -> str | None:
    """Message content as text; some gateways answer with a list of ``{"type": "text", "text": ...}`` parts."""
    if isinstance(content, list):
        return "".join(p["text"] for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str))
    return content if isinstance(content, str) else None


def _tool_call(i: int, call_id: Any, name: Any, args: Any, host: str) -> dict[str, Any]:
    if not isinstance(name, str) or not name:
        raise _bad_response(host, f"tool call {i} has no function name")
    out: dict[str, Any] = {"id": call_id if isinstance(call_id, str) and call_id else f"call_{i}", "name": name}
    if isinstance(args, Mapping):  # a few servers send the object itself
        out["arguments"] = dict(args)
        return out
    text = args if isinstance(args, str) else ""
    if not text.strip():  # some servers send "" for a call without parameters
        out["arguments"] = {}
        return out
    try:
        value = json.loads(text)
    except ValueError as exc:
        error = f"the arguments are not valid JSON: {exc}"
    else:
        if isinstance(value, dict):
            out["arguments"] = value
            return out
        error = f"the arguments must be a JSON object, not {_json_type(value)}"
    out["arguments_text"], out["arguments_error"] = text, error
    return out


def _usage(raw: Any) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        tokens_in, tokens_out = raw.get("prompt_tokens"), raw.get("completion_tokens")
        if all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (tokens_in, tokens_out)):
            return {"input_tokens": tokens_in, "output_tokens": tokens_out}
    return {"input_tokens": 0, "output_tokens": 0, "usage_reported": False}


def _result(
    model: Any, fallback_model: str, content: str | None, calls: list[dict], finish: Any, usage: Any
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content or (None if calls else ""), "tool_calls": calls}
    return {
        "model": model if isinstance(model, str) and model else fallback_model,
        "message": message,
        "finish_reason": finish if isinstance(finish, str) else None,
        "usage": _usage(usage),
    }


def _provider_error(body: bytes) -> tuple[str, str | None]:
    """The message and code in an error body: OpenAI's ``{"error": {"message", "code"}}`` and common variants."""
    try:
        doc = json.loads(body)
    except ValueError:
        return body.decode("utf-8", errors="replace").strip(), None
    err = doc.get("error", doc) if isinstance(doc, Mapping) else doc
    if isinstance(err, str):
        return err, None
    if not isinstance(err, Mapping):
        return json.dumps(doc, ensure_ascii=False), None
    message = err.get("message") or err.get("detail") or ""
    code = err.get("code") or err.get("type")
    return (message if isinstance(message, str) else json.dumps(message)), (str(code) if code else None)


def _retry_after(headers: httpx.Headers) -> float | None:
    try:
        if ms := headers.get("retry-after-ms"):
            return max(0.0, float(ms) / 1000)
        raw = headers.get("retry-after")
        if not raw:
            return None
        try:
            return max(0.0, float(raw))
        except ValueError:
            return max(0.0, (parsedate_to_datetime(raw) - datetime.now(UTC)).total_seconds())
    except (ValueError, TypeError):
        return None


class _Answer:
    """Accumulates a streamed answer: content pieces, and tool calls by ``index`` (arguments concatenated)."""

    def __init__(self, emit: _Emitter, host: str, redactor: Redactor):
        self.emit, self.host, self.redactor = emit, host, redactor
        self.parts: list[str] = []
        self.calls: dict[int, dict[str, str]] = {}
        self.model: Any = None
        self.finish: Any = None
        self.usage: Any = None
        self.done = False

    def event(self, data: str) -> None:
        if data.strip() == "[DONE]":
            self.done = True
            return
        try:
            doc = json.loads(data)
        except ValueError:
            raise _bad_response(
                self.host, f"a stream event is not JSON: {_summary(data, self.redactor, 200)!r}"
            ) from None
        if isinstance(doc, Mapping) and doc.get("error"):
            raise _provider_failure(self.host, data.encode(), self.redactor)
        if not isinstance(doc, Mapping) or not isinstance(doc.get("choices") or [], list):
            raise _bad_response(self.host, "a stream event is not a chat.completion.chunk")
        self.model = self.model or doc.get("model")
        self.usage = doc.get("usage") or self.usage
        for choice in doc.get("choices") or []:
            if not isinstance(choice, Mapping) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if not isinstance(delta, Mapping):
                raise _bad_response(self.host, "a stream event's delta is not an object")
            piece = _text(delta.get("content"))
            if piece:
                self.parts.append(piece)
                self.emit.push(piece)
            for tc in delta.get("tool_calls") or []:
                if isinstance(tc, Mapping):
                    self._tool_delta(tc)
            self.finish = choice.get("finish_reason") or self.finish

    def _tool_delta(self, tc: Mapping) -> None:
        index = tc.get("index")
        if not isinstance(index, int):  # servers that omit it send each call whole, or continue the last one
            known = {c["id"] for c in self.calls.values()}
            index = len(self.calls) if (tc.get("id") and tc["id"] not in known) or not self.calls else max(self.calls)
        call = self.calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
        fn = tc.get("function") if isinstance(tc.get("function"), Mapping) else {}
        if isinstance(tc.get("id"), str) and not call["id"]:
            call["id"] = tc["id"]
        name = fn.get("name")
        if isinstance(name, str) and name != call["name"]:  # some servers repeat the name in every chunk
            call["name"] += name
        args = fn.get("arguments")
        if isinstance(args, Mapping):
            args = json.dumps(args)
        if isinstance(args, str):
            call["arguments"] += args

    def result(self, fallback_model: str) -> dict[str, Any]:
        calls = [_tool_call(i, c["id"], c["name"], c["arguments"], self.host) for i, c in sorted(self.calls.items())]
        return _result(self.model, fallback_model, "".join(self.parts), calls, self.finish, self.usage)


class LlmClient:
    """Chat completions against OpenAI-compatible servers; one pooled ``httpx.Client`` per instance."""

    def __init__(
        self,
        policy: HttpPolicy | None = None,
        *,
        resolver: Resolver = system_resolver,
        ssl_context: ssl.SSLContext | None = None,
    ):
        """``resolver`` and ``ssl_context`` (trusted CAs) are for tests and private CAs; defaults are the system's."""
        self.policy = policy or HttpPolicy()
        # no redirects: a provider has no business redirecting a completion (see _status_failure)
        self.backend, self._client = guarded_client(self.policy, resolver=resolver, ssl_context=ssl_context)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> LlmClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def chat(
        self,
        request: dict,
        *,
        api_key: str | None,
        granted_hosts: Collection[str],
        on_delta: OnDelta | None = None,
    ) -> dict:
        """``{"ok": {model, message, finish_reason, usage}}`` or ``{"err": {code, message, retriable, details?}}``.

        ``on_delta`` gets the answer's text as it arrives (once, whole, from a non-streaming server); an
        exception it raises stops the call and propagates.
        """
        key = api_key or None
        redactor = Redactor({KEY_NAME: key} if key else None)
        emit = _Emitter(on_delta, redactor, [key, *derived_forms(key)] if key else [])
        granted = tuple(sorted({h.lower().rstrip(".") for h in granted_hosts}))
        try:
            return redactor.redact({"ok": self._chat(request, key, granted, emit, redactor)})
        except HttpFailure as exc:
            return {"err": redactor.redact(exc.to_dict())}
        except httpx.HTTPError as exc:  # anything httpx raised that _chat did not classify
            return {"err": redactor.redact({"code": "network_error", "message": str(exc), "retriable": True})}

    def _chat(
        self, req: Any, key: str | None, granted: tuple[str, ...], emit: _Emitter, redactor: Redactor
    ) -> dict[str, Any]:
        prepared = _prepare(req, self.policy)
        url = prepared.url
        check_grant(url, granted, CAPABILITY, fix="the host in the node's base_url")
        headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if prepared.stream else "application/json",
        }
        if key:
            if not key.isascii() or any(c in key for c in "\r\n\0"):
                raise HttpFailure(
                    "invalid_secret", "the API key cannot go into a header: it has a line break or non-ASCII text"
                )
            headers["Authorization"] = f"Bearer {key}"
        content = json.dumps(prepared.body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        deadline = time.monotonic() + prepared.timeout
        request = self._client.build_request(
            "POST", url, headers=headers, content=content, timeout=httpx.Timeout(prepared.timeout)
        )
        try:
            response = self._client.send(request, stream=True)
        except Blocked:
            raise HttpFailure(
                "address_blocked",
                f"{CAPABILITY} to host {url.host!r} refused: it resolves to an internal or reserved address; "
                "an operator can allow networks (a local model server, say) with WASMFLOW_HTTP_ALLOW_NETWORKS",
                details={"host": url.host},
            ) from None
        except httpx.TimeoutException:
            raise _timed_out(url.host, prepared.timeout) from None
        except httpx.TransportError as exc:
            if _cert_rejected(exc):  # retrying will not change the certificate
                raise HttpFailure("tls_error", f"{CAPABILITY} to host {url.host!r} failed: {exc}") from None
            raise HttpFailure(
                "network_error", f"{CAPABILITY} to host {url.host!r} failed: {exc}", retriable=True
            ) from None
        try:
            chunks = self._chunks(response, deadline, prepared.timeout)
            if not 200 <= response.status_code < 300:
                raise self._status_failure(response, self._read(chunks, MAX_ERROR_BODY, cut_off=False), redactor)
            model = prepared.body["model"]
            media = response.headers.get("content-type", "")
            if _is_json_type(media) or (not prepared.stream and "event-stream" not in media):
                data = self._read(chunks, self.policy.max_response_bytes)
                return self._whole(data, url.host, model, emit, redactor)
            return self._streamed(chunks, url.host, model, emit, redactor)
        finally:
            response.close()

    @staticmethod
    def _chunks(response: httpx.Response, deadline: float, timeout: float) -> Iterator[bytes]:
        """The body's bytes as they arrive; the call's deadline covers the whole answer, not each read."""
        host = response.url.host
        try:
            for chunk in response.iter_bytes():
                yield chunk
                if time.monotonic() > deadline:
                    raise _timed_out(host, timeout)
        except httpx.TimeoutException:
            raise _timed_out(host, timeout) from None
        except httpx.DecodingError as exc:
            raise _bad_response(host, str(exc)) from None
        except httpx.TransportError as exc:
            raise HttpFailure(
                "network_error", f"reading the answer from {host!r} failed: {exc}", retriable=True
            ) from None

    def _too_large(self) -> HttpFailure:
        cap = self.policy.max_response_bytes
        return HttpFailure("response_too_large", f"the answer is larger than {cap} bytes", details={"limit_bytes": cap})

    def _read(self, chunks: Iterator[bytes], limit: int, *, cut_off: bool = True) -> bytes:
        """Up to ``limit`` bytes; more is ``response_too_large`` unless ``cut_off`` is false (then it is dropped)."""
        data = bytearray()
        for chunk in chunks:
            data += chunk
            if len(data) > limit:
                if cut_off:
                    raise self._too_large()
                return bytes(data[:limit])
        return bytes(data)

    def _streamed(
        self, chunks: Iterator[bytes], host: str, model: str, emit: _Emitter, redactor: Redactor
    ) -> dict[str, Any]:
        answer, events, size = _Answer(emit, host, redactor), _SseEvents(), 0
        for chunk in chunks:
            size += len(chunk)
            if size > self.policy.max_response_bytes:
                raise self._too_large()
            for data in events.feed(chunk):
                answer.event(data)
                if answer.done:
                    break
            if answer.done:
                break
        else:
            for data in events.close():
                answer.event(data)
        if not answer.done and answer.finish is None:
            raise HttpFailure(
                "network_error", f"the stream from {host!r} ended before the answer was complete", retriable=True
            )
        result = answer.result(model)
        emit.finish()
        return result

    @staticmethod
    def _whole(data: bytes, host: str, model: str, emit: _Emitter, redactor: Redactor) -> dict[str, Any]:
        try:
            doc = json.loads(data)
        except ValueError as exc:
            raise _bad_response(host, f"not JSON: {exc}") from None
        if isinstance(doc, Mapping) and doc.get("error"):
            raise _provider_failure(host, data, redactor)
        choices = doc.get("choices") if isinstance(doc, Mapping) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
            raise _bad_response(host, "no choices")
        message = choices[0].get("message")
        if not isinstance(message, Mapping):
            raise _bad_response(host, "the choice has no message")
        raw_calls = message.get("tool_calls") or []
        if not isinstance(raw_calls, list):
            raise _bad_response(host, "tool_calls is not a list")
        calls = []
        for i, tc in enumerate(raw_calls):
            fn = tc.get("function") if isinstance(tc, Mapping) else None
            if not isinstance(fn, Mapping):
                raise _bad_response(host, f"tool call {i} has no function")
            calls.append(_tool_call(i, tc.get("id"), fn.get("name"), fn.get("arguments"), host))
        content = _text(message.get("content"))
        emit.finish(content or "")
        return _result(doc.get("model"), model, content, calls, choices[0].get("finish_reason"), doc.get("usage"))

    @staticmethod
    def _status_failure(response: httpx.Response, body: bytes, redactor: Redactor) -> HttpFailure:
        status, host = response.status_code, response.url.host
        said, provider_code = _provider_error(body)
        said = _summary(said, redactor)
        message = f"{CAPABILITY} to host {host!r} answered {status}" + (f": {said}" if said else "")
        details: dict[str, Any] = {"status": status}
        if provider_code:
            details["provider_code"] = _summary(provider_code, redactor, 100)
        if status in (401, 403):
            return HttpFailure("auth_failed", f"{message} (check the API key secret)", details=details)
        if status == 404:
            is_model = provider_code == "model_not_found" or "model" in said.lower()
            return HttpFailure("model_not_found" if is_model else "not_found", message, details=details)
        if status == 429:
            wait = _retry_after(response.headers)
            if wait is not None:
                details["retry_after_seconds"] = wait
            # OpenAI answers 429 for an exhausted quota too; waiting does not refill it.
            return HttpFailure(
                "rate_limited", message, retriable=provider_code != "insufficient_quota", details=details
            )
        if status >= 500:
            return HttpFailure("provider_error", message, retriable=True, details=details)
        if status == 408:
            return HttpFailure("timeout", message, retriable=True, details=details)
        if 300 <= status < 400:
            return HttpFailure(
                "invalid_response", f"{message}: a redirect, which {CAPABILITY} does not follow; fix base_url"
            )
        return HttpFailure("request_rejected", message, details=details)


def estimate_cost(usage: Mapping[str, Any], prices: Mapping[str, Any] | None) -> float | None:
    """USD for ``usage`` at ``prices`` (``input_per_million``, ``output_per_million``); None without prices."""
    if not prices:
        return None
    total = 0.0
    for tokens_key, price_key in (("input_tokens", "input_per_million"), ("output_tokens", "output_per_million")):
        price = prices.get(price_key, 0)
        if isinstance(price, bool) or not isinstance(price, (int, float)) or price < 0:
            raise ValueError(f"{price_key} must be a non-negative number, not {price!r}")
        tokens = usage.get(tokens_key) or 0
        total += tokens * price / 1_000_000
    return total
