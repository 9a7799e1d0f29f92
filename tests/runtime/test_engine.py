"""Runs end to end: every example against a real local server, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from scenarios import SCENARIOS
from support import EXAMPLE_NAMES, GOLDEN, check_golden
from worldserver import normalize

from app.engine import approvals, runs
from app.engine.queries import run_details
from app.store.models import KvEntry

pytestmark = pytest.mark.slow


def _seed_kv(engine, workflow: str, kv: dict) -> None:
    now = runs.utcnow()
    with engine.db.session() as s:
        for (ns, key), value in kv.items():
            s.add(KvEntry(workflow_name=workflow, namespace=ns, key=key, value=value, updated_at=now))


def _decide_pending_approvals(engine, run_id: str, decision: dict) -> int:
    from app.store.models import Wait

    with engine.db.session() as s:
        keys = [w.key for w in s.query(Wait).filter_by(run_id=run_id, kind="approval", status="pending")]
    for key in keys:
        approvals.decide(engine.db, key, approve=decision["approved"], by=decision["by"], reason=decision["reason"])
    return len(keys)


def run_example(engine, world, name: str, localized) -> dict:
    doc, compiled = localized[name]
    scenario = SCENARIOS[name]
    world.use(name)
    _seed_kv(engine, doc["name"], scenario.kv)
    for secret in compiled.artifact.manifest["secrets"]:
        engine.world.secrets.set(secret, f"value-of-{secret.lower()}")
    run_id = engine.create_run(compiled.digest, scenario.input)
    outcome = engine.run_sync(run_id)
    while outcome.status == runs.WAITING:
        assert _decide_pending_approvals(engine, run_id, scenario.approval) == 1
        outcome = engine.run_sync(run_id)
    assert outcome.status == runs.SUCCEEDED, outcome.error
    return {"run_id": run_id, "output": outcome.output}


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_runs_end_to_end(engine_factory, world, localized, name, update_golden):
    engine = engine_factory([localized[name][1].digest])
    result = run_example(engine, world, name, localized)
    details = run_details(engine.db, result["run_id"], with_journal=True)
    golden = {
        "output": normalize(result["output"]["output"]),
        "http": [f"{r.method} {r.path.split('/', 2)[1]}" for r in world.effects],
        "events": [e["type"] + (f" {e['node']}" if e["node"] else "") for e in details["events"]],
        "journal": [f"{j['seq']} {j['capability']} {j['state']}" for j in details["journal"]],
    }
    check_golden(GOLDEN / "runtime" / f"{name}.json", json.dumps(golden, indent=2) + "\n", update_golden)
    # every journaled side effect reached the world exactly once, with its own key
    keys = [r.header("idempotency-key") for r in world.effects]
    assert len(keys) == len(set(keys)) and all(k.startswith(result["run_id"] + ":") for k in keys)
    assert world.repeats == []
    # secrets were injected by the host (the guest only named them)
    secrets = localized[name][1].artifact.manifest["secrets"]
    sent = [v for r in world.effects for k, v in r.headers.items() if k in ("authorization", "x-api-key")]
    assert sent and all(any(f"value-of-{s.lower()}" in v for s in secrets) for v in sent), sent
    assert details["status"] == "succeeded" and details["executions"] >= 1
