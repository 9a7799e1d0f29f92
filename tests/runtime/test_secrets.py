"""Secrets at rest (SQLite, and PostgreSQL when its URL is set), the key rules, the Redactor and the CLI."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from cryptography.fernet import Fernet

from app.cli import cli
from app.errors import FatalError, NotFound, UserError
from app.runtime.redact import Redactor, basic_auth_token
from app.runtime.secrets import ENV_KEY, KEY_FILE, SecretBox, SecretStore, open_secret_store
from app.store.db import Database
from app.store.models import Secret

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_KEY, raising=False)


@pytest.fixture
def db(database_url: str):
    database = Database(database_url)
    database.upgrade()
    yield database
    database.dispose()


def test_round_trip_is_encrypted_at_rest(db: Database, instance_dir: Path) -> None:
    store = open_secret_store(db, instance_dir)
    assert store.set("API_TOKEN", "tok-123 é") is True
    assert store.set("API_TOKEN", "tok-456") is False
    store.set("B_KEY", "b")
    assert store.names() == ["API_TOKEN", "B_KEY"]
    assert store.value("API_TOKEN") == "tok-456"
    assert store.value("MISSING") is None
    assert store.values(["API_TOKEN", "MISSING"]) == {"API_TOKEN": "tok-456"}
    with db.session() as s:
        raw = s.scalar(sa.select(Secret.ciphertext).where(Secret.name == "API_TOKEN"))
    assert b"tok-456" not in bytes(raw)
    store.delete("B_KEY")
    assert store.names() == ["API_TOKEN"]
    with pytest.raises(NotFound, match="no secret named B_KEY"):
        store.delete("B_KEY")
    # A new process with the same key file reads the same secrets.
    assert open_secret_store(db, instance_dir).value("API_TOKEN") == "tok-456"


def test_key_file_is_created_private_on_first_start(db: Database, instance_dir: Path) -> None:
    open_secret_store(db, instance_dir)
    path = instance_dir / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    Fernet(path.read_bytes().strip())  # a valid key


def test_env_key_wins_and_no_file_is_written(db: Database, instance_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv(ENV_KEY, Fernet.generate_key().decode())
    open_secret_store(db, instance_dir).set("A", "1")
    assert not (instance_dir / KEY_FILE).exists()
    assert open_secret_store(db, instance_dir).value("A") == "1"


def test_wrong_key_is_secret_key_mismatch(db: Database, instance_dir: Path, monkeypatch) -> None:
    open_secret_store(db, instance_dir).set("A", "1")
    monkeypatch.setenv(ENV_KEY, Fernet.generate_key().decode())
    with pytest.raises(FatalError) as info:
        open_secret_store(db, instance_dir)
    assert info.value.code == "secret_key_mismatch"
    assert "not the key they were written with" in info.value.message
    assert ENV_KEY in info.value.message and str(instance_dir / KEY_FILE) in info.value.message
    with pytest.raises(FatalError, match="does not decrypt"):
        SecretStore(db, SecretBox.load(instance_dir), instance_dir=instance_dir).value("A")


def test_missing_key_with_secrets_never_generates_a_new_one(db: Database, instance_dir: Path) -> None:
    open_secret_store(db, instance_dir).set("A", "1")
    (instance_dir / KEY_FILE).unlink()
    with pytest.raises(FatalError) as info:
        open_secret_store(db, instance_dir)
    assert info.value.code == "secret_key_missing"
    assert not (instance_dir / KEY_FILE).exists()
    store = SecretStore(db, None, instance_dir=instance_dir)
    with pytest.raises(FatalError) as info:
        store.check_key()
    assert info.value.code == "secret_key_missing"
    store.delete("A")  # the way out: delete, then a fresh key is created
    open_secret_store(db, instance_dir).set("A", "2")


def test_invalid_key_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setenv(ENV_KEY, "not-a-key")
    with pytest.raises(FatalError) as info:
        SecretBox.load("/nonexistent")
    assert info.value.code == "secret_key_invalid" and "not-a-key" not in info.value.message


@pytest.mark.parametrize("name", ["", "lower", "1ABC", "A-B", "A" * 65, "ÄB"])
def test_bad_names_are_user_errors_naming_the_field(db: Database, instance_dir: Path, name: str) -> None:
    with pytest.raises(UserError) as info:
        open_secret_store(db, instance_dir).set(name, "v")
    assert info.value.details == {"field": "name"} and info.value.message.startswith("name:")


def test_empty_value_is_refused(db: Database, instance_dir: Path) -> None:
    with pytest.raises(UserError, match="non-empty"):
        open_secret_store(db, instance_dir).set("A", "")


# --- Redactor --------------------------------------------------------------------------------------------


def test_redacts_values_and_encoded_forms_everywhere() -> None:
    secret = "p@ss word/+="
    r = Redactor({"PW": secret, "EMPTY": "", "OTHER": "zzz-other"})
    r.add(basic_auth_token("bot", secret), "PW")
    doc = {
        "plain": f"token={secret};",
        "b64": base64.b64encode(secret.encode()).decode(),
        "url": f"https://x/?k={quote(secret, safe='')}",
        "basic": "Basic " + basic_auth_token("bot", secret),
        secret: [1, None, True, {"nested": ("zzz-other", 2.5)}],
    }
    out = r.redact(doc)
    assert out == {
        "plain": "token=[secret:PW];",
        "b64": "[secret:PW]",
        "url": "https://x/?k=[secret:PW]",
        "basic": "Basic [secret:PW]",
        "[secret:PW]": [1, None, True, {"nested": ["[secret:OTHER]", 2.5]}],
    }
    assert doc["plain"] == f"token={secret};"  # a copy, the input is untouched
    assert r.redact_text("nothing here") == "nothing here"


def test_longest_token_wins() -> None:
    r = Redactor({"SHORT": "abcd", "LONG": "abcdefgh"})
    assert r.redact_text("xabcdefghx abcd") == "x[secret:LONG]x [secret:SHORT]"


def test_empty_redactor_is_identity() -> None:
    r = Redactor({})
    assert not r and r.redact({"a": ["b"]}) == {"a": ["b"]}


def test_large_documents_are_scanned_once_per_string() -> None:
    """200 secrets (and their derived forms) cost one scan of each string, not one scan per secret."""
    values = {f"S{i}": f"secret-value-{i:04d}-" + "x" * 20 for i in range(200)}
    r = Redactor(values)
    doc = {"rows": [{"id": i, "text": "lorem ipsum dolor sit amet " * 20} for i in range(5000)]}
    doc["rows"][4321]["text"] += values["S77"]
    pattern = r._compiled()
    scans: list[str] = []

    class Counting:
        def sub(self, repl, text):  # noqa: ANN001, ANN202 - mirrors re.Pattern.sub
            scans.append(text)
            return pattern.sub(repl, text)

    r._pattern = Counting()  # type: ignore[assignment]
    out = r.redact(doc)
    # "rows", then per row its keys "id" and "text" and the text value (the id is an int): one scan each
    assert len(scans) == 1 + 5000 * 3
    assert out["rows"][4321]["text"].endswith("[secret:S77]")
    assert out["rows"][0]["text"] == doc["rows"][0]["text"]


# --- CLI -------------------------------------------------------------------------------------------------


def invoke(instance: Path, *args: str, input: str | None = None):
    return CliRunner().invoke(cli, ["--instance", str(instance), "secrets", *args], input=input)


def test_cli_set_list_delete(instance_dir: Path) -> None:
    res = invoke(instance_dir, "set", "API_TOKEN", input="hunter22\nhunter22\n")
    assert res.exit_code == 0, res.output
    assert "secret API_TOKEN created" in res.output and "hunter22" not in res.output
    res = invoke(instance_dir, "set", "OTHER", "--from-stdin", input="from-pipe\n")
    assert res.exit_code == 0 and "secret OTHER created" in res.output
    assert invoke(instance_dir, "list").output.split() == ["API_TOKEN", "OTHER"]
    assert json.loads(invoke(instance_dir, "list", "--json").output) == {
        "secrets": ["API_TOKEN", "OTHER"],
        "grants": {"API_TOKEN": None, "OTHER": None},
    }
    # a grant to chosen workflows, and a secret of another workspace (which must exist first)
    res = invoke(instance_dir, "grant", "OTHER", "sync-orders", "report")
    assert res.exit_code == 0 and "granted to sync-orders, report" in res.output, res.output
    assert "OTHER  (only report, sync-orders)" in invoke(instance_dir, "list").output
    res = invoke(instance_dir, "set", "TEAM_KEY", "--from-stdin", "--workspace", "team-b", input="x\n")
    assert res.exit_code != 0 and "no workspace team-b" in res.output
    db = Database(f"sqlite:///{instance_dir / 'wasmflow.db'}")
    assert open_secret_store(db, instance_dir).value("OTHER") == "from-pipe"
    db.dispose()
    assert invoke(instance_dir, "delete", "OTHER").output.strip() == "secret OTHER deleted"
    res = invoke(instance_dir, "delete", "OTHER")
    assert res.exit_code == 3 and "error: no secret named OTHER" in res.output


def test_cli_errors_are_one_line(instance_dir: Path) -> None:
    res = invoke(instance_dir, "set", "bad-name", "--from-stdin", input="v")
    assert res.exit_code == 3 and res.output.strip().startswith("error: name: 'bad-name' is not a valid")
    res = invoke(instance_dir, "set", "A", "--from-stdin", input="")
    assert res.exit_code == 3 and "non-empty" in res.output
    res = invoke(instance_dir, "set", "A", "value-as-argument")
    assert res.exit_code == 2  # there is no way to pass a value as an argument


def test_cli_reports_a_wrong_key(instance_dir: Path, monkeypatch) -> None:
    assert invoke(instance_dir, "set", "A", "--from-stdin", input="v").exit_code == 0
    monkeypatch.setenv(ENV_KEY, Fernet.generate_key().decode())
    res = invoke(instance_dir, "set", "B", "--from-stdin", input="v")
    assert res.exit_code == 3 and "not the key they were written with" in res.output


def test_real_entry_point_in_a_subprocess(tmp_path: Path) -> None:
    instance = tmp_path / "inst"
    env = {k: v for k, v in os.environ.items() if k not in (ENV_KEY, "WASMFLOW_DATABASE_URL", "WASMFLOW_INSTANCE")}
    base = [sys.executable, "-c", "from app.cli import main; main()", "--instance", str(instance), "secrets"]
    done = subprocess.run(
        [*base, "set", "GH_TOKEN", "--from-stdin"],
        input="ghp_abc\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "ghp_abc" not in done.stdout + done.stderr
    listed = subprocess.run([*base, "list"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert listed.returncode == 0 and listed.stdout.split() == ["GH_TOKEN"]
    assert stat.S_IMODE((instance / KEY_FILE).stat().st_mode) == 0o600
