"""Claiming due runs: bounded by the claimer's capacity, and disjoint between concurrent claimers."""

from __future__ import annotations

import pytest

from app.engine import runs
from app.store.db import Database


@pytest.fixture
def db(database_url: str):
    d = Database(database_url)
    d.upgrade()
    yield d
    d.dispose()


def _queue(db: Database, n: int) -> list[str]:
    with db.session() as s:
        return [runs.create_run(s, workflow_name="w", digest="0" * 64, input={"i": i}) for i in range(n)]


def test_claim_due_takes_at_most_limit_and_records_the_start(db):
    ids = _queue(db, 10)
    with db.session() as s:
        first = runs.claim_due(s, owner="a", lease_seconds=30, limit=4)
    assert first == ids[:4]  # oldest first
    with db.session() as s:
        rest = runs.claim_due(s, owner="b", lease_seconds=30, limit=100)
        assert runs.claim_due(s, owner="c", lease_seconds=30, limit=100) == []
    assert rest == ids[4:]
    with db.session() as s:
        run = runs.get_run(s, ids[0])
        assert (run.status, run.lease_owner, run.executions) == (runs.RUNNING, "a", 1)


def test_concurrent_claimers_get_disjoint_runs_on_postgres(db):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite serializes writers")
    _queue(db, 10)
    a = db._sessions()
    a.begin()
    try:
        got_a = runs.claim_due(a, owner="a", lease_seconds=30, limit=6)  # rows locked, not committed yet
        with db.session() as b:
            got_b = runs.claim_due(b, owner="b", lease_seconds=30, limit=6)  # does not wait for a
        a.commit()
    finally:
        a.close()
    assert len(got_a) == 6 and len(got_b) == 4
    assert not set(got_a) & set(got_b)
