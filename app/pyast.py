"""``ast.parse`` behind one process-wide lock: every parse of user text and generated code goes through here.

CPython 3.11 keeps the bookkeeping of its AST-to-Python conversion (a recursion depth) in state shared by all
threads of the interpreter, so two threads parsing at once can fail with ``SystemError: AST constructor
recursion depth mismatch`` (python/cpython#106905; a threaded-application report, fixed in later releases).
The server parses in request threads (validating drafts on save) while its compile pool parses in its own
(codegen): a compile failed that way in the test suite. A parse takes microseconds to a few milliseconds, so
serializing them costs nothing measurable.
"""

from __future__ import annotations

import ast
import threading

_LOCK = threading.Lock()


def parse(source: str, mode: str = "exec") -> ast.AST:
    with _LOCK:
        return ast.parse(source, mode=mode)
