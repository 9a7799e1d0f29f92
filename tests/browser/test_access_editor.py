"""Access control in the editor (issue 13), in Chromium against a real ``wasmflow serve`` with WASMFLOW_AUTH=1.

Sign in as an editor (a wrong password and a throttled sign-in are said on the page), design a small workflow,
test-run it in the tab, deploy it, sign out; sign in as an operator: no Deploy, but "Run on server" works; sign
in as a viewer at the workflow's URL: it opens there after sign-in, read-only, no Deploy, no Save, no test run,
"Run on server" disabled with the role it needs, and the API refuses a deploy made from the page with the
viewer's session and CSRF token (403). With auth off nothing of this shows. Screenshots go to
build/screenshots/access-*.png.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from editorui import connect, tid, type_code, wait_saved  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "screenshots"
COMPILE_TIMEOUT_MS = 300_000  # a cold compile takes ~8 s alone, minutes on a loaded two-core machine
PASSWORD = "correct horse battery staple"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"access-{name}.png"))


@pytest.fixture(scope="module")
def people(auth_server):
    """An editor, an operator and a viewer on the auth server, and an admin token for checks through the API."""
    from app import auth
    from app.store import open_database

    db = open_database(auth_server.database_url)
    stamp = int(time.time() * 1000) % 10**8
    made = {}
    for role in ("editor", "operator", "viewer", "admin"):
        email = f"{role}-{stamp}@example.com"
        auth.create_user(db, email, PASSWORD, role=role)
        made[role] = email
    token = auth.create_token(db, made["admin"], "browser-test")["token"]
    made["api"] = httpx.Client(base_url=auth_server.url, timeout=60, headers={"Authorization": f"Bearer {token}"})
    yield made
    made["api"].close()


def sign_in(page, email: str) -> None:
    page.wait_for_selector(tid("signin-form"))
    page.fill(tid("signin-email"), email)
    page.fill(tid("signin-password"), PASSWORD)
    page.click(tid("btn-sign-in"))
    page.wait_for_selector(f"{tid('user-chip')}", timeout=30_000)


def sign_out(page) -> None:
    page.click(tid("btn-sign-out"))
    page.wait_for_selector(tid("signin-form"), timeout=30_000)


def test_sign_in_design_deploy_and_a_viewer_cannot_deploy(page, auth_server, people):
    name = f"access-{int(time.time() * 1000) % 10**8}"
    api = people["api"]
    page.set_viewport_size({"width": 1280, "height": 720})

    # Nobody signed in: the sign-in page, whatever the URL. A wrong password is said as such.
    page.goto(auth_server.url + "/")
    page.wait_for_selector(tid("signin-form"))
    assert page.locator(tid("workflow-list")).count() == 0
    page.fill(tid("signin-email"), people["editor"])
    page.fill(tid("signin-password"), "not the password at all")
    page.click(tid("btn-sign-in"))
    assert page.wait_for_selector(tid("signin-error")).inner_text() == "Wrong email or password."
    shot(page, "01-wrong-password")

    # Five failures for one email from one address lock it (per server process: with two workers it may take
    # up to eleven attempts): the page then says how long to wait.
    locked = f"locked-{name}@example.com"
    page.fill(tid("signin-email"), locked)
    statuses = []
    for _ in range(12):
        page.fill(tid("signin-password"), "wrong wrong wrong")
        with page.expect_response(lambda r: r.url.endswith("/api/auth/login")) as answer:
            page.click(tid("btn-sign-in"))
        statuses.append(answer.value.status)
        page.wait_for_selector(f"{tid('btn-sign-in')}:not([disabled])")
        if statuses[-1] == 429:
            break
    assert statuses[-1] == 429 and set(statuses[:-1]) == {401}, statuses
    assert "Try again in 15 min" in page.inner_text(tid("signin-error"))
    shot(page, "02-throttled")

    # The editor signs in and sees who they are; designs a workflow from the list.
    sign_in(page, people["editor"])
    assert page.inner_text(tid("user-email")) == people["editor"]
    assert page.inner_text(tid("user-role")) == "editor"
    page.wait_for_selector(tid("btn-create"))
    page.fill(tid("new-workflow-name"), name)
    page.click(tid("btn-create"))
    page.wait_for_selector(tid("node-start"))
    page.click(tid("node-start"))
    page.click(tid("palette-transform"))
    page.wait_for_selector(tid("node-transform"))
    connect(page, "handle-start-out", "handle-transform-in")
    page.wait_for_selector(".react-flow__edge", state="attached")
    page.click(tid("node-transform"))
    type_code(page, "/nodes/1/config/expression", "{'answer': 6 * 7}")
    wait_saved(page)  # autosave's PUT went through: it sent the CSRF token
    saved = api.get(f"/api/workflows/{name}").json()["draft"]
    assert [n["id"] for n in saved["nodes"]] == ["start", "transform"]

    # Test run in the tab, then deploy.
    page.click(tid("btn-test-run"))
    page.wait_for_selector(f'{tid("dry-result")}[data-status="succeeded"]', timeout=COMPILE_TIMEOUT_MS)
    assert "42" in page.inner_text(tid("node-output-transform"))
    page.click(tid("btn-deploy"))
    page.wait_for_selector(tid("deploy-version"), timeout=COMPILE_TIMEOUT_MS)
    assert page.inner_text(tid("deploy-version")).strip().lstrip("v") == "1"
    deployed = api.get(f"/api/workflows/{name}").json()["deployment"]
    digest = deployed["digest"]
    assert deployed["version"] == 1 and len(digest) == 64
    shot(page, "03-editor-deployed")

    # Sign out: the sign-in page; the session is gone on the server too.
    sign_out(page)
    assert page.evaluate("async () => (await fetch('/api/workflows')).status") == 401

    # The operator: no Deploy, no test run, but a run on the server of the deployed version.
    sign_in(page, people["operator"])  # back where the editor signed out: the workflow
    assert page.url.endswith(f"#/w/{name}")
    page.wait_for_selector(tid("node-transform"))
    assert page.locator(tid("btn-deploy")).count() == 0
    assert page.locator(tid("btn-test-run")).count() == 0
    assert page.locator(tid("read-only")).is_visible()
    page.click(tid("bottom-tab-runs"))
    run_button = page.wait_for_selector(tid("btn-run-server"))
    assert run_button.is_enabled()
    run_button.click()
    page.wait_for_selector('[data-testid^="run-row-"][data-status="succeeded"]', timeout=60_000)
    shot(page, "04-operator-ran-on-server")
    page.click(tid("link-home"))
    page.wait_for_selector(tid(f"open-{name}"))
    assert page.locator(tid("btn-create")).count() == 0  # creating workflows needs an editor
    assert page.locator(tid(f"delete-{name}")).count() == 0
    sign_out(page)

    # The viewer, going straight to the workflow: after sign-in it opens there, read-only.
    page.goto(f"{auth_server.url}/#/w/{name}")
    page.wait_for_selector(tid("signin-form"))
    shot(page, "05-sign-in")
    sign_in(page, people["viewer"])
    page.wait_for_selector(tid("node-transform"))
    assert page.url.endswith(f"#/w/{name}")
    assert page.inner_text(tid("user-role")) == "viewer"
    for absent in ("btn-deploy", "btn-save", "btn-test-run", "save-state"):
        assert page.locator(tid(absent)).count() == 0, absent
    chip = page.locator(tid("read-only"))
    assert "needs the role editor" in chip.get_attribute("title")
    page.click(tid("bottom-tab-runs"))
    run_button = page.wait_for_selector(tid("btn-run-server"))
    assert run_button.is_disabled()
    assert "needs the role operator" in run_button.get_attribute("title")
    shot(page, "06-viewer-read-only")

    # The server refuses the viewer's deploy, sent from the page with the session and its CSRF token.
    answer = page.evaluate(
        """async ([name, digest]) => {
            const me = await (await fetch('/api/auth/me')).json();
            const r = await fetch(`/api/workflows/${name}/deploy`, {
                method: 'POST',
                headers: {'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf},
                body: JSON.stringify({digest}),
            });
            return {status: r.status, body: await r.json(), csrf: !!me.csrf};
        }""",
        [name, digest],
    )
    assert answer["csrf"]
    assert answer["status"] == 403, answer
    assert answer["body"]["error"]["code"] == "forbidden"  # the role, not a missing CSRF token
    assert api.get(f"/api/workflows/{name}").json()["deployment"]["version"] == 1
    assert not [c for c in page.console if c.startswith("pageerror")], page.console


def test_a_lost_session_returns_to_the_sign_in_page(page, auth_server, people):
    page.goto(auth_server.url + "/#/runs")
    sign_in(page, people["viewer"])
    page.wait_for_selector(tid("runs-filter-status"))
    # The session ends elsewhere (sign-out in another tab): the next call's 401 shows the sign-in page.
    page.evaluate(
        """async () => {
            const me = await (await fetch('/api/auth/me')).json();
            await fetch('/api/auth/logout', {method: 'POST', headers: {'X-CSRF-Token': me.csrf}});
        }"""
    )
    page.click(tid("btn-runs-refresh"))
    page.wait_for_selector(tid("signin-form"), timeout=30_000)
    assert page.url.endswith("#/runs")


def test_with_auth_off_there_is_no_sign_in_and_no_user(page, live_server):
    page.goto(live_server.url + "/")
    page.wait_for_selector(tid("btn-create"))
    assert page.locator(tid("signin-form")).count() == 0
    assert page.locator(tid("user-chip")).count() == 0
