"""The process-wide wasmtime engine and the smallest correct way to run a workflow component.

One ``Engine`` (epoch interruption on) serves every component in the process; precompiled components are
loaded with ``Component.deserialize_file`` (only bytes this server produced). ``instantiate_and_run`` grants
exactly the run's capabilities, runs ``run(input)`` in a fresh Store with a time and memory limit, and turns
traps into ``WorkflowTrapped`` with a plain reason. The linkers are built once per process: their functions
find the calling run's host functions by Store, so a run pays no linking of its own.
"""

from __future__ import annotations

import ctypes
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import wasmtime
from wasmtime.component import Component, Linker, Variant

from app import capabilities
from app.errors import FatalError

EPOCH_TICK_SECONDS = 0.01
DEFAULT_TIMEOUT_SECONDS = 30.0
DEFAULT_MEMORY_LIMIT = 512 * 1024 * 1024

_ALL = frozenset(c.name for c in capabilities.CAPABILITIES)
HostFunc = Callable[[str], Any]  # request JSON -> response JSON text (or a JSON-able value); may raise HostCallError


class HostCallError(Exception):
    """A host function's failure that the guest sees as ``err`` (JSON ``{"code","message","retriable"}``)."""

    def __init__(self, code: str, message: str, *, retriable: bool = False, details: dict | None = None):
        super().__init__(message)
        self.code, self.message, self.retriable = code, message, retriable
        self.details = details or None

    def to_json(self) -> str:
        doc = {"code": self.code, "message": self.message, "retriable": self.retriable}
        if self.details:
            doc["details"] = self.details
        return json.dumps(doc)


class WorkflowTrapped(FatalError):
    """The guest trapped (stub WASI call, time limit, memory, bug); the Store is dead and must not be reused."""

    code = "trapped"


_engine: wasmtime.Engine | None = None
_engine_lock = threading.Lock()


def engine() -> wasmtime.Engine:
    """The one Engine of this process (epoch interruption on, ticked every EPOCH_TICK_SECONDS by a daemon)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            config = wasmtime.Config()
            config.epoch_interruption = True
            # No Config.cache: it writes to the user's home; precompile()/serialize is our cache, by digest.
            _engine = wasmtime.Engine(config)
            threading.Thread(target=_tick, args=(_engine,), name="wasmtime-epoch", daemon=True).start()
        return _engine


def _tick(eng: wasmtime.Engine) -> None:
    """Advance the epoch with the wall clock: on a busy machine this thread wakes late (sleep overshoots,
    the GIL is held), so it catches up by the ticks it missed instead of stretching every time limit."""
    start, done = time.monotonic(), 0
    while True:
        time.sleep(EPOCH_TICK_SECONDS)
        due = int((time.monotonic() - start) / EPOCH_TICK_SECONDS)
        while done < due:
            eng.increment_epoch()
            done += 1


def compile_component(component_bytes: bytes) -> Component:
    """Compile component bytes with the process engine (seconds for an 18 MB component)."""
    return Component(engine(), component_bytes)


def precompile(component_bytes: bytes) -> bytes:
    """Native code for the component (``Component.serialize``), to be stored and loaded in milliseconds."""
    return bytes(compile_component(component_bytes).serialize())


def load_precompiled(path: str | Path) -> Component:
    """Load bytes made by ``precompile`` with this engine's wasmtime version. Trusts its input: ours only."""
    try:
        return Component.deserialize_file(engine(), str(path))
    except wasmtime.WasmtimeError as exc:
        reason = str(exc).splitlines()[0]
        raise FatalError(f"precompiled component {path} cannot be loaded (recompile it): {reason}") from None


# Frames that name a stubbed WASI call; --stub-wasi makes them trap instead of reaching the world.
_STUB_REASONS = (
    (("clock_gettime", "wall_clock", "monotonic_clock", "clock_time_get"), "wasi clock is not available"),
    (("random_get", "getentropy", "get_random", "insecure_random"), "wasi randomness is not available"),
    (
        ("fd_write", "fd_read", "path_open", "fd_", "filesystem", "stdout", "stderr", "stdin"),
        "wasi files/stdio are not available",
    ),
    (("sock_", "socket", "tcp", "udp", "ip_name_lookup"), "wasi sockets are not available"),
    (("environ_", "args_"), "wasi environment is not available"),
)


