"""Agent figures (issue 12): the host's overhead per agent turn without the model, and the replay time of a
20-turn agent run.

Run: .venv/bin/python bench/agent.py [--quick] [--turns 20] [--runs 10] [--replays 10] [--replay-turns 20]
     [--no-stream] [--keep]

Setup: a fresh instance folder with its SQLite file under build/bench-agent-<random>/ (WAL, synchronous=FULL,
removed at the end unless --keep). The model is tests/runtime/llmserver.py's FakeLLM: a real OpenAI-compatible
chat-completions server on 127.0.0.1 in this process, scripted per turn and answering at once (streaming SSE by
default, as the agent node asks for). The bench workflow below (start -> agent -> done) is compiled once into
that instance (the agent's base_url is the fake's address, so the digest is new each time; with the shared
runtime in ~/.cache/wasmflow/runtime, or WASMFLOW_RUNTIME_DIR, that takes milliseconds; its first build several
minutes). Its agent has
one tool, `lookup`, a kv.get of namespace `bench`, so a turn is: one llm.chat host call (journaled, committed
at once) + one tool call through the host + the guest's loop; and a key secret, so injection and redaction
are in the path. Runs execute with Engine.run_sync in this thread (no poller), as bench/runtime.py does.

1. per turn: --runs runs of an agent making --turns model calls (each but the last answers one `lookup` call,
   the last answers text), and as many runs of a 1-turn agent (answers text at once). The figure is
       (run wall of the N-turn agent - run wall of the 1-turn agent) / (N - 1) - the fake's time per request
   where the fake's time is measured inside its HTTP handler (from the parsed request line to the last byte
   written), i.e. the per-turn cost the host, the guest and the journal add to a model that answered in zero
   time. Host calls are timed by wrapping RunHost.call in this process (per capability; llm.chat minus the
   fake's time is the host's own part) and durable commits by wrapping GroupCommitter._run (bench only).
2. replay: --replays completed runs of a 20-turn agent (19 tool calls, 20 journaled model answers) are each
   replayed from the node after the agent (`done`): app.engine.replay.replay_run makes a new run whose
   journal is the original's calls before `done`, then Engine.run_sync executes it: the component is
   re-executed from the start and every turn and tool call is answered from the journal (what
   `wasmflow replay RUN_ID --from done` does in the CLI's process). The bench checks that the fake received
   no request during the replays (the model is never called again) and that the outputs are equal.
The fake's handler gets TCP_NODELAY: http.server writes headers and body separately, and without it a JSON
answer waits ~40 ms for the client's delayed ACK, which would be counted as host overhead.
Prints a table, then one JSON line: {"bench": "agent", ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "runtime"))  # llmserver.FakeLLM
os.environ["WASMFLOW_HTTP_ALLOW_NETWORKS"] = "127.0.0.1/32"  # the model client may reach the local fake

import sqlalchemy as sa  # noqa: E402
from llmserver import FakeLLM  # noqa: E402

from app.compiler import open_compiler  # noqa: E402
from app.config import Settings  # noqa: E402
from app.engine import replay as replays  # noqa: E402
from app.engine import runs  # noqa: E402
from app.engine.engine import Engine  # noqa: E402
from app.runtime import world  # noqa: E402
from app.runtime.committer import GroupCommitter  # noqa: E402
from app.runtime.host import RunHost  # noqa: E402
from app.runtime.wiring import world_services  # noqa: E402
from app.store.db import close_database  # noqa: E402
from app.store.models import JournalEntry  # noqa: E402

KEY_SECRET = "BENCH_LLM_KEY"
KEY_VALUE = "sk-bench-" + "k" * 40


def agent_doc(base_url: str, stream: bool) -> dict:
    return {
        "dsl": "wasmflow/1",
        "name": "bench-agent",
        "title": "Agent bench: one kv tool, scripted model",
        "nodes": [
            {"id": "start", "type": "trigger.manual"},
            {
                "id": "agent",
                "type": "agent",
                "config": {
                    "model": {
                        "base_url": base_url,
                        "model": "bench-model",
                        "api_key_secret": KEY_SECRET,
                        "stream": stream,
                        "prices": {"input_per_million": 0.15, "output_per_million": 0.6},
                    },
                    "instructions": "You are a benchmark. Call lookup until you are done.",
                    "prompt": "Run {{ input.get('i', 0) }}: look things up.",
                    "tools": [
                        {
                            "name": "lookup",
                            "description": "Read a value by key",
                            "parameters": {
                                "type": "object",
                                "properties": {"k": {"type": "string", "maxLength": 40}},
                                "required": ["k"],
                            },
                            "kv": {"op": "get", "namespace": "bench", "key": "{{ args['k'] }}"},
                        }
                    ],
                    "limits": {"max_turns": 100, "max_tool_calls": 1000, "timeout": "10m"},
                },
            },
            {
                "id": "done",
                "type": "transform",
                "config": {"expression": "{'turns': agent['turns'], 'calls': len(agent['tool_calls'])}"},
            },
        ],
        "edges": [{"from": "start", "to": "agent"}, {"from": "agent", "to": "done"}],
    }


# -- measuring helpers ----------------------------------------------------------------------------------------


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def _dist(seconds: list[float]) -> dict:
    return {
        "n": len(seconds),
        "p50_ms": _ms(statistics.median(seconds)) if seconds else None,
        "p90_ms": _ms(_pct(seconds, 0.9)) if seconds else None,
        "mean_ms": _ms(statistics.fmean(seconds)) if seconds else None,
    }


class Probe:
    """Times RunHost.call per capability and counts GroupCommitter batches; the fake's handler time per
    request. Installed by wrapping class attributes: bench only, no production code is changed."""

    def __init__(self, fake: FakeLLM) -> None:
        self.calls: dict[str, list[float]] = defaultdict(list)
        self.commits = 0
        self.commit_s = 0.0
        self.deltas = 0
        self.delta_s = 0.0
        self.fake_times: list[float] = []
        self._lock = threading.Lock()
        probe = self
        orig_call, orig_run = RunHost.call, GroupCommitter._run
        # the transaction that writes streamed text as an agent.delta event (world._DeltaWriter)
        delta_attr = "_write" if hasattr(world._DeltaWriter, "_write") else "close"  # noqa: SLF001
        orig_delta = getattr(world._DeltaWriter, delta_attr)  # noqa: SLF001

        def call(host: RunHost, capability: str, request_json: str) -> str:
            t = time.perf_counter()
            try:
                return orig_call(host, capability, request_json)
            finally:
                with probe._lock:
                    probe.calls[capability].append(time.perf_counter() - t)

        def run_batch(committer: GroupCommitter, batch: list) -> None:
            t = time.perf_counter()
            try:
                return orig_run(committer, batch)
            finally:
                with probe._lock:
                    probe.commits += 1
                    probe.commit_s += time.perf_counter() - t

        def delta_close(writer) -> None:
            wrote = bool(writer.parts)
            t = time.perf_counter()
            try:
                return orig_delta(writer)
            finally:
                if wrote:
                    with probe._lock:
                        probe.deltas += 1
                        probe.delta_s += time.perf_counter() - t

        handler = fake._httpd.RequestHandlerClass
        # http.server sends the status line and headers, then the body, in separate writes: without TCP_NODELAY
        # a one-document (non-streamed) answer waits ~40 ms for the client's delayed ACK (Nagle), which would
        # be measured as host overhead (bench/runtime.py does the same for its HTTP server)
        handler.disable_nagle_algorithm = True
        orig_post = handler.do_POST

        def do_post(h) -> None:
            t = time.perf_counter()
            try:
                orig_post(h)
            finally:
                with probe._lock:
                    probe.fake_times.append(time.perf_counter() - t)

        RunHost.call = call
        GroupCommitter._run = run_batch
        setattr(world._DeltaWriter, delta_attr, delta_close)  # noqa: SLF001
        handler.do_POST = do_post

    def reset(self) -> None:
        with self._lock:
            self.calls = defaultdict(list)
            self.commits = 0
            self.commit_s = 0.0
            self.deltas = 0
            self.delta_s = 0.0
            self.fake_times = []


class Report:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []

    def add(self, what: str, value, note: str = "") -> None:
        text = f"{value:,.3f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
        self.rows.append((what, text, note))
        print(f"  {what:<66} {text:>12}  {note}", flush=True)

    def table(self) -> None:
        print()
        print(f"{'figure':<66} {'value':>12}  note")
        for what, text, note in self.rows:
            print(f"{what:<66} {text:>12}  {note}")


REPORT = Report()


# -- the world ------------------------------------------------------------------------------------------------


def script(fake: FakeLLM, turns: int, run: int) -> None:
    """``turns`` answers: turns - 1 that each call `lookup` once, then a final text answer."""
    for t in range(1, turns):
        fake.reply(tool_calls=[{"id": f"call_{run}_{t}", "name": "lookup", "arguments": {"k": f"key-{t % 5}"}}])
    fake.reply(text=f"Done after {turns} turns.", usage=(20, 6))


def one_run(eng: Engine, fake: FakeLLM, digest: str, turns: int, run: int) -> tuple[float, str, object]:
    script(fake, turns, run)
    t = time.perf_counter()
    rid = eng.create_run(digest, {"i": run})
    outcome = eng.run_sync(rid)
    wall = time.perf_counter() - t
    if outcome.status != runs.SUCCEEDED:
        raise SystemExit(f"bench run {rid} ended {outcome.status}: {outcome.error}")
    if (outcome.output or {}).get("output") != {"turns": turns, "calls": turns - 1}:
        raise SystemExit(f"bench run {rid}: unexpected output {outcome.output!r}")
    if fake.pending:
        raise SystemExit(f"bench run {rid}: {fake.pending} scripted turns were not used")
    return wall, rid, outcome


# -- 1. per turn ----------------------------------------------------------------------------------------------


def bench_turns(eng: Engine, fake: FakeLLM, probe: Probe, digest: str, turns: int, n_runs: int) -> dict:
    for i in range(2):  # warm: component loaded, model client connected, first instance made
        one_run(eng, fake, digest, 3, -1 - i)
    single, multi = [], []
    per_cap: dict[str, list[float]] = defaultdict(list)
    fake_n, fake_1 = [], []
    commits_n, commit_ms, deltas_n, delta_ms = [], [], [], []
    for r in range(n_runs):  # interleaved, so load changes hit both alike
        probe.reset()
        wall, _, _ = one_run(eng, fake, digest, 1, 10_000 + r)
        single.append(wall)
        fake_1.append(sum(probe.fake_times))
        probe.reset()
        wall, _, _ = one_run(eng, fake, digest, turns, r)
        multi.append(wall)
        fake_n.append(sum(probe.fake_times))
        commits_n.append(probe.commits)
        commit_ms.append(probe.commit_s * 1000 / turns)
        deltas_n.append(probe.deltas)
        delta_ms.append(probe.delta_s * 1000)
        for cap, v in probe.calls.items():
            per_cap[cap].extend(v)
    fake_per_request = statistics.median(f / turns for f in fake_n)
    marginal = [(m - s - (fn - f1)) / (turns - 1) for m, s, fn, f1 in zip(multi, single, fake_n, fake_1, strict=True)]
    per_turn_all = [(m - fn) / turns for m, fn in zip(multi, fake_n, strict=True)]
    llm = per_cap.get("llm.chat", [])
    out = {
        "turns": turns,
        "runs": n_runs,
        "run_wall_ms": _dist(multi),
        "run_wall_1_turn_ms": _dist(single),
        "fake_ms_per_request": _ms(fake_per_request),
        "per_turn_overhead": _dist(marginal),
        "per_turn_including_run_start": _dist(per_turn_all),
        "host_call_ms": {cap: _dist(v) for cap, v in sorted(per_cap.items())},
        "llm_chat_host_minus_fake_ms_p50": _ms(statistics.median(llm) - fake_per_request) if llm else None,
        "commits_per_run_p50": statistics.median(commits_n),
        "commit_ms_per_turn_p50": round(statistics.median(commit_ms), 3),
        "delta_writes_per_run_p50": statistics.median(deltas_n),
        "delta_write_ms_per_run_p50": round(statistics.median(delta_ms), 3),
        "calls_per_turn": {cap: round(len(v) / (n_runs * turns), 2) for cap, v in sorted(per_cap.items())},
    }
    p = out["per_turn_overhead"]
    REPORT.add(
        f"host overhead per agent turn, model excluded (p50 / p90, {n_runs} x {turns} turns)",
        f"{p['p50_ms']} / {p['p90_ms']}",
        "ms: (wall N turns - wall 1 turn - fake time) / (N - 1); a turn = llm.chat + one kv tool call",
    )
    REPORT.add(
        f"run of {turns} turns, wall p50 (1-turn run: p50)",
        f"{out['run_wall_ms']['p50_ms']} ms",
        f"1 turn: {out['run_wall_1_turn_ms']['p50_ms']} ms; fake's own time {out['fake_ms_per_request']} ms per request",
    )
    if llm:
        REPORT.add(
            "llm.chat host call p50, minus the fake's time",
            f"{out['llm_chat_host_minus_fake_ms_p50']} ms",
            f"whole call p50 {out['host_call_ms']['llm.chat']['p50_ms']} ms (HTTP to 127.0.0.1, SSE parse, journal, events)",
        )
    for cap in ("kv.get", "node.event", "log.write"):
        if cap in out["host_call_ms"]:
            d = out["host_call_ms"][cap]
            REPORT.add(
                f"{cap} host call p50 / p90",
                f"{d['p50_ms']} / {d['p90_ms']} ms",
                f"{out['calls_per_turn'][cap]} per turn",
            )
    REPORT.add(
        f"durable commits per {turns}-turn run (p50); their time per turn",
        f"{out['commits_per_run_p50']}; {out['commit_ms_per_turn_p50']} ms",
        "GroupCommitter batches (SQLite WAL, synchronous=FULL): each llm.chat commits its intent, then its answer",
    )
    REPORT.add(
        f"agent.delta writes per {turns}-turn run (p50); their time per run",
        f"{out['delta_writes_per_run_p50']}; {out['delta_write_ms_per_run_p50']} ms",
        "streamed text: a turn that streams for longer than 0.5 s writes it in its own small transactions",
    )
    return out


# -- 2. replay ------------------------------------------------------------------------------------------------


def bench_replay(eng: Engine, fake: FakeLLM, digest: str, turns: int, n: int) -> dict:
    live, replayed, reused = [], [], []
    for r in range(n):
        wall, rid, outcome = one_run(eng, fake, digest, turns, 20_000 + r)
        live.append(wall)
        before = len(fake.requests)
        t = time.perf_counter()
        summary = replays.replay_run(eng, rid, from_node="done")
        created = time.perf_counter() - t
        t = time.perf_counter()
        again = eng.run_sync(summary["run_id"])
        replayed.append((created, time.perf_counter() - t))
        if len(fake.requests) != before:
            raise SystemExit(f"replay of {rid} called the model {len(fake.requests) - before} times")
        if again.status != runs.SUCCEEDED or again.output["output"] != outcome.output["output"]:
            raise SystemExit(f"replay of {rid} ended {again.status} with {again.output!r}, not {outcome.output!r}")
        if again.output["nodes"]["agent"] != outcome.output["nodes"]["agent"]:
            raise SystemExit(f"replay of {rid}: the agent's output differs from the original run's")
        with eng.db.session() as s:
            q = sa.select(JournalEntry.capability, sa.func.count()).where(JournalEntry.run_id == rid)
            reused.append(dict(s.execute(q.group_by(JournalEntry.capability)).all()))
    executed = [e for _, e in replayed]
    total = [c + e for c, e in replayed]
    out = {
        "turns": turns,
        "replays": n,
        "live_run_ms": _dist(live),
        "replay_execute_ms": _dist(executed),
        "replay_create_ms": _dist([c for c, _ in replayed]),
        "replay_total_ms": _dist(total),
        "model_requests_during_replays": 0,
        "journal_rows_of_a_run": reused[-1] if reused else {},
    }
    r, lv = out["replay_execute_ms"], out["live_run_ms"]
    REPORT.add(
        f"replay of a completed {turns}-turn agent run (execute, p50 / p90)",
        f"{r['p50_ms']} / {r['p90_ms']} ms",
        f"live run p50 {lv['p50_ms']} ms (model answering at once); replay_run() itself p50 "
        f"{out['replay_create_ms']['p50_ms']} ms; model requests during replays: 0",
    )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="3 runs and 3 replays")
    p.add_argument("--turns", type=int, default=20, help="model calls per run in section 1 (2..100)")
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--replays", type=int, default=10)
    p.add_argument("--replay-turns", type=int, default=20)
    p.add_argument("--no-stream", action="store_true", help="the agent asks for one JSON answer per turn")
    p.add_argument("--keep", action="store_true", help="keep build/bench-agent-*/ (database)")
    args = p.parse_args()
    if args.quick:
        args.runs = args.replays = 3
    if not 2 <= args.turns <= 100 or not 1 <= args.replay_turns <= 100:
        p.error("--turns must be 2..100 and --replay-turns 1..100 (the agent's max_turns is at most 100)")

    work = ROOT / "build" / f"bench-agent-{secrets.token_hex(4)}"
    instance = work / "instance"
    instance.mkdir(parents=True)
    url = f"sqlite:///{instance / 'wasmflow.db'}"
    settings = Settings.load(instance, database_url=url, artifacts_dir=instance / "artifacts")
    result: dict = {"bench": "agent", "stream": not args.no_stream, "quick": args.quick}
    fake = FakeLLM().start()
    probe = Probe(fake)
    http = secrets_store = eng = None
    try:
        doc = agent_doc(fake.base_url, stream=not args.no_stream)
        pool = open_compiler(settings)
        t = time.perf_counter()
        try:
            digest = pool.submit(doc, with_bundle=False).result().digest
        finally:
            pool.shutdown()
        result["compile_s"] = round(time.perf_counter() - t, 2)
        print(f"compiled the bench workflow in {result['compile_s']} s: {digest[:12]}", flush=True)
        http, secrets_store = world_services(settings)
        secrets_store.set(KEY_SECRET, KEY_VALUE)
        eng = Engine(settings, http=http, secrets=secrets_store, poll=False, run_concurrency=2)
        result["per_turn"] = bench_turns(eng, fake, probe, digest, args.turns, args.runs)
        result["replay"] = bench_replay(eng, fake, digest, args.replay_turns, args.replays)
        leaked = [r for r in fake.requests if KEY_VALUE in r.body.decode("utf-8", "replace")]
        sent = sum(1 for r in fake.requests if r.header("authorization") == f"Bearer {KEY_VALUE}")
        result["key_in_bodies"] = len(leaked)
        result["key_in_header"] = sent
        result["model_requests"] = len(fake.requests)
    finally:
        if eng is not None:
            eng.close()
        if http is not None:
            http.close()
        fake.stop()
        close_database(url)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    REPORT.table()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
