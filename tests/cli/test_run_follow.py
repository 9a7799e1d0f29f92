"""``wasmflow run FILE`` next to a real ``wasmflow serve`` on the same instance: when the server claims the new
run first, the command follows it there and prints its result as if it had run it (docs/cli.md). Also: its
``--input`` is parsed like a DSL document (a duplicate key is an error naming its pointer)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from apihelpers import copy_artifacts
from support import wasmflow_serve
from test_remote_cli import WASMFLOW, cli

from app.store import open_database
from app.store.db import close_database
from app.store.models import Event, Run

pytestmark = pytest.mark.slow

DOC = {
    "dsl": "wasmflow/1",
    "name": "cli-double",
    "inputs": {"type": "object", "properties": {"n": {"type": "integer"}}},
    "nodes": [
        {"id": "start", "type": "trigger.manual"},
        {"id": "double", "type": "transform", "config": {"expression": "input['n'] * 2"}},
    ],
    "edges": [{"from": "start", "to": "double"}],
}
HOLDER = "held-by-test"

# Every new run is inserted already leased to HOLDER (until the year 9999), so that `wasmflow run` cannot claim
# the run it just created, whatever the timing; the test then lets the lease expire and the server takes over.
_HOLD = {
    "sqlite": [
        f"""CREATE TRIGGER hold_new_runs AFTER INSERT ON runs BEGIN
            UPDATE runs SET status = 'running', lease_owner = '{HOLDER}',
                lease_expires_at = '9999-12-31 00:00:00.000000' WHERE id = NEW.id; END"""
    ],
    "postgresql": [
        f"""CREATE FUNCTION hold_new_run() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
            NEW.status := 'running'; NEW.lease_owner := '{HOLDER}';
            NEW.lease_expires_at := '9999-12-31 00:00:00+00'; RETURN NEW; END $$""",
        "CREATE TRIGGER hold_new_runs BEFORE INSERT ON runs FOR EACH ROW EXECUTE FUNCTION hold_new_run()",
    ],
}


@pytest.fixture
def instance(tmp_path, database_url, compiler):
    """An instance whose database knows DOC's compiled artifact; yields (instance dir, env, database)."""
    digest = compiler.submit(DOC).result().digest
    copy_artifacts(compiler, database_url, [digest])
    env = {"WASMFLOW_DATABASE_URL": database_url, "WASMFLOW_ARTIFACTS_DIR": str(compiler.store.root)}
    db = open_database(database_url)
    yield tmp_path / "instance", env, db
    close_database(database_url)


def test_run_follows_a_run_the_server_claimed_first(tmp_path, instance):
    inst, env, db = instance
    (tmp_path / "double.json").write_text(json.dumps(DOC))
    with wasmflow_serve(inst, env, tmp_path / "server.log"):
        with db.session() as s:
            for statement in _HOLD[s.bind.dialect.name]:
                s.execute(sa.text(statement))
        proc = subprocess.Popen(
            [WASMFLOW, "--instance", str(inst), "run", str(tmp_path / "double.json"), "--input", '{"n": 21}'],
            cwd=tmp_path,
            env={**os.environ, "NO_COLOR": "1", **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        stderr: list[str] = []
        following = threading.Event()

        def read_stderr() -> None:
            for line in proc.stderr:
                stderr.append(line)
                if "following it" in line:
                    following.set()
            following.set()  # exited without following: the assertion below says why

        reader = threading.Thread(target=read_stderr, daemon=True)
        reader.start()
        try:
            following.wait(180)
            assert any("following it" in line for line in stderr), "".join(stderr)  # its claim was refused
            with db.session() as s:  # the holder "dies": the server's poller takes the orphaned run over
                s.execute(
                    sa.update(Run)
                    .where(Run.lease_owner == HOLDER)
                    .values(lease_expires_at=datetime(2000, 1, 1, tzinfo=UTC))
                )
            proc.wait(timeout=180)  # not communicate(): stderr is the reader's alone
            out = proc.stdout.read()  # a few bytes: they fit the pipe while it runs
            reader.join(30)
        finally:
            if proc.poll() is None:
                proc.kill()
    text = "".join(stderr)
    assert proc.returncode == 0, text
    assert json.loads(out) == 42  # printed as if this process had run it
    assert "run.succeeded" in text and "lease held by" not in text
    with db.session() as s:
        run = s.execute(sa.select(Run)).scalar_one()
        started = s.execute(sa.select(Event).where(Event.run_id == run.id, Event.type == "run.started")).scalar_one()
    assert run.status == "succeeded" and f":{proc.pid}:" not in started.data["owner"]  # the server ran it


def test_run_input_with_a_duplicate_key_names_it(tmp_path):
    (tmp_path / "double.json").write_text(json.dumps(DOC))
    bad = cli("--instance", str(tmp_path / "i"), "run", "double.json", "--input", '{"n": 1, "n": 2}', cwd=tmp_path)
    assert bad.returncode == 3
    assert bad.stderr.strip() == 'error: --input: the key "n" appears twice in one object (at /n)'
    deep = cli(
        "--instance", str(tmp_path / "i"), "run", "double.json", "--input", "[" * 2000 + "]" * 2000, cwd=tmp_path
    )
    assert deep.returncode == 3 and "nested more than" in deep.stderr
    (tmp_path / "dup.json").write_text(json.dumps(DOC).replace('"name": "cli-double"', '"name": "a", "name": "b"'))
    validated = cli("validate", "dup.json", "--json", cwd=tmp_path)
    assert validated.returncode == 1
    assert [(e["path"], e["code"]) for e in json.loads(validated.stdout)["errors"]] == [("/name", "duplicate_key")]
