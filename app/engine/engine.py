"""One engine per process: executes runs in a bounded thread pool, renews their leases, and picks up
runs that are due (queued, waiting and due, or orphaned by a dead process) on start and periodically.

The server, ``wasmflow worker`` and ``wasmflow run`` all use this same code; processes coordinate only
through the database (a run is executed by whoever wins the atomic claim).
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from app.compiler.artifacts import ArtifactStore
from app.config import Settings
from app.engine import runs
from app.engine.executor import ComponentCache, Outcome, execute
from app.errors import Conflict
from app.runtime.committer import GroupCommitter
from app.runtime.host import World
from app.store import open_database
from app.store.models import Artifact, Run

PROGRESS_SECONDS = 0.5  # node events buffered longer than this are committed by the progress flusher


def default_owner() -> str:
    return f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Engine:
    def __init__(
        self,
        settings: Settings,
        *,
        owner: str | None = None,
        run_concurrency: int = 8,
        lease_seconds: float | None = None,
        poll_seconds: float = 0.5,
        http: Any = None,
        secrets: Any = None,
        poll: bool = True,
    ):
        settings.ensure_dirs()
        self.settings = settings
        self.owner = owner or default_owner()
        self.lease_seconds = float(lease_seconds or os.environ.get("WASMFLOW_LEASE_SECONDS") or 30)
        self.poll_seconds = poll_seconds
        self.db = open_database(settings.database_url)
        self.store = ArtifactStore(settings.artifacts_dir, self.db)
        self.committer = GroupCommitter(self.db)
        self.components = ComponentCache(self.store)
        self.world = World(
            db=self.db,
            committer=self.committer,
            http=http,
            secrets=secrets,
            kick=self.kick,
            resolve_workflow=self._child_digest,
        )
        self.run_concurrency = run_concurrency
        self._pool = ThreadPoolExecutor(max_workers=run_concurrency, thread_name_prefix="run")
        self._active: dict[str, Future] = {}
        self._reserved = 0  # slots promised to runs being created leased to this process (reserve())
        self._lock = threading.RLock()  # _submit may run _forget at once if the run already finished
        self._stop = threading.Event()
        self._wake = threading.Event()  # set when a run slot frees up, so the poller claims without waiting
        self._backlog = True  # a run may be queued for this process (a kick found no room): claim at the next free slot
        self._next_tick = 0.0  # monotonic time of the next full poll tick (duties, due runs, timers)
        self._threads: list[threading.Thread] = []
        self._duties: list[Callable[[Engine], None]] = []  # run on every poll tick (e.g. firing cron schedules)
        duties = [(self._renew_loop, "lease-renewer"), (self._progress_loop, "progress-flusher")]
        if poll:  # pick up due and orphaned runs of any process (off for a one-shot `wasmflow run`)
            duties.append((self._poll_loop, "run-scheduler"))
        for target, name in duties:
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    # -- starting and executing runs --------------------------------------------------------------------

    def create_run(self, digest: str, input: Any, *, workflow_name: str | None = None) -> str:
        info = self.store.require(digest)
        with self.db.session() as s:
            return runs.create_run(s, workflow_name=workflow_name or info.workflow_name, digest=digest, input=input)

    def start_run(self, digest: str, input: Any, *, workflow_name: str | None = None) -> str:
        """Create a run already leased to this process and execute it in the pool; returns its id at once."""
        info = self.store.require(digest)
        if self._stop.is_set():  # stopping: queued for another process
            return self.create_run(digest, input, workflow_name=workflow_name)
        with self.db.session() as s:
            run_id = runs.create_run(
                s,
                workflow_name=workflow_name or info.workflow_name,
                digest=digest,
                input=input,
                claimed_by=self.owner,
                lease_seconds=self.lease_seconds,
            )
        with self._lock:
            self._submit(run_id, runs.Fresh(workflow_name or info.workflow_name, digest, input))
        return run_id

    def reserve(self) -> bool:
        """Promise a run slot to a run the caller is about to create leased to ``self.owner``
        (``create_run(claimed_by=engine.owner)``): then ``submit_fresh`` it, or ``release`` the slot."""
        with self._lock:
            if self._stop.is_set():
                return False  # stopping: the caller queues the run for another process
            if len(self._active) + self._reserved >= self.run_concurrency:
                self._backlog = True
                return False
            self._reserved += 1
            return True

    def release(self) -> None:
        with self._lock:
            self._reserved -= 1
        self._wake.set()

    def submit_fresh(self, run_id: str, fresh: runs.Fresh) -> Future:
        """Execute a run created leased to this process in a slot ``reserve`` promised (no claim, no read-back)."""
        with self._lock:
            self._reserved -= 1
            return self._submit(run_id, fresh)

    def kick(self, run_id: str) -> Future | None:
        """Execute ``run_id`` in the pool if this process has room and can claim it now."""
        with self._lock:
            if run_id in self._active:
                return self._active[run_id]
            if self._stop.is_set():
                return None  # stopping: another process picks it up
            if len(self._active) + self._reserved >= self.run_concurrency:
                self._backlog = True
                return None  # stays queued: this process's poller or another worker with room claims it
            if not self._claim(run_id):
                return None
            return self._submit(run_id)

    def run_sync(self, run_id: str, *, force_waiting: bool = False) -> Outcome:
        """Claim and execute ``run_id`` in the calling thread (the CLI's way)."""
        if not self._claim(run_id, force_waiting=force_waiting):
            with self.db.session() as s:
                run = runs.get_run(s, run_id)
                raise Conflict(_not_claimable(run))
        with self._lock:
            self._active[run_id] = Future()
        try:
            return self._execute(run_id)
        finally:
            self._forget(run_id)

    def wait_for_lease(self, run_id: str, *, timeout: float = 120) -> None:
        """Block until a crashed owner's lease on ``run_id`` has expired (or it is otherwise claimable)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.db.session() as s:
                run = runs.get_run(s, run_id)
                expires = runs.as_utc(run.lease_expires_at)
                if run.status != runs.RUNNING or expires is None or expires < runs.utcnow():
                    return
                delay = (expires - runs.utcnow()).total_seconds()
            time.sleep(min(max(delay, 0.05), 1.0))

    def _submit(self, run_id: str, fresh: runs.Fresh | None = None) -> Future:
        """Execute a run this process holds the lease on, in the pool (caller holds ``self._lock``)."""
        fut = self._pool.submit(self._execute, run_id, fresh)
        self._active[run_id] = fut
        fut.add_done_callback(lambda _f: self._forget(run_id))
        return fut

    def _claim(self, run_id: str, *, force_waiting: bool = False) -> bool:
        with self.db.session() as s:
            return runs.claim(
                s, run_id, owner=self.owner, lease_seconds=self.lease_seconds, force_waiting=force_waiting
            )

    def _execute(self, run_id: str, fresh: runs.Fresh | None = None) -> Outcome:
        outcome = execute(
            run_id, world=self.world, store=self.store, components=self.components, owner=self.owner, fresh=fresh
        )
        if outcome.status == runs.WAITING:
            self._next_tick = 0.0  # a new timer: the next wakeup recomputes when to tick
        return outcome

    def _forget(self, run_id: str) -> None:
        with self._lock:
            self._active.pop(run_id, None)
        self._wake.set()  # a slot is free: claim the next due run now, not at the next poll tick

    # -- background duties -------------------------------------------------------------------------------

    def recover(self) -> list[str]:
        """Claim due runs (queued, due after a wait, orphaned) up to this process's free capacity and execute
        them; returns the ids claimed. Claiming no more than it can run leaves the rest to other workers."""
        with self._lock:
            free = self.run_concurrency - len(self._active) - self._reserved
        if free <= 0 or self._stop.is_set():
            return []
        with self.db.session() as s:
            claimed = runs.claim_due(s, owner=self.owner, lease_seconds=self.lease_seconds, limit=free)
        with self._lock:
            for run_id in claimed:
                self._submit(run_id)
        return claimed

    def add_duty(self, fn: Callable[[Engine], None]) -> None:
        """Call ``fn(engine)`` on every poll tick, before due runs are picked up."""
        self._duties.append(fn)

    def _poll_loop(self) -> None:
        """A full tick (duties, due runs, the next timer) every poll interval or at the earliest due timer; a
        freed run slot between ticks claims due runs only when a kick found no room (``_backlog``), so a run
        that ends does not cost the database a tick's worth of reads."""
        delay = self.poll_seconds
        while not self._stop.is_set():
            woken = self._wake.wait(delay)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                if woken and time.monotonic() < self._next_tick:
                    if self._backlog:
                        self._backlog = False
                        if self.recover():
                            self._backlog = True  # claimed some: more may be queued behind them
                    delay = max(0.001, self._next_tick - time.monotonic())
                    continue
                for duty in list(self._duties):
                    duty(self)
                self._backlog = False
                if self.recover():
                    self._backlog = True
                delay = self._next_delay()
                self._next_tick = time.monotonic() + delay
            except Exception:  # noqa: BLE001 - a dead database must not kill the loop; it retries
                delay = self.poll_seconds
                self._next_tick = 0.0
                time.sleep(self.poll_seconds)

    def _next_delay(self) -> float:
        """Until the next tick: the poll interval, or less when a timer falls due before it (and a slot is
        free to run it), so a wait wakes on time instead of up to a whole interval late."""
        with self._lock:
            if len(self._active) >= self.run_concurrency:
                return self.poll_seconds  # a freed slot sets _wake anyway
        with self.db.session() as s:
            nxt = runs.next_wake_at(s)
        if nxt is None:
            return self.poll_seconds
        if nxt.tzinfo is None:
            nxt = nxt.replace(tzinfo=UTC)
        return min(self.poll_seconds, max(0.001, (nxt - datetime.now(UTC)).total_seconds()))

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            with self._lock:
                active = list(self._active)
            if active:
                try:
                    with self.db.session() as s:
                        runs.renew_leases(s, active, owner=self.owner, lease_seconds=self.lease_seconds)
                except Exception:  # noqa: BLE001 - retried at the next tick
                    pass

    def _progress_loop(self) -> None:
        """Commit node events that executing runs have buffered for a while: a node computing for seconds
        shows as running in the live view, with its true start time, instead of appearing only at its end."""
        while not self._stop.wait(PROGRESS_SECONDS):
            self.world.flush_stale(PROGRESS_SECONDS)

    def wait_idle(self, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if not self._active:
                    return
            time.sleep(0.02)

    def stop_accepting(self) -> None:
        """Claim no more runs; those executing hand back at their next host call (queued again, lease
        released, so another process resumes them at once by replay)."""
        self._stop.set()
        self._wake.set()
        self.world.stopping.set()

    def close(self) -> None:
        """``stop_accepting``, then wait for the executing runs to hand back or end; the committer ends."""
        self.stop_accepting()
        self._pool.shutdown(wait=True, cancel_futures=False)
        self.committer.close()

    # -- helpers ----------------------------------------------------------------------------------------

    def add_listener(self, fn: Callable[[str, list[dict]], None]) -> None:
        self.world.listeners.append(fn)

    def _child_digest(self, workflow_name: str) -> str | None:
        """What a subflow starts: the child's deployed version, else its latest compile."""
        from app.engine.workflows import deployed_digest

        deployed = deployed_digest(self.db, workflow_name)
        if deployed:
            return deployed
        with self.db.session() as s:
            return s.execute(
                sa.select(Artifact.digest)
                .where(Artifact.workflow_name == workflow_name)
                .order_by(Artifact.created_at.desc())
                .limit(1)
            ).scalar()


def _not_claimable(run: Run) -> str:
    if run.status == runs.RUNNING:
        return (
            f"run {run.id} is running under a lease held by {run.lease_owner} until "
            f"{runs.as_utc(run.lease_expires_at):%H:%M:%S} UTC; if that process died, the lease expires then"
        )
    if run.status == runs.WAITING:
        return f"run {run.id} is waiting ({(run.waiting_for or {}).get('kind', 'wait')}) and is not due yet"
    return f"run {run.id} is {run.status}; only queued, due or orphaned runs can be executed"