def explain_trap(error: BaseException) -> str:
    """A plain reason for a guest trap, from wasmtime's message and backtrace."""
    text = str(error)
    if "interrupt" in text:
        return "it ran past its time limit"
    if "out of bounds memory" in text or "memory" in text.split("Caused by:")[-1]:
        return "it ran out of memory or accessed memory out of bounds"
    frames = " ".join(re.findall(r"!(\S+)", text))
    if "PyImport_Import" in frames and ("stat" in frames or "filesystem" in frames):
        return (
            "it imported a module at run time, which needs files (stub WASI): import at module level; "
            "an uncaught guest exception ends here too, since formatting its traceback imports modules"
        )
    for needles, reason in _STUB_REASONS:
        if any(n in frames for n in needles):
            return f"{reason} (stub WASI): use a host capability instead"
    cause = text.split("Caused by:")[-1].strip().splitlines()
    return cause[0].strip() if cause else "unknown trap"


def _instantiate_reason(error: BaseException) -> str:
    first = str(error).splitlines()[0]
    missing = re.search(r"imports instance `wasmflow:host/([a-z-]+)@", first)
    if missing and missing.group(1) in capabilities.BY_INTERFACE:
        return f"it needs capability {capabilities.BY_INTERFACE[missing.group(1)].name}, which this run does not grant"
    if "exceeds memory limits" in first:
        return f"its initial memory is larger than the memory limit ({first})"
    if "interrupt" in first:  # the epoch deadline passed while the instance started (a run out of time)
        return explain_trap(error)
    return first


class CapabilityNotGranted(WorkflowTrapped):
    """The guest called a capability its manifest does not grant: the run ends (the guest cannot catch it)."""

    code = "capability_not_granted"


def _not_granted(name: str) -> CapabilityNotGranted:
    return CapabilityNotGranted(
        f"the workflow called capability {name}, which its manifest does not grant", details={"capability": name}
    )


def _answer(func: HostFunc | None, name: str, request: str, failure: list[BaseException]) -> Variant:
    """One host call: ``ok``/``err`` for the guest, or the host's exception stashed in ``failure`` and the guest
    unwound (wasmtime-py's own stash is one process-global slot, so each run keeps its own)."""
    if func is None:
        failure.append(_not_granted(name))
        raise wasmtime.WasmtimeError("capability not granted")
    try:
        response = func(request)
    except HostCallError as exc:
        return Variant("err", exc.to_json())
    except BaseException as exc:
        failure.append(exc)
        raise wasmtime.WasmtimeError("host function raised") from None
    return Variant("ok", response if isinstance(response, str) else json.dumps(response))


class _Calls:
    """One Store's host functions and its failure slot, where the process's linkers dispatch its calls."""

    __slots__ = ("funcs", "failure")

    def __init__(self, funcs: Mapping[str, HostFunc]):
        self.funcs = funcs
        self.failure: list[BaseException] = []


# The runs now in a guest call, by their Store. Entries live exactly as long as the call (``_running``), so
# nothing here keeps a finished or suspended run's Store, functions or exception alive.
_calls: dict[int, _Calls] = {}


def _store_key(store: Any) -> int:
    """The address of a Store's context: wasmtime-py hands a host function a ``StoreContext`` of the calling
    Store whose pointer is the one ``Store._context()`` returns, stable while the Store lives."""
    return ctypes.cast(store._context(), ctypes.c_void_p).value or 0


def _dispatch(name: str) -> Callable[..., Variant]:
    def call(store: Any, request: str) -> Variant:
        calls = _calls.get(_store_key(store))
        if calls is None:  # a Store instantiated by this linker outside ``_running``: nothing is granted
            raise wasmtime.WasmtimeError(f"no run is registered for this store (capability {name})")
        return _answer(calls.funcs.get(name), name, request, calls.failure)

    return call


_linkers: dict[frozenset[str], Linker] = {}
_linkers_lock = threading.Lock()


def _linker(names: frozenset[str]) -> Linker:
    """The process's linker defining ``wasmflow:host/<interface>@1.0.0`` ``call`` for each capability in
    ``names``, built once: its functions dispatch by Store to the calling run's host functions.

    The shared runtime imports every capability, so its runs use the linker of all of them and a capability
    outside the run's ``host_funcs`` ends the run naming it (deny by default, contract 2). A per-workflow
    component uses the linker of exactly its grants, so importing anything else fails at instantiation.
    A linker costs ~0.1 ms to build (11 interfaces); there is one per grant set seen, a few in practice.
    """
    linker = _linkers.get(names)
    if linker is None:
        with _linkers_lock:
            linker = _linkers.get(names)
            if linker is None:
                linker = _linkers[names] = _build_linker(sorted(names), _dispatch)
    return linker


