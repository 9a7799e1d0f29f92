"""The compiler: DSL -> generated guest module -> WebAssembly component, manifest and browser bundle.

``open_compiler(settings)`` gives a ``CompilePool`` over the instance's artifact store; the CLI, the API
and tests all compile through it.
"""

from __future__ import annotations

from app.compiler.artifacts import ArtifactInfo, ArtifactStore
from app.compiler.pipeline import CompileResult, prepare
from app.compiler.pool import CompilePool
from app.config import Settings
from app.store import open_database

__all__ = ["ArtifactInfo", "ArtifactStore", "CompilePool", "CompileResult", "open_compiler", "prepare"]


def open_compiler(settings: Settings) -> CompilePool:
    settings.ensure_dirs()
    db = open_database(settings.database_url)
    store = ArtifactStore(settings.artifacts_dir, db)
    store.sweep_staging(older_than_seconds=settings.compile_timeout_seconds * 2)
    return CompilePool(
        store,
        concurrency=settings.compile_concurrency,
        timeout=settings.compile_timeout_seconds,
    )
