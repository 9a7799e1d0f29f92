"""Editor figures in Debian's Chromium against a real `wasmflow serve`: first load (time and bytes), "Test run"
to the first node result (artifact already compiled, and cold compile), and frame times while dragging a node
of a 200-node workflow.

Run: .venv/bin/python bench/editor.py [--repeat 5] [--skip-cold] [--keep]

A `wasmflow serve` subprocess listens on a free port on 127.0.0.1 with a fresh instance and SQLite database
under build/bench-editor-<random>/ (removed at the end unless --keep). The editor build in static/ must exist
(`make install` or `npm run build`). Chromium runs headless with the flags of TOOLCHAIN.md.

1. first load: a new browser context (empty cache) opens `/` and then a workflow `#/w/<name>`; time is from
   navigation start until the workflow list / the canvas with its nodes is on screen; bytes are the sum of
   `transferSize` (over the wire) and `decodedBodySize` of every resource the page fetched.
2. test run, cached: the workflow was compiled (its artifact exists on the server). t0 is the click on
   "Test run"; the figure is the time until the first node shows a result on the canvas (a
   `node-status-*` with data-status succeeded). Measured in a fresh tab (bundle fetched over HTTP, compiled
   by the browser) and again in the same tab (bundle in the browser's cache).
3. test run, cold: a workflow whose digest the server has never built (a unique constant in its
   expression), the same measurement including the server's compile.
4. drag: a 200-node workflow (a chain of transforms in a grid) is opened; one node is dragged across the
   canvas in 60 mouse steps while a requestAnimationFrame loop records frame intervals; p50/p95/max.
The machine is shared and noisy: figures are medians of --repeat runs.
Prints a table, then one JSON line: {"bench": "editor", ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TARGET_CACHED_S = 1.5


def tid(name: str) -> str:
    return f'[data-testid="{name}"]'


def small_workflow(name: str, salt: int) -> dict:
    return {
        "dsl": "wasmflow/1",
        "name": name,
        "nodes": [
            {"id": "start", "type": "trigger.manual", "config": {}, "position": {"x": 0, "y": 0}},
            {
                "id": "double",
                "type": "transform",
                "config": {"expression": f"{{'n': input.get('n', 1) * 2, 'salt': {salt}}}"},
                "position": {"x": 280, "y": 0},
            },
            {
                "id": "label",
                "type": "transform",
                "config": {"expression": "f\"n={double['n']}\""},
                "position": {"x": 560, "y": 0},
            },
        ],
        "edges": [{"from": "start", "to": "double"}, {"from": "double", "to": "label"}],
    }


def big_workflow(name: str, n: int = 200) -> dict:
    nodes = [{"id": "start", "type": "trigger.manual", "config": {}, "position": {"x": 0, "y": 0}}]
    edges = []
    prev = "start"
    for i in range(1, n):
        nid = f"step_{i}"
        nodes.append(
            {
                "id": nid,
                "type": "transform",
                "config": {"expression": f"{{'i': {i}}}"},
                "position": {"x": (i % 20) * 260, "y": (i // 20) * 140},
            }
        )
        edges.append({"from": prev, "to": nid})
        prev = nid
    return {"dsl": "wasmflow/1", "name": name, "nodes": nodes, "edges": edges}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.instance = base / "instance"
        self.instance.mkdir(parents=True)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        exe = str(Path(sys.executable).parent / "wasmflow")
        # A private copy of the editor build: a rebuild of static/ meanwhile cannot pull it from under the page.
        shutil.copytree(ROOT / "static", base / "static")
        env = {
            **os.environ,
            "WASMFLOW_DATABASE_URL": f"sqlite:///{base / 'wasmflow.db'}",
            "WASMFLOW_EDITOR_STATIC_DIR": str(base / "static"),
        }
        subprocess.run([exe, "--instance", str(self.instance), "db", "upgrade"], env=env, check=True)
        self.log = open(base / "serve.log", "w")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [exe, "--instance", str(self.instance), "serve", "--port", str(self.port)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        end = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"wasmflow serve exited: {(base / 'serve.log').read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/api/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > end:
                raise SystemExit("wasmflow serve did not answer /api/health within 60 s")
            time.sleep(0.2)
        self.client = httpx.Client(base_url=self.url, timeout=600)

    def create(self, doc: dict) -> None:
        r = self.client.post("/api/workflows", json=doc)
        r.raise_for_status()

    def compile(self, name: str) -> str:
        r = self.client.post(f"/api/workflows/{name}/compile")
        r.raise_for_status()
        return r.json()["digest"]

    def close(self) -> None:
        self.client.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


PAGE_BYTES_JS = """() => {
  const all = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')];
  return {
    transfer: all.reduce((a, e) => a + (e.transferSize || 0), 0),
    decoded: all.reduce((a, e) => a + (e.decodedBodySize || 0), 0),
    requests: all.length,
  };
}"""

FIRST_RESULT = '[data-testid^="node-status-"][data-status="succeeded"]'


def first_load(browser, server: Server, name: str) -> dict:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    t0 = time.perf_counter()
    page.goto(server.url + "/")
    page.wait_for_selector(tid("workflow-list"))
    home_s = time.perf_counter() - t0
    home_bytes = page.evaluate(PAGE_BYTES_JS)
    ctx.close()

    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    t0 = time.perf_counter()
    page.goto(f"{server.url}/#/w/{name}")
    page.wait_for_selector(tid("node-label"))
    editor_s = time.perf_counter() - t0
    editor_bytes = page.evaluate(PAGE_BYTES_JS)
    ctx.close()
    return {"home_s": home_s, "home": home_bytes, "editor_s": editor_s, "editor": editor_bytes}


def click_to_first_result(page) -> float:
    page.evaluate("() => { for (const e of document.querySelectorAll('[data-testid=\"btn-clear-run\"]')) e.click(); }")
    page.wait_for_selector(FIRST_RESULT, state="detached", timeout=10_000)
    t0 = time.perf_counter()
    page.click(tid("btn-test-run"))
    page.wait_for_selector(FIRST_RESULT, timeout=600_000)
    elapsed = time.perf_counter() - t0
    page.wait_for_selector(f'{tid("dry-result")}[data-status="succeeded"]', timeout=60_000)
    return elapsed


RESOURCE_BYTES_JS = (
    """() => performance.getEntriesByType('resource').map(e => [e.name, e.transferSize, e.decodedBodySize])"""
)


def edit_to_first_result(page, n: int) -> tuple[float, int]:
    """Edit the first transform's expression as a user types it (new digest), wait for the save, then click
    "Test run"; (seconds to the first node result, bytes the tab and its worker fetched for the new workflow:
    transferSize of the /api/artifacts/ resources the page saw appear, plus the worker's fetches that
    Playwright reports with their body sizes)."""
    page.click(tid("node-double"))
    content = page.locator(f"{tid('field-/nodes/1/config/expression')} .cm-content")
    content.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.type(f"{{'n': input.get('n', 1) * 2, 'edit': {n}}}")
    page.wait_for_selector(f'{tid("save-state")}[data-state="saved"]', timeout=30_000)
    fetched: list[int] = []

    def on_response(resp) -> None:
        if "/api/artifacts/" in resp.url:
            try:
                fetched.append(len(resp.body()))
            except Exception:  # noqa: BLE001 - a response without a body (304)
                fetched.append(0)

    page.context.on("response", on_response)
    seconds = click_to_first_result(page)
    page.context.remove_listener("response", on_response)
    return seconds, sum(fetched)


def open_editor(browser, server: Server, name: str):
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    page.goto(f"{server.url}/#/w/{name}")
    page.wait_for_selector(tid("btn-test-run"))
    page.wait_for_selector(f'{tid("save-state")}[data-state="saved"]')
    return ctx, page


DRAG_FRAMES_JS = """() => {
  window.__frames = [];
  window.__recording = true;
  let last = performance.now();
  const tick = (t) => { window.__frames.push(t - last); last = t; if (window.__recording) requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
}"""


def drag_frames(browser, server: Server, name: str) -> dict:
    ctx, page = open_editor(browser, server, name)
    page.wait_for_selector(tid("node-step_21"))
    box = page.locator(tid("node-step_21")).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + 10
    page.evaluate(DRAG_FRAMES_JS)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 300, y + 150, steps=60)
    page.mouse.up()
    page.wait_for_timeout(200)
    frames = page.evaluate("() => { window.__recording = false; return window.__frames.slice(1); }")
    ctx.close()
    frames.sort()
    return {
        "frames": len(frames),
        "p50_ms": statistics.median(frames),
        "p95_ms": frames[int(0.95 * (len(frames) - 1))],
        "max_ms": frames[-1],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-cold", action="store_true")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if not (ROOT / "static" / "index.html").is_file():
        raise SystemExit("static/ has no editor build: run `npm run build` (or make install) first")

    from playwright.sync_api import sync_playwright

    base = ROOT / "build" / f"bench-editor-{secrets.token_hex(4)}"
    server = Server(base)
    results: dict = {"bench": "editor"}
    try:
        server.create(small_workflow("bench-small", 0))
        t = time.perf_counter()
        digest = server.compile("bench-small")
        first_compile_s = time.perf_counter() - t
        server.create(big_workflow("bench-big"))

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            loads = [first_load(browser, server, "bench-small") for _ in range(args.repeat)]
            results["first_load"] = {
                "home_ms": 1000 * statistics.median(x["home_s"] for x in loads),
                "editor_ms": 1000 * statistics.median(x["editor_s"] for x in loads),
                "home_transfer_bytes": loads[-1]["home"]["transfer"],
                "editor_transfer_bytes": loads[-1]["editor"]["transfer"],
                "editor_decoded_bytes": loads[-1]["editor"]["decoded"],
                "editor_requests": loads[-1]["editor"]["requests"],
            }

            fresh, warm, edit_warm, edit_fresh, edit_bytes = [], [], [], [], []
            for i in range(args.repeat):
                ctx, page = open_editor(browser, server, "bench-small")
                fresh.append(click_to_first_result(page))
                warm.append(click_to_first_result(page))
                seconds, fetched = edit_to_first_result(page, secrets.randbelow(10**9) + i)
                edit_warm.append(seconds)
                edit_bytes.append(fetched)
                ctx.close()
                # a fresh tab whose first action is the test run of an edit (a digest never built)
                ctx, page = open_editor(browser, server, "bench-small")
                edit_fresh.append(edit_to_first_result(page, secrets.randbelow(10**9) + 100 + i)[0])
                ctx.close()
            results["edit_then_test_run"] = {
                "tab_that_ran_before_ms": 1000 * statistics.median(edit_warm),
                "fresh_tab_ms": 1000 * statistics.median(edit_fresh),
                "bytes_fetched_for_the_new_workflow": int(statistics.median(edit_bytes)),
            }
            results["test_run_cached"] = {
                "digest": digest,
                "fresh_tab_ms": 1000 * statistics.median(fresh),
                "same_tab_ms": 1000 * statistics.median(warm),
                "target_ms": TARGET_CACHED_S * 1000,
            }

            if not args.skip_cold:
                cold = []
                for i in range(min(args.repeat, 2)):
                    name = f"bench-cold-{i}"
                    server.create(small_workflow(name, secrets.randbelow(10**9) + 1))
                    ctx, page = open_editor(browser, server, name)
                    cold.append(click_to_first_result(page))
                    ctx.close()
                results["test_run_cold"] = {
                    "median_ms": 1000 * statistics.median(cold),
                    "runs": len(cold),
                    "server_compile_alone_ms": 1000 * first_compile_s,
                }

            drags = [drag_frames(browser, server, "bench-big") for _ in range(args.repeat)]
            results["drag_200_nodes"] = {
                "frame_p50_ms": statistics.median(d["p50_ms"] for d in drags),
                "frame_p95_ms": statistics.median(d["p95_ms"] for d in drags),
                "frame_max_ms": max(d["max_ms"] for d in drags),
                "frames_per_drag": statistics.median(d["frames"] for d in drags),
            }
            browser.close()
    finally:
        server.close()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)

    fl = results["first_load"]
    print(
        f"first load, home:            {fl['home_ms']:8.0f} ms  {fl['home_transfer_bytes'] / 1024:8.1f} KiB over the wire"
    )
    print(
        f"first load, editor:          {fl['editor_ms']:8.0f} ms  {fl['editor_transfer_bytes'] / 1024:8.1f} KiB over "
        f"the wire ({fl['editor_decoded_bytes'] / 1024:.0f} KiB decoded, {fl['editor_requests']} requests)"
    )
    tc = results["test_run_cached"]
    print(f"test run -> first result, artifact compiled, fresh tab: {tc['fresh_tab_ms']:7.0f} ms (target <= 1500)")
    print(f"test run -> first result, artifact compiled, same tab:  {tc['same_tab_ms']:7.0f} ms")
    e = results["edit_then_test_run"]
    print(
        f"edit an expression -> test run -> first result: {e['tab_that_ran_before_ms']:.0f} ms in a tab that ran "
        f"before (target <= 1000), {e['fresh_tab_ms']:.0f} ms in a fresh tab (target <= 2500); "
        f"{e['bytes_fetched_for_the_new_workflow'] / 1000:.1f} kB fetched for the new workflow (target <= 50)"
    )
    if "test_run_cold" in results:
        c = results["test_run_cold"]
        print(
            f"test run -> first result, cold compile:                {c['median_ms']:7.0f} ms "
            f"(server compile alone {c['server_compile_alone_ms']:.0f} ms)"
        )
    d = results["drag_200_nodes"]
    print(
        f"drag a node of 200: frame p50 {d['frame_p50_ms']:.1f} ms, p95 {d['frame_p95_ms']:.1f} ms, "
        f"max {d['frame_max_ms']:.1f} ms ({d['frames_per_drag']:.0f} frames per drag)"
    )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
