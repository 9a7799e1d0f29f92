"""Helpers of the live-event, webhook and schedule tests: a real server on 127.0.0.1 in a thread, an app with
an engine on the test's database, and deployment rows."""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
from pathlib import Path

from support import EXAMPLES
from werkzeug.serving import make_server

from app.config import Settings
from app.engine import runs
from app.store.db import Database, close_database
from app.store.models import Artifact, Deployment, WorkflowVersion


def example(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


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


def deploy_rows(db: Database, name: str, digest: str, *, dsl: dict, version: int = 1, active: bool = True) -> str:
    """Write the version and deployment rows that deploy() writes; returns the webhook token."""
    now = runs.utcnow()
    with db.session() as s:
        if s.get(WorkflowVersion, (name, version)) is None:
            s.add(WorkflowVersion(workflow_name=name, number=version, digest=digest, dsl=dsl, created_at=now))
        dep = s.get(Deployment, name)
        if dep is None:
            dep = Deployment(workflow_name=name, webhook_token=secrets.token_urlsafe(32), deployed_at=now)
            s.add(dep)
        dep.version, dep.active, dep.deployed_at = version, active, now
        return dep.webhook_token


def trigger_app(tmp_path: Path, database_url: str, compiler, *, digests=(), **config):
    """create_app on this test's database with an engine that executes runs (and fires schedules)."""
    from app.api import create_app

    copy_artifacts(compiler, database_url, digests)
    settings = Settings.load(tmp_path / "instance", database_url=database_url, artifacts_dir=compiler.store.root)
    app = create_app({"SETTINGS": settings, "TESTING": True, **config})
    if "wasmflow.engine" not in app.extensions:  # until create_app owns the engine
        from app.api.webhooks import install_triggers
        from app.engine.engine import Engine
        from app.runtime.wiring import world_services

        http, secret_store = world_services(settings)
        engine = Engine(settings, http=http, secrets=secret_store, poll_seconds=0.1)
        app.extensions["wasmflow.engine"] = engine
        install_triggers(app, engine)
    return app


def close_app(app) -> None:
    feed = app.extensions.get("wasmflow.feed")
    if feed is not None:
        feed.close()
    close = app.extensions.get("wasmflow.close")
    if close is not None:
        close()
    else:
        engine = app.extensions["wasmflow.engine"]
        engine.close()
        if engine.world.http is not None:
            engine.world.http.close()
    close_database(app.extensions["wasmflow.settings"].database_url)


@contextlib.contextmanager
def serving(app):
    """Serve ``app`` on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
