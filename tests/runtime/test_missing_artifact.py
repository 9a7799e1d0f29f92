"""A run whose digest this process's artifact store lacks (a worker with the wrong WASMFLOW_ARTIFACTS_DIR)
stops as needs_attention, saying which folder it looked in, instead of being claimed and dropped forever."""

from __future__ import annotations

import sqlalchemy as sa

from app.engine import runs
from app.store.models import Run


def test_a_missing_artifact_stops_the_run_for_a_person(engine_factory):
    engine = engine_factory()
    with engine.db.session() as s:
        run_id = runs.create_run(s, workflow_name="gone", digest="ab" * 32, input={})
    outcome = engine.run_sync(run_id)
    assert outcome.status == runs.NEEDS_ATTENTION
    assert outcome.error["code"] == "artifact_missing"
    assert str(engine.store.root) in outcome.error["message"] and "resume" in outcome.error["message"]
    with engine.db.session() as s:
        run = s.execute(sa.select(Run).where(Run.id == run_id)).scalar_one()
        assert run.status == runs.NEEDS_ATTENTION and run.lease_owner is None
