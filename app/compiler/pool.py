"""A bounded compile pool: at most N compiles at once, a bounded queue, one build per digest in flight.

A burst of compile requests cannot take the server down: past the queue bound callers get a retriable
error, and concurrent requests for the same digest share one build (single flight).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from app.compiler import pipeline
from app.compiler.artifacts import ArtifactStore
from app.compiler.pipeline import CompileResult, Prepared
from app.errors import RetriableError


class CompilePool:
    def __init__(
        self,
        store: ArtifactStore,
        *,
        concurrency: int = 1,
        max_queued: int = 32,
        timeout: float = 300,
        builder: Callable[..., CompileResult] = pipeline.build,
        precompile: bool = True,
    ):
        self.store = store
        self._builder = builder
        self.precompile = precompile  # produce the server's native form right after publishing
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="precompile")
        self.timeout = timeout
        self.max_queued = max_queued
        self._executor = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="compile")
        self._inflight: dict[tuple[str, bool], Future[CompileResult]] = {}  # (digest, with_bundle)
        self._lock = threading.Lock()

    def submit(self, source: Any, *, with_bundle: bool = True) -> Future[CompileResult]:
        """Validate now (errors raise at once), then compile in the pool; a cache hit resolves immediately."""
        started = time.perf_counter()
        prepared = pipeline.prepare(source)
        hit = self.store.get(prepared.digest)
        if hit is not None and (hit.bundle or not with_bundle):
            done: Future[CompileResult] = Future()
            done.set_result(CompileResult(artifact=hit, cache_hit=True, seconds=time.perf_counter() - started))
            return done
        key = (prepared.digest, with_bundle)
        with self._lock:
            running = self._inflight.get(key)
            if running is not None:
                return running
            if len(self._inflight) >= self.max_queued:
                raise RetriableError(
                    f"the compile queue is full ({self.max_queued} compiles waiting); try again shortly",
                    code="compile_queue_full",
                )
            future = self._executor.submit(self._build, prepared, with_bundle)
            self._inflight[key] = future
        future.add_done_callback(lambda _f, k=key: self._forget(k))
        return future

    def compile(self, source: Any, *, with_bundle: bool = True) -> CompileResult:
        """Compile and wait for the result (raises ValidationFailed or CompileError)."""
        return self.submit(source, with_bundle=with_bundle).result()

    def _build(self, prepared: Prepared, with_bundle: bool) -> CompileResult:
        hit = self.store.get(prepared.digest)  # built by another process meanwhile
        if hit is not None and (hit.bundle or not with_bundle):
            return CompileResult(artifact=hit, cache_hit=True, seconds=0.0)
        if hit is not None:  # compiled for the server only (`wasmflow run`): the editor needs the bundle too
            return pipeline.attach_bundle(self.store, prepared.digest, timeout=self.timeout)
        result = self._builder(prepared, self.store, timeout=self.timeout, with_bundle=with_bundle)
        if with_bundle and not result.artifact.bundle:  # a bundle-less build of another process won the race
            result = pipeline.attach_bundle(self.store, prepared.digest, timeout=self.timeout)
        if self.precompile:
            self._background.submit(self._precompile, result.digest)
        return result

    def _precompile(self, digest: str) -> None:
        try:
            self.store.precompiled_path(digest)
        except Exception:  # noqa: BLE001 - the first run retries it and reports the error there
            pass

    def _forget(self, key: tuple[str, bool]) -> None:
        with self._lock:
            self._inflight.pop(key, None)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._background.shutdown(wait=True, cancel_futures=True)


class LatestDraftCompiler:
    """Compile each workflow's newest valid draft in the background, so "Test run" usually finds it built.

    An editor autosaves often; compiling every intermediate draft would queue minutes of CPU for documents
    nobody will run. So at most one background compile per workflow is in flight, and drafts saved meanwhile
    replace each other: when the compile finishes, only the newest waiting draft is compiled next. Failures
    are dropped here (the explicit compile reports them); a full queue just skips the background work.
    """

    def __init__(self, pool: CompilePool):
        self._pool = pool
        self._lock = threading.Lock()
        self._busy: set[str] = set()
        self._waiting: dict[str, Any] = {}

    def offer(self, name: str, draft: Any) -> None:
        with self._lock:
            if name in self._busy:
                self._waiting[name] = draft
                return
            self._busy.add(name)
        self._start(name, draft)

    def _start(self, name: str, draft: Any) -> None:
        try:
            future = self._pool.submit(draft)
        except Exception:  # noqa: BLE001 - invalid or queue full: nothing to do in the background
            self._done(name)
            return
        future.add_done_callback(lambda _f: self._done(name))

    def _done(self, name: str) -> None:
        with self._lock:
            draft = self._waiting.pop(name, None)
            if draft is None:
                self._busy.discard(name)
                return
        self._start(name, draft)