def _build_linker(names: list[str], make: Callable[[str], Callable[..., Variant]]) -> Linker:
    package, _, version = capabilities.WIT_PACKAGE.partition("@")
    linker = Linker(engine())
    with linker.root() as root:
        for name in names:
            with root.add_instance(f"{package}/{capabilities.get(name).interface}@{version}") as inst:
                inst.add_func("call", make(name))
    return linker


def make_linker(
    host_funcs: Mapping[str, HostFunc], failure: list[BaseException], *, deny_others: bool = False
) -> Linker:
    """A linker of its own for one Store, with ``host_funcs`` bound in (``deny_others``: every other
    capability defined as a denial). Runs use the process's dispatching linkers instead; this is for tools
    that measure or inspect a linker built from scratch."""

    def bound(name: str) -> Callable[..., Variant]:
        func = host_funcs.get(name)
        return lambda _store, request: _answer(func, name, request, failure)

    return _build_linker(sorted(_ALL) if deny_others else sorted(host_funcs), bound)


class _running:
    """Register a Store's host functions for the dispatching linkers while its guest runs; unregister after."""

    __slots__ = ("key", "calls")

    def __init__(self, store: wasmtime.Store, funcs: Mapping[str, HostFunc]):
        self.key, self.calls = _store_key(store), _Calls(funcs)

    def __enter__(self) -> list[BaseException]:
        _calls[self.key] = self.calls
        return self.calls.failure

    def __exit__(self, *_exc: object) -> None:
        del _calls[self.key]
        # A stashed exception's traceback holds the frames of this run, hence its Store: drop our reference so
        # a suspended run's instance (~7 MB) is freed as soon as its caller lets go of the exception.
        self.calls.failure.clear()


def compile_program(runtime: Component, source: str, *, timeout_seconds: float = 30.0) -> bytes:
    """The bytecode of a workflow program, compiled by the shared runtime's own CPython (in the sandbox)."""
    store = wasmtime.Store(engine())
    store.set_epoch_deadline(max(1, int(timeout_seconds / EPOCH_TICK_SECONDS)))
    with _running(store, {}):
        try:
            instance = _linker(_ALL).instantiate(store, runtime)
            result = instance.get_func(store, "compile")(store, source)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as exc:
            raise WorkflowTrapped(f"the runtime trapped compiling the program: {explain_trap(exc)}") from None
    if not isinstance(result, Variant) or result.tag != "ok":
        raise FatalError(f"the runtime could not compile the program: {getattr(result, 'payload', result)}")
    return result.payload.encode("latin-1")


def instantiate_and_run(
    component: Component,
    host_funcs: Mapping[str, HostFunc],
    input_json: str,
    *,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    program: bytes | None = None,
) -> tuple[bool, str]:
    """Run ``run(input_json)`` in a fresh Store: ``(True, output_json)`` or ``(False, error_json)``.

    With ``program`` (bytecode from ``compile_program``) the component is the shared runtime and
    ``run(program, input_json)`` is called; calling a capability outside ``host_funcs`` ends the run
    (``CapabilityNotGranted`` names it).
    A Python exception from a host function (e.g. suspension) propagates as itself; a trap raises
    ``WorkflowTrapped``; a component importing an ungranted capability raises ``WorkflowTrapped`` too.
    """
    linker = _linker(_ALL if program is not None else frozenset(host_funcs))
    store = wasmtime.Store(engine())
    store.set_limits(memory_size=memory_limit)
    store.set_epoch_deadline(max(1, int(timeout_seconds / EPOCH_TICK_SECONDS)))
    with _running(store, host_funcs) as failure:
        try:
            instance = linker.instantiate(store, component)
        except wasmtime.WasmtimeError as exc:
            raise WorkflowTrapped(f"the workflow could not be instantiated: {_instantiate_reason(exc)}") from None
        run = instance.get_func(store, "run")
        if run is None:
            raise WorkflowTrapped("the component exports no `run` function")
        try:
            if program is None:
                result = run(store, input_json)
            else:  # bytecode crosses as latin-1 text: one copy (a list<u8> is lowered byte by byte)
                result = run(store, program.decode("latin-1"), input_json)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as exc:
            if failure:
                raise failure[0] from None
            reason = explain_trap(exc)
            raise WorkflowTrapped(f"the workflow trapped: {reason}", details={"trap": str(exc)[-2000:]}) from None
        if failure:  # the guest swallowed the unwind somehow; the host's exception still wins
            raise failure[0]
    if not isinstance(result, Variant) or result.tag not in ("ok", "err"):
        raise WorkflowTrapped(f"run returned {result!r}, not result<string, string>")
    return result.tag == "ok", result.payload
