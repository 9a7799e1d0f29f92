"""Shared fixtures: a fresh instance folder and SQLite file per test, PostgreSQL when its URL is set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import EXAMPLE_NAMES, EXAMPLES, POSTGRES_URL  # noqa: F401 - shared with the tests


def pytest_configure(config: pytest.Config) -> None:
    """Every instance a test makes shares one shared-runtime folder (built once; keyed by its inputs): in
    ``WASMFLOW_TEST_CACHE`` when set, else in the session's temporary folder. The user's own cache stays out."""
    if os.environ.get("WASMFLOW_RUNTIME_DIR"):
        return
    cache = os.environ.get("WASMFLOW_TEST_CACHE")
    if cache:
        os.environ["WASMFLOW_RUNTIME_DIR"] = str(Path(cache).resolve() / "runtime")
    else:
        import tempfile

        os.environ["WASMFLOW_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="wasmflow-runtime-")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite golden files from the current output instead of comparing (review the diff)",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture
def instance_dir(tmp_path: Path) -> Path:
    d = tmp_path / "instance"
    d.mkdir()
    return d


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'wasmflow.db'}"


def _db_params() -> list:
    params = [pytest.param("sqlite", id="sqlite")]
    params.append(
        pytest.param(
            "postgres",
            id="postgres",
            marks=pytest.mark.skipif(not POSTGRES_URL, reason="WASMFLOW_TEST_POSTGRES_URL not set"),
        )
    )
    return params


@pytest.fixture(params=_db_params())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database: a SQLite file per test, or a fresh schema on the PostgreSQL server when its URL is set."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'wasmflow.db'}"
    import uuid

    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    request.addfinalizer(lambda: _drop_schema(engine, schema))
    sep = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"


def _drop_schema(engine, schema: str) -> None:
    import sqlalchemy as sa

    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture(scope="session")
def test_settings(tmp_path_factory: pytest.TempPathFactory):
    """Settings of a session-wide instance for compiled artifacts.

    ``WASMFLOW_TEST_CACHE`` (set by the Makefile to build/test-cache) keeps artifacts between runs: the digest
    covers the compiler's own source, so a changed compiler never reuses a stale artifact.
    """
    from app.config import Settings

    cache = os.environ.get("WASMFLOW_TEST_CACHE")
    inst = Path(cache).resolve() if cache else tmp_path_factory.mktemp("compiled")
    inst.mkdir(parents=True, exist_ok=True)
    return Settings.load(inst, database_url=f"sqlite:///{inst / 'wasmflow.db'}", compile_concurrency=2)


@pytest.fixture(scope="session")
def compiler(test_settings):
    from app.compiler import open_compiler

    pool = open_compiler(test_settings)
    yield pool
    pool.shutdown()


@pytest.fixture(scope="session")
def compiled_examples(compiler) -> dict:
    """Every example compiled once per session (two at a time): name -> CompileResult."""
    futures = {name: compiler.submit((EXAMPLES / f"{name}.json").read_bytes()) for name in EXAMPLE_NAMES}
    return {name: f.result() for name, f in futures.items()}
