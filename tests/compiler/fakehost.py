"""A fake wasmflow host for running generated guest modules on the host's CPython.

It stands in for the componentize-py bindings: a ``componentize_py_types`` module with ``Err`` and a
``wit_world`` package whose ``imports.<module>.call(request_json)`` dispatch to a ``FakeHost`` that records
every call and answers it from plain Python state (http from a handler, kv in a dict, a fixed clock,
deterministic random bytes, immediate timers, a canned approval decision).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
import types
from collections.abc import Callable
from pathlib import Path

from app import capabilities

ROOT = Path(__file__).resolve().parents[2]
GUEST_DIR = ROOT / "wasm_targets" / "guest"

if str(GUEST_DIR) not in sys.path:
    sys.path.insert(0, str(GUEST_DIR))

from wasmflow_guest import sandbox  # noqa: E402

# The test process must stay unpatched: generated modules call harden() at import.
sandbox.disable()


@dataclasses.dataclass(frozen=True)
class Err(Exception):  # same shape as componentize_py_types.Err
    value: object


class Refuse(Exception):
    """Raised by a fake handler to answer a call with err {"code", "message", "retriable"}."""

    def __init__(self, code: str, message: str = "", retriable: bool = False):
        super().__init__(message)
        self.doc = {"code": code, "message": message or code, "retriable": retriable}


def response(status: int = 200, body=None, headers: dict | None = None) -> dict:
    return {"status": status, "headers": headers or {"content-type": "application/json"}, "body": body}


class FakeHost:
    """Answers capability calls; ``calls`` is the ordered list of (capability, request) the guest made."""

    def __init__(
        self,
        *,
        http: Callable[[dict], dict] | None = None,
        kv: dict | None = None,
        approval: dict | None = None,
        workflows: dict | None = None,
        granted: set[str] | None = None,
        llm: Callable[[dict], dict] | None = None,
    ):
        self.http = http or (lambda req: response(200, {"echo": req["url"]}))
        self.kv: dict = dict(kv or {})
        self.approval = approval or {
            "approved": True,
            "decision": "approved",
            "by": "ann",
            "reason": "ok",
            "decided_at": "2026-11-21T10:05:00Z",
        }
        self.workflows = workflows or {}
        self.llm = llm  # llm.chat request -> response (a model turn), or raise Refuse
        self.granted = granted  # None = every capability importable
        self.calls: list[tuple[str, dict]] = []
        self.http_batches: list[int] = []
        self.random_counter = 0

    # -- capability handlers -------------------------------------------------------------------------
    def handle(self, capability: str, request: dict) -> dict:
        if capability == "http.request":
            self.http_batches.append(len(request["requests"]))
            out = []
            for one in request["requests"]:
                try:
                    out.append({"ok": self.http(one)})
                except Refuse as refusal:
                    out.append({"err": refusal.doc})
            return {"responses": out}
        if capability == "kv.get":
            key = (request["namespace"], request["key"])
            return {"found": key in self.kv, "value": self.kv.get(key)}
        if capability == "kv.set":
            self.kv[(request["namespace"], request["key"])] = request["value"]
            return {"key": request["key"], "value": request["value"]}
        if capability == "clock.now":
            return {"iso": "2026-11-21T10:00:00Z", "epoch_ms": 1795255200000}
        if capability == "random.bytes":
            self.random_counter += 1
            return {"hex": "80000000"[: 2 * request["n"]].ljust(2 * request["n"], "0")}
        if capability == "timer.wait":
            return {"waited_until": request.get("until") or f"+{request.get('seconds')}s"}
        if capability == "approval.request":
            return dict(self.approval)
        if capability == "workflow.call":
            child = self.workflows.get(request["workflow"])
            if child is None:
                raise Refuse("not_granted", f"workflow {request['workflow']!r} is not granted")
            return {"run_id": "child-1", "output": child(request.get("input"))}
        if capability == "llm.chat":
            if self.llm is None:
                raise Refuse("not_configured", "no llm handler")
            return self.llm(request)
        if capability in ("node.event", "log.write", "webhook.respond"):
            return {}
        raise Refuse("unknown_capability", capability)

    def _call(self, capability: str, request_json: str) -> str:
        request = json.loads(request_json)
        self.calls.append((capability, request))
        try:
            return json.dumps(self.handle(capability, request))
        except Refuse as refusal:
            raise Err(json.dumps(refusal.doc)) from None

    # -- inspection helpers --------------------------------------------------------------------------
    def of(self, capability: str) -> list[dict]:
        return [r for c, r in self.calls if c == capability]

    def events(self, node: str | None = None) -> list[tuple]:
        return [
            (r["node"], r["event"], r.get("attempt"))
            for r in self.of("node.event")
            if node is None or r["node"] == node
        ]

    # -- installing the bindings ---------------------------------------------------------------------
    def modules(self) -> dict[str, types.ModuleType]:
        """Fresh fake binding modules for sys.modules."""
        types_mod = types.ModuleType("componentize_py_types")
        types_mod.Err = Err
        world = types.ModuleType("wit_world")
        world.__path__ = []

        class WitWorld:  # the generated Protocol has just the abstract export
            def run(self, input: str) -> str:
                raise NotImplementedError

        world.WitWorld = WitWorld
        imports = types.ModuleType("wit_world.imports")
        imports.__path__ = []
        world.imports = imports
        mods = {"componentize_py_types": types_mod, "wit_world": world, "wit_world.imports": imports}
        for cap in capabilities.CAPABILITIES:
            if self.granted is not None and cap.name not in self.granted:
                continue
            mod = types.ModuleType(f"wit_world.imports.{cap.module}")
            mod.call = (lambda name: lambda request: self._call(name, request))(cap.name)
            setattr(imports, cap.module, mod)
            mods[mod.__name__] = mod
        return mods


def load_module(path: Path, name: str):
    """Import a generated module from ``path`` under a unique ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Harness:
    """Compile a document with the real code generator and run it against a FakeHost in this process."""

    def __init__(self, tmp_path: Path, monkeypatch):
        self.tmp_path = tmp_path
        self.monkeypatch = monkeypatch
        self.count = 0

    def load(self, doc: dict, host: FakeHost):
        from app.compiler.codegen import generate_guest_module

        for name, mod in host.modules().items():
            self.monkeypatch.setitem(sys.modules, name, mod)
        self.count += 1
        path = self.tmp_path / f"workflow_app_{self.count}.py"
        path.write_text(generate_guest_module(doc), encoding="utf-8")
        name = f"wasmflow_test_workflow_{id(self)}_{self.count}"
        self.monkeypatch.delitem(sys.modules, name, raising=False)
        return load_module(path, name)

    def run(self, doc: dict, run_input=None, host: FakeHost | None = None) -> dict:
        """The run result {"output", "nodes"}; fails the test if the run failed."""
        host = host if host is not None else FakeHost()
        module = self.load(doc, host)
        try:
            return json.loads(module.WitWorld().run(json.dumps(run_input)))
        except Err as err:
            raise AssertionError(f"run failed: {err.value}") from None

    def fail(self, doc: dict, run_input=None, host: FakeHost | None = None) -> dict:
        """The run error document; fails the test if the run succeeded."""
        host = host if host is not None else FakeHost()
        module = self.load(doc, host)
        try:
            result = module.WitWorld().run(json.dumps(run_input))
        except Err as err:
            return json.loads(err.value)
        raise AssertionError(f"run succeeded: {result}")


def workflow(nodes: list, edges: list, **extra) -> dict:
    """A document in loaded form from nodes and edges given as tuples (from, to) or (from, to, port)."""
    return {
        "dsl": "wasmflow/1",
        "name": extra.pop("name", "test-flow"),
        "nodes": nodes,
        "edges": [{"from": e[0], "to": e[1], "port": e[2] if len(e) > 2 else "out"} for e in edges],
        **extra,
    }


def node(id: str, type: str, **config) -> dict:
    extra = {k: config.pop(k) for k in ("on_error", "retry") if k in config}
    return {"id": id, "type": type, "config": config, **extra}
