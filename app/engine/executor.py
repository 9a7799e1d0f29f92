"""Execute a run once: instantiate its component, answer host calls through the journal, settle its state.

Resume is the same function: a new instance replays from the start and journaled calls are answered from
the journal (ARCHITECTURE.md, contract 5). Every way an execution can end maps to one run state:
success, a failed run (workflow error, limit, trap), waiting (suspension), cancelled, or needs_attention
(determinism error, ambiguous side effect).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from wasmtime.component import Component

from app.capabilities import Manifest
from app.compiler.artifacts import ArtifactStore
from app.engine import runs
from app.errors import NotFound, WasmflowError
from app.runtime import wasm
from app.runtime import world as world_impl
from app.runtime.host import RunHost, World
from app.runtime.journal import Journal, NeedsAttention, Record
from app.runtime.signals import Cancelled, LimitExceeded, Released, Suspend
from app.store.models import JournalEntry

log = logging.getLogger(__name__)

DEFAULT_MAX_OUTPUT_BYTES = 10 * 1024 * 1024
WASM_PAGE = 65536


@dataclass(frozen=True)
class Outcome:
    run_id: str
    status: str
    output: Any = None
    error: dict | None = None


class ComponentCache:
    """What a digest runs on, loaded once per process: its own component (deserialize ~2 ms), or the one
    shared runtime plus the digest's program bytecode (a few kB). Instantiated per run either way."""

    def __init__(self, store: ArtifactStore, *, size: int = 64):
        self.store = store
        self.size = size
        self._items: OrderedDict[str, tuple[Component, bytes | None]] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, digest: str) -> tuple[Component, bytes | None]:
        """(component, program): program is None for a component artifact, else the runtime runs it."""
        with self._lock:
            item = self._items.get(digest)
            if item is not None:
                self._items.move_to_end(digest)
                return item
        info = self.store.require(digest)
        if info.is_program:
            item = (self.store.runtime_component(self.store.runtime_for(info)), self.store.program(digest))
        else:
            item = (wasm.load_precompiled(self.store.precompiled_path(digest)), None)
        with self._lock:
            self._items[digest] = item
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return item

    def get(self, digest: str) -> Component:
        return self.load(digest)[0]


def load_journal(world: World, run_id: str, *, key_base: str | None = None) -> Journal:
    with world.db.session() as s:
        rows = s.execute(
            sa.select(JournalEntry).where(JournalEntry.run_id == run_id).order_by(JournalEntry.seq)
        ).scalars()
        records = [
            Record(
                r.seq, r.capability, r.request_hash, r.state, r.node, r.request, r.result, r.created_at, r.completed_at
            )
            for r in rows
        ]
    return Journal.load(run_id, records, key_base=key_base)


def _redactor(secrets: Any, manifest: Manifest):
    if secrets is None or not manifest.secrets:
        return lambda value: value
    from app.runtime.redact import Redactor

    values = {}
    for name in manifest.secrets:
        value = secrets.value(name)
        if value:
            values[name] = value
    return Redactor(values).redact


