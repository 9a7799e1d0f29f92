"""wasmflow guest runtime: the library that generated workflow modules call inside the component.

Pure Python, stdlib only, nothing run-specific at module level (module-level code is frozen into the
component snapshot at build time). Runs unchanged on the host's CPython for tests, with a fake
``wit_world`` package standing in for the componentize-py bindings.
"""

from .agent import Tool, agent
from .driver import Graph, Node, map_items, run_graph, run_workflow
from .errors import HostError, NodeError, NodeFailed, RunFailure, SandboxViolation
from .hostcall import Call, Gather, call_host, execute
from .program import compile_program, load_program, run_program
from .nodes import approval, fail, http_request, kv_get, kv_set, respond, status_expected, subflow, wait
from .retry import Retry
from .sandbox import harden, preload
from .templates import concat, text

__all__ = [
    "Call",
    "Tool",
    "agent",
    "Gather",
    "Graph",
    "HostError",
    "Node",
    "NodeError",
    "NodeFailed",
    "Retry",
    "RunFailure",
    "SandboxViolation",
    "approval",
    "call_host",
    "compile_program",
    "concat",
    "execute",
    "fail",
    "harden",
    "http_request",
    "kv_get",
    "kv_set",
    "load_program",
    "preload",
    "map_items",
    "respond",
    "run_graph",
    "run_program",
    "run_workflow",
    "status_expected",
    "subflow",
    "text",
    "wait",
]
