"""API fixtures: an app with its engine on a fresh database per test, sharing artifacts compiled once per
session (examples, and two small versions of a workflow with a short ``wait``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from apihelpers import copy_artifacts, wait_doc

from app.config import Settings
from app.store.db import close_database


@pytest.fixture(scope="session")
def wait_digests(compiler) -> dict[str, str]:
    """v1/v2 of api-wait compiled once per session, with their browser bundle, so that a compile through the
    API (which always wants the bundle) is a plain cache hit."""
    futures = {v: compiler.submit(wait_doc(v)) for v in ("v1", "v2")}
    return {v: f.result().digest for v, f in futures.items()}


@pytest.fixture
def artifact_digests(compiled_examples, wait_digests) -> list[str]:
    return [r.digest for r in compiled_examples.values()] + list(wait_digests.values())


@pytest.fixture
def api_settings(tmp_path: Path, database_url: str, compiler) -> Settings:
    return Settings.load(tmp_path / "instance", database_url=database_url, artifacts_dir=compiler.store.root)


@pytest.fixture
def make_app(api_settings, database_url, compiler, artifact_digests):
    """make(**config) -> app on this test's database with every session artifact known; closed after the test."""
    from app.api import create_app

    copy_artifacts(compiler, database_url, artifact_digests)
    apps = []

    def make(**config):
        config.setdefault("ENGINE_POLL", False)
        config.setdefault("DRAFT_PRECOMPILE", False)  # background compiles of saved drafts: tested on their own
        app = create_app({"SETTINGS": api_settings, "TESTING": True, **config})
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["wasmflow.close"]()
    close_database(database_url)


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()
