"""Readable failures for what the sandbox does not offer.

The real boundary is ``componentize-py --stub-wasi``: clock, entropy, files and sockets trap inside the
component. A trap kills the run with an opaque message, so ``harden()`` (called once at module level of the
generated module, i.e. at build time, frozen into the snapshot) replaces the usual entry points with
functions raising ``SandboxViolation``: the node that called one fails with a message saying what to use.
"""

from __future__ import annotations

import builtins
import datetime
import os
import random
import sys
import time

from .errors import SandboxImportError, SandboxViolation
from .hostcall import log

_enabled = True
_hardened = False

_TIME = "use the clock.now capability or a wait node"
_RANDOM = "use the random.bytes capability"
_IO = "workflows reach the outside world only through nodes (http.request, kv, ...)"


def disable() -> None:
    """Make ``harden()`` a no-op: for host-side tests that import generated modules into the test process."""
    global _enabled
    _enabled = False


def _blocked(name: str, advice: str):
    def blocked(*args, **kwargs):
        raise SandboxViolation(f"{name}() is not available inside a workflow: {advice}")

    blocked.__name__ = name.rpartition(".")[2]
    blocked.__qualname__ = name
    return blocked


class _SandboxedDatetime(datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        raise SandboxViolation(f"datetime.now() is not available inside a workflow: {_TIME}")

    @classmethod
    def utcnow(cls):
        raise SandboxViolation(f"datetime.utcnow() is not available inside a workflow: {_TIME}")

    @classmethod
    def today(cls):
        raise SandboxViolation(f"datetime.today() is not available inside a workflow: {_TIME}")


def _patch(module, names: tuple, prefix: str, advice: str) -> None:
    for name in names:
        if hasattr(module, name):
            setattr(module, name, _blocked(f"{prefix}.{name}", advice))


class _ImportGate:
    """After hardening, importing a module that is not already loaded would read files (a trap under
    --stub-wasi): fail with a clear ImportError instead. Modules a workflow needs are loaded at build time."""

    @staticmethod
    def find_spec(fullname, path=None, target=None):
        raise SandboxImportError(
            f"module {fullname!r} is not available inside a workflow: a code block can import standard-library "
            "modules (they are loaded when the workflow is compiled); other modules do not exist here",
            name=fullname,
        )


def preload(modules) -> list[str]:
    """Import ``modules`` now (build time), so code blocks find them in the snapshot; returns those that failed
    (they fail on the node that imports them, with the ImportGate message)."""
    failed = []
    for name in modules:
        try:
            __import__(name)
        except Exception:
            failed.append(name)
    return failed


def _print(*args, sep=" ", end="\n", file=None, flush=False):
    """print() inside a workflow: there is no stdout (a write would trap), so the line goes to the run log."""
    log((" " if sep is None else sep).join(str(a) for a in args))


def harden() -> None:
    """Replace clock, entropy, file, socket and process entry points with clear SandboxViolation raisers."""
    global _hardened
    if not _enabled or _hardened:
        return
    _hardened = True
    _patch(
        time,
        (
            "time",
            "time_ns",
            "monotonic",
            "monotonic_ns",
            "perf_counter",
            "perf_counter_ns",
            "process_time",
            "process_time_ns",
            "sleep",
        ),
        "time",
        _TIME,
    )
    _patch(os, ("system", "popen", "fork", "execv", "execve", "spawnv", "spawnve", "posix_spawn"), "os", _IO)
    _patch(os, ("urandom", "getrandom"), "os", _RANDOM)
    _patch(
        random,
        (
            "random",
            "seed",
            "getrandbits",
            "randbytes",
            "randint",
            "randrange",
            "choice",
            "choices",
            "shuffle",
            "sample",
            "uniform",
            "gauss",
            "normalvariate",
            "triangular",
            "betavariate",
            "expovariate",
        ),
        "random",
        _RANDOM,
    )
    if hasattr(random, "_urandom"):  # SystemRandom (and so the secrets module) bound os.urandom at import
        random._urandom = _blocked("os.urandom", _RANDOM)
    builtins.open = _blocked("open", _IO)
    builtins.print = _print
    datetime.datetime = _SandboxedDatetime
    for modname, names in (
        ("socket", ("socket", "create_connection", "getaddrinfo", "gethostbyname")),
        ("subprocess", ("Popen", "run", "call", "check_call", "check_output", "getoutput", "getstatusoutput")),
    ):
        try:
            module = __import__(modname)
        except Exception:  # not built into this CPython (WASI): nothing to patch
            continue
        _patch(module, names, modname, _IO)
    sys.meta_path.insert(0, _ImportGate)
