"""Runtime fixtures: the world server, localized examples compiled once per session, and an engine per
test on a fresh database (SQLite file, or a PostgreSQL schema when its URL is set)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import EXAMPLE_NAMES, EXAMPLES
from worldserver import WorldServer, localize

from app.config import Settings
from app.engine.engine import Engine
from app.store.db import Database
from app.store.models import Artifact


@pytest.fixture(scope="session")
def world():
    server = WorldServer().start()
    yield server
    server.release.set()
    server.stop()


@pytest.fixture(scope="session")
def localized(world, compiler) -> dict:
    """name -> (localized document, CompileResult); compiled two at a time, once per session."""
    base = world.url("").rstrip("/")
    docs = {n: localize(json.loads((EXAMPLES / f"{n}.json").read_text()), base) for n in EXAMPLE_NAMES}
    futures = {n: compiler.submit(doc, with_bundle=False) for n, doc in docs.items()}
    return {n: (docs[n], f.result()) for n, f in futures.items()}


def copy_artifacts(compiler, database_url: str, digests) -> None:
    """Give a fresh database the rows of already compiled artifacts (their files are shared)."""
    db = Database(database_url)
    db.upgrade()
    with compiler.store.db.session() as src, db.session() as dst:
        for d in digests:
            row = src.get(Artifact, d)
            if dst.get(Artifact, d) is None:
                dst.add(Artifact(**{c.name: getattr(row, c.name) for c in Artifact.__table__.columns}))
    db.dispose()


@pytest.fixture
def engine_factory(tmp_path: Path, database_url: str, compiler, monkeypatch):
    """make(digests, **engine kwargs) -> Engine on this test's database, with HTTP allowed to 127.0.0.1."""
    monkeypatch.setenv("WASMFLOW_HTTP_ALLOW_NETWORKS", "127.0.0.1/32")
    engines: list[Engine] = []

    def make(digests=(), **kw) -> Engine:
        copy_artifacts(compiler, database_url, digests)
        settings = Settings.load(tmp_path / "instance", database_url=database_url, artifacts_dir=compiler.store.root)
        from app.runtime.wiring import world_services

        http, secrets = world_services(settings)
        kw.setdefault("poll", False)
        eng = Engine(settings, http=http, secrets=secrets, **kw)
        engines.append(eng)
        return eng

    yield make
    for eng in engines:
        eng.close()
        if eng.world.http is not None:
            eng.world.http.close()
    from app.store.db import close_database

    close_database(database_url)
