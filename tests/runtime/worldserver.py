"""The outside world of the examples as one real HTTP server on 127.0.0.1.

Workflows are *localized* for it: ``https://shop.example.com/api/orders`` becomes
``http://127.0.0.1:<port>/shop.example.com/api/orders``, and the server answers from the example's
scenario (tests/scenarios.py). It honours ``Idempotency-Key`` like a careful API: the first request with a
key applies its effect (counted in ``applied``) and stores the reply; a repeat gets the stored reply and
applies nothing. ``hold()`` keeps matching requests in flight (effect applied, reply not sent) so that a
test can kill the client at exactly that moment.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from typing import Any

from httpserver import Recorded, Reply, TestServer
from scenarios import SCENARIOS


class _AllPaths(dict):
    def __init__(self, handler):
        super().__init__()
        self.handler = handler

    def get(self, _path, _default=None):
        return self.handler


class WorldServer(TestServer):
    def __init__(self) -> None:
        super().__init__()
        self._routes = _AllPaths(self._world)
        self.scenario = None
        self.applied: dict[str, Recorded] = {}  # idempotency key -> the request that applied its effect
        self.effects: list[Recorded] = []  # every applied effect, in order (no key: always applied)
        self.replies: dict[str, Reply] = {}
        self.repeats: list[str] = []  # keys seen again
        self._hold: Callable[[Recorded], bool] | None = None
        self.held = threading.Event()  # set when a request is being held
        self.release = threading.Event()

    def use(self, name: str) -> WorldServer:
        with self._lock:
            self.scenario = SCENARIOS[name]
            self.applied.clear()
            self.effects.clear()
            self.replies.clear()
            self.repeats.clear()
            self.requests.clear()
            self._hold = None
            self.held.clear()
            self.release.clear()
        return self

    def hold(self, predicate: Callable[[Recorded], bool]) -> None:
        self.release.clear()
        self.held.clear()
        self._hold = predicate

    def _world(self, rec: Recorded) -> Reply:
        host, _, rest = rec.path.lstrip("/").partition("/")
        url = f"https://{host}/{rest}"
        if rec.method == "POST" and url.endswith("/chat/completions"):
            return self._model(rec)  # an agent's model: no side effect, not counted as one
        key = rec.header("idempotency-key")
        with self._lock:
            if key and key in self.replies:
                self.repeats.append(key)
                return self.replies[key]
        request = {"method": rec.method, "url": url, "body": json.loads(rec.body) if rec.body else None}
        answer = self.scenario.http(request)
        reply = Reply(
            status=answer["status"],
            headers={"Content-Type": "application/json"},
            body=json.dumps(answer["body"]).encode(),
        )
        with self._lock:
            if key:
                self.applied[key] = rec
                self.replies[key] = reply
            self.effects.append(rec)
            hold = self._hold is not None and self._hold(rec)
        if hold:
            self.held.set()
            self.release.wait(timeout=60)  # the client is killed meanwhile; this reply goes nowhere
        return reply

    def _model(self, rec: Recorded) -> Reply:
        """The scenario's scripted turn as an OpenAI chat completion (one JSON answer, also to a request that
        asked to stream: clients must take either)."""
        request = json.loads(rec.body)
        try:
            answer = self.scenario.llm(request)
        except Exception as exc:  # noqa: BLE001 - the script ran out: say so, as a provider would
            body = {"error": {"message": str(exc), "type": "world_server"}}
            return Reply(status=500, headers={"Content-Type": "application/json"}, body=json.dumps(body).encode())
        message = answer["message"]
        calls = [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])},
            }
            for c in message.get("tool_calls") or ()
        ]
        choice = {"role": "assistant", "content": message.get("content")}
        if calls:
            choice["tool_calls"] = calls
        usage = answer.get("usage") or {}
        body = {
            "id": "chatcmpl-world",
            "object": "chat.completion",
            "model": answer.get("model") or request.get("model"),
            "choices": [{"index": 0, "message": choice, "finish_reason": answer.get("finish_reason", "stop")}],
            "usage": {
                "prompt_tokens": usage.get("input_tokens", 0),
                "completion_tokens": usage.get("output_tokens", 0),
            },
        }
        return Reply(headers={"Content-Type": "application/json"}, body=json.dumps(body).encode())


def _local(url: str, base_url: str) -> str:
    return f"{base_url}/" + url[len("https://") :] if url.startswith("https://") else url


def localize(doc: dict, base_url: str) -> dict:
    """A copy of ``doc`` whose https URLs point at the world server (same paths, hosts as path prefix)."""
    doc = copy.deepcopy(doc)

    def walk(nodes: list[dict]) -> None:
        for node in nodes:
            config = node.get("config") or {}
            if node.get("type") == "http.request" and config.get("url", "").startswith("https://"):
                config["url"] = f"{base_url}/" + config["url"][len("https://") :]
            if node.get("type") == "agent":
                config["model"]["base_url"] = _local(config["model"]["base_url"], base_url)
                for tool in config.get("tools") or ():
                    if tool.get("http"):
                        tool["http"]["url"] = _local(tool["http"]["url"], base_url)
            if node.get("type") == "map":
                walk(config["body"]["nodes"])

    walk(doc["nodes"])
    return doc


def normalize(value: Any) -> Any:
    """Drop transport headers (Date, Server, Content-Length) from outputs so they compare across runs."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "headers" and isinstance(v, dict):
                out[k] = {h: x for h, x in v.items() if h == "content-type"}
            else:
                out[k] = normalize(v)
        return out
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return value
