"""Browser test fixtures: Debian's Chromium driven by Playwright, a real ``wasmflow serve`` with the editor
build, and a page that records every request it makes and leaves screenshots under test-output/browser/.

Fixtures (all tests here are marked ``browser``):
  chromium     session: a Playwright Browser on /usr/bin/chromium (skipped when it is missing, except in CI,
               where a missing Chromium fails)
  live_server  session: a LiveServer (``.url``, ``.client`` an httpx.Client on it, ``.database_url``,
               ``.instance_dir``, ``.add_artifacts(digests)``); artifacts are shared with the session compiler
  auth_server  session: the same with access control on (WASMFLOW_AUTH=1), no users yet
  page         a fresh page of a fresh context; ``page.requests`` lists every request URL it made
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "api"))  # apihelpers.copy_artifacts: one copy of that helper

from apihelpers import copy_artifacts  # noqa: E402
from support import wasmflow_serve  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STATIC = ROOT / "static"
OUTPUT = ROOT / "test-output" / "browser"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing (CI must run the browser tests: apt-get install -y chromium)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium); browser tests need Debian's Chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def _ensure_static() -> None:
    """The editor build must exist (``npm run build``); build it once if it does not."""
    if (STATIC / "index.html").is_file() and (STATIC / "dryrun.html").is_file():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("static/ has no editor build and npm is not on PATH to make one (npm run build)")
    proc = subprocess.run([npm, "run", "build"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 or not (STATIC / "dryrun.html").is_file():
        pytest.fail(f"npm run build failed (exit {proc.returncode}): {(proc.stderr or proc.stdout)[-2000:]}")


@dataclass
class LiveServer:
    url: str
    client: httpx.Client
    database_url: str
    instance_dir: Path
    compiler: object

    def add_artifacts(self, digests) -> None:
        """Make already compiled artifacts known to this server (rows copied, files shared): compiles hit."""
        copy_artifacts(self.compiler, self.database_url, list(digests))


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory, compiler):
    """A real ``wasmflow serve`` subprocess on a free port, with its own instance and SQLite database; HTTP
    nodes may reach 127.0.0.1 (the test world servers). Its log is printed when it fails to start."""
    yield from _live_server(tmp_path_factory, compiler, "live", {})


@pytest.fixture(scope="session")
def auth_server(tmp_path_factory: pytest.TempPathFactory, compiler):
    """Like ``live_server``, with access control on (``WASMFLOW_AUTH=1``): no users yet (make them with
    ``app.auth.create_user`` on ``.database_url``); ``.client`` sends no credentials."""
    yield from _live_server(tmp_path_factory, compiler, "live-auth", {"WASMFLOW_AUTH": "1"})


def _live_server(tmp_path_factory: pytest.TempPathFactory, compiler, name: str, extra_env: dict[str, str]):
    _ensure_static()
    base_dir = tmp_path_factory.mktemp(name)
    instance = base_dir / "instance"
    instance.mkdir()
    database_url = f"sqlite:///{base_dir / 'wasmflow.db'}"
    copy_artifacts(compiler, database_url, [])  # creates the schema before the server starts
    # A private copy of the build: another `npm run build` empties static/ while it writes.
    static_copy = base_dir / "static"
    shutil.copytree(STATIC, static_copy)
    env = {
        "WASMFLOW_DATABASE_URL": database_url,
        "WASMFLOW_ARTIFACTS_DIR": str(compiler.store.root),
        "WASMFLOW_HTTP_ALLOW_NETWORKS": "127.0.0.1/32",
        "WASMFLOW_EDITOR_STATIC_DIR": str(static_copy),
        **extra_env,
    }
    with wasmflow_serve(instance, env, base_dir / "server.log") as url:
        with httpx.Client(base_url=url, timeout=60) as client:
            yield LiveServer(url, client, database_url, instance, compiler)


@pytest.fixture
def orders_world():
    """The "outside world" an editor workflow calls: a real local server recording every request."""
    from httpserver import TestServer

    with TestServer() as srv:
        srv.route("/orders/total", json={"total": 21, "currency": "EUR"})
        yield srv


@pytest.fixture
def page(chromium, request: pytest.FixtureRequest):
    """A page in a fresh context. ``page.requests`` records every request URL it makes (to assert that
    nothing leaves the browser); a screenshot is saved under test-output/browser/<test>.png at the end."""
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    pg.requests = []  # every request of the context: the page's and its workers'
    pg.console = []
    context.on("request", lambda r: pg.requests.append(r.url))
    pg.on("console", lambda m: pg.console.append(f"{m.type}: {m.text}"))
    pg.on("pageerror", lambda e: pg.console.append(f"pageerror: {e}"))
    yield pg
    OUTPUT.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    try:
        pg.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)
    except Exception as exc:  # noqa: BLE001 - a closed page must not hide the test's own result
        print(f"screenshot of {name} failed: {exc}")
    context.close()