def execute(
    run_id: str,
    *,
    world: World,
    store: ArtifactStore,
    components: ComponentCache,
    owner: str,
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
    fresh: runs.Fresh | None = None,
) -> Outcome:
    """Execute ``run_id``, which ``owner`` has claimed; returns how it ended (the database says the same).

    ``fresh``: the run was created leased to ``owner`` a moment ago, so its row and its (empty) journal are
    not read back; every commit still checks the lease."""
    if fresh is not None:
        digest, name, run_input, key_base, used = fresh.digest, fresh.workflow_name, fresh.input, fresh.key_base, 0.0
        parent, journal = fresh.parent_run_id, Journal(run_id=run_id, key_base=fresh.key_base or "")
    else:
        with world.db.session() as s:
            run = runs.require_owner(s, run_id, owner)
            digest, name, run_input = run.digest, run.workflow_name, run.input
            key_base, used, parent = run.key_base, float(run.active_seconds or 0.0), run.parent_run_id
        journal = load_journal(world, run_id, key_base=key_base)
    try:
        info = store.require(digest)
    except NotFound:
        # this process cannot run it (its artifacts folder lacks the digest: a misconfigured worker); a
        # person fixes the setting and resumes it, rather than it being claimed and dropped every lease
        error = {
            "kind": "fatal",
            "code": "artifact_missing",
            "message": f"digest {digest} is not in the artifact store {store.root} of process {owner}; check "
            "WASMFLOW_ARTIFACTS_DIR of the processes that run workflows, then resume the run",
            "details": {"digest": digest, "artifacts_dir": str(store.root)},
        }
        log.error("run %s: %s", run_id, error["message"])
        with world.db.session() as s:
            runs.finish(s, run_id, owner=owner, status=runs.NEEDS_ATTENTION, error=error, active_seconds=0.0)
        return Outcome(run_id, runs.NEEDS_ATTENTION, error=error)
    manifest = Manifest.from_dict(info.manifest)
    limits = info.manifest.get("limits", {})
    timeout = float(limits.get("timeout_seconds", 300))
    memory = int(limits.get("memory_mb", 256)) * 1024 * 1024
    # settings.timeout_seconds bounds the run's execution time over all its executions (waits excluded)
    budget = max(timeout - used, 0.0)
    # a run resolves its workspace's secrets that are granted to its workflow (app.runtime.secrets)
    secrets = world.secrets
    if secrets is not None and manifest.secrets and hasattr(secrets, "for_workflow"):
        secrets = secrets.for_workflow(name)
    host = RunHost(
        run_id=run_id,
        workflow_name=name,
        owner=owner,
        manifest=manifest,
        journal=journal,
        world=world,
        secrets=secrets,
        redact=_redactor(secrets, manifest),
        deadline=time.monotonic() + budget,
        timeout_seconds=timeout,
        fresh=fresh is not None,
    )
    started = time.monotonic()

    def spent(s) -> None:
        runs.add_active_seconds(s, run_id, time.monotonic() - started)

    def settle(status: str, *, output: Any = None, error: dict | None = None) -> Outcome:
        def finish(s) -> None:
            active = time.monotonic() - started
            runs.finish(s, run_id, owner=owner, status=status, output=output, error=error, active_seconds=active)

        host.flush(extra=finish)
        if parent and status in runs.FINAL:
            world.kick(parent)  # finish made the parent due: it resumes now where there is room
        return Outcome(run_id, status, output, error)

    try:
        component, program = components.load(digest)
        # The time limit is the guest's: loading (or, for a fresh artifact, precompiling) the component can
        # take seconds and must not be charged to the run, or a small timeout_seconds fails a healthy run.
        started = time.monotonic()
        host.deadline = started + budget
        world.running[run_id] = host
        try:
            ok, payload = wasm.instantiate_and_run(
                component,
                host.funcs(),
                json.dumps(run_input),
                timeout_seconds=max(budget, 0.001),
                memory_limit=memory,
                program=program,
            )
        finally:
            world.running.pop(run_id, None)
    except Suspend as suspension:
        wake_at, waiting_for = suspension.wake_at, suspension.waiting_for

        def suspend(s) -> None:
            spent(s)
            runs.suspend(s, run_id, owner=owner, wake_at=wake_at, waiting_for=waiting_for)

        host.flush(extra=suspend)
        return Outcome(run_id, runs.WAITING)
    except Released:

        def release(s) -> None:
            spent(s)
            runs.release(s, run_id, owner=owner)

        host.flush(extra=release)
        return Outcome(run_id, runs.QUEUED)
    except Cancelled:
        return settle(runs.CANCELLED, error={"code": "cancelled", "message": "the run was cancelled"})
    except NeedsAttention as exc:
        return settle(runs.NEEDS_ATTENTION, error=host.redact(exc.to_dict()))
    except wasm.WorkflowTrapped as exc:
        error = host.redact(_trap_error(exc, host, timeout=timeout, memory=memory))
        host.end_open_nodes(error)
        return settle(runs.FAILED, error=error)
    except LimitExceeded as exc:
        # Same shape as a limit hit by a trap (_trap_error): limit and node at the top, not only in details.
        error = {**exc.to_dict(), "limit": exc.details.get("limit"), "node": host.current_node}
        host.end_open_nodes(error)
        return settle(runs.FAILED, error=error)
    except WasmflowError as exc:
        return settle(runs.FAILED, error=host.redact({**exc.to_dict(), "node": host.current_node}))
    try:  # the workflow ended on its own (success or its own error): it must have made every journaled call
        host.journal.check_all_replayed()
    except NeedsAttention as exc:
        return settle(runs.NEEDS_ATTENTION, error=host.redact(exc.to_dict()))
    if not ok:
        error = world_impl.cut_error(host, _guest_error(json.loads(payload), host, memory=memory))
        return settle(runs.FAILED, error=host.redact(error))
    if len(payload) > max_output_bytes:
        return settle(
            runs.FAILED,
            error={
                "kind": "fatal",
                "code": "limit_exceeded",
                "limit": "output_bytes",
                "message": f"the run's output is {len(payload):,} bytes; the limit is {max_output_bytes:,}",
            },
        )
    return settle(runs.SUCCEEDED, output=host.redact(json.loads(payload)))


def _guest_error(error: dict, host: RunHost, *, memory: int) -> dict:
    """The run error the guest reported. A MemoryError inside the sandbox means wasmtime refused to grow memory
    past memory_mb; the guest can only say "MemoryError: " (sometimes outside any node), so name the limit."""
    if not str(error.get("message", "")).startswith("MemoryError"):
        return error
    node = error.get("node") or host.current_node
    return {
        **error,
        "kind": "fatal",
        "code": "limit_exceeded",
        "limit": "memory_mb",
        "node": node,
        "message": f"node {node!r} ran out of memory (MemoryError): the run's memory limit is "
        f"{memory // (1024 * 1024)} MB (settings.memory_mb)",
        "details": {**(error.get("details") or {}), "guest_code": error.get("code")},
    }


def _trap_error(exc: wasm.WorkflowTrapped, host: RunHost, *, timeout: float, memory: int) -> dict:
    """A trap, named by the limit it hit when it hit one, and attributed to the node that was running."""
    message = exc.message
    error: dict[str, Any] = {"kind": "fatal", "code": exc.code, "message": message, "node": host.current_node}
    if exc.details.get("capability"):
        error["capability"] = exc.details["capability"]
    if "time limit" in message:
        error.update(
            code="limit_exceeded",
            limit="timeout_seconds",
            message=f"the run exceeded its time limit of {timeout:g} s (settings.timeout_seconds)",
        )
    elif "out of memory" in message or "memory" in message:
        error.update(
            code="limit_exceeded",
            limit="memory_mb",
            message=f"the run exceeded its memory limit of {memory // (1024 * 1024)} MB (settings.memory_mb)",
        )
    elif "stack" in str(exc.details.get("trap", "")).lower() and "overflow" in str(exc.details.get("trap", "")).lower():
        error.update(
            code="limit_exceeded", limit="stack", message="the run overflowed the guest stack (deep recursion)"
        )
    return error
