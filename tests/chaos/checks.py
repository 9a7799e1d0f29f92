"""The verdict of a trial, from the database, the external API's counts and the event streams.

Problems are grouped by what they say about the engine:

- ``duplicates``: a business key applied more than once (under any keys), a second child run for one
  subflow call, a kv value or run output that is not the resource the API created first;
- ``outcome``: a run whose status or applications differ from what its fault plan must lead to
  (plans.expect), e.g. failed although every failure was retriable and the API had applied the effect;
- ``liveness``: a run still queued/running/waiting at the end, needs_attention or failed without a stated
  reason naming the call, a process that died on its own;
- ``events``: a run's event seqs with a gap or without exactly one final event matching its status, an event
  the database has that the WebSocket stream (all=1 across restarts, or a run's history) did not deliver.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from chaos.plans import Expect, RunPlan, TrialPlan, expect

CATEGORIES = ("duplicates", "outcome", "liveness", "events")
EXACTLY_ONCE = ("duplicates", "outcome")  # what the issue-11 mechanism decides
FINAL_EVENT = {"succeeded": "run.succeeded", "failed": "run.failed", "needs_attention": "run.needs_attention"}
SETTLED = frozenset(FINAL_EVENT)


@dataclass
class Snapshot:
    runs: dict[str, dict]  # id -> {workflow, status, error, output, parent}
    events: dict[str, list[tuple[int, int, str]]]  # run id -> [(id, seq, type)] by seq
    kv: dict[tuple[str, str], Any]  # (workflow, key) -> value in namespace "chaos"
    stream_ids: list[int]  # ids the all=1 WebSocket delivered
    histories: dict[str, list[tuple[int, str]]]  # run id -> (seq, type) of its ws?run= history
    connects: int = 0  # connections the all=1 watcher made (1 + reconnects after server kills)


@dataclass
class Verdict:
    problems: dict[str, list[str]] = field(default_factory=lambda: {c: [] for c in CATEGORIES})
    figures: dict[str, Any] = field(default_factory=dict)

    def add(self, category: str, message: str) -> None:
        self.problems[category].append(message)

    def failing(self, categories=CATEGORIES) -> list[str]:
        return [f"[{c}] {m}" for c in categories for m in self.problems[c]]


def _names_call(error: Any, node: str) -> bool:
    if not isinstance(error, dict):
        return False
    text = repr(error)
    return error.get("node") == node or node in text


def judge(plan: TrialPlan, deliveries: dict[int, str], snap: Snapshot, api, *, kills: int) -> Verdict:
    v = Verdict()
    applied = api.applied()
    children: dict[str, list[str]] = defaultdict(list)
    for rid, r in snap.runs.items():
        if r["parent"]:
            children[r["parent"]].append(rid)

    # 1. every business key at most once, whatever the run did
    for bkey, apps in sorted(api.duplicates().items()):
        keys = [f"{a.idempotency_key} (attempt {a.attempt}, {a.mode})" for a in apps]
        v.add("duplicates", f"{bkey} applied {len(apps)} times, under keys {keys}")

    # 2. each delivered run against its plan
    for i, rp in enumerate(plan.runs):
        rid = deliveries.get(i)
        if rid is None:
            v.add("liveness", f"run {i} ({rp.order_id}) was never created (its delivery did not get a 202)")
            continue
        _judge_run(v, plan, rp, rid, snap, applied, api, children.get(rid, []), kills=kills)

    # 3. every run (children included) settled, with a reason when it did not succeed
    for rid, r in snap.runs.items():
        status, err = r["status"], r["error"]
        if status not in SETTLED:
            v.add("liveness", f"run {rid} ({r['workflow']}) is stuck in {status}")
        elif status != "succeeded" and not (isinstance(err, dict) and err.get("code") and err.get("message")):
            v.add("liveness", f"run {rid} is {status} without a stated reason: {err!r}")

    # 4. events: contiguous seqs, one final event matching the status, all of them on the streams
    streamed = Counter(snap.stream_ids)
    for rid, evs in snap.events.items():
        seqs = [s for _, s, _ in evs]
        if seqs != list(range(1, len(seqs) + 1)):
            v.add("events", f"run {rid}: event seqs are not 1..{len(seqs)}: {seqs}")
        finals = [t for _, _, t in evs if t in FINAL_EVENT.values() or t == "run.cancelled"]
        status = snap.runs.get(rid, {}).get("status")
        want = FINAL_EVENT.get(status)
        if want and (finals != [want] or evs[-1][2] != want):
            v.add("events", f"run {rid} is {status} but its final events are {finals} (last {evs[-1][2]})")
        missing = [eid for eid, _, _ in evs if not streamed[eid]]
        if missing:
            v.add("events", f"run {rid}: {len(missing)} event(s) never arrived on /api/ws?all=1: ids {missing[:10]}")
        hist = snap.histories.get(rid)
        if hist is not None and hist != [(s, t) for _, s, t in evs]:
            v.add("events", f"run {rid}: /api/ws?run= history {hist} differs from the database {evs}")
    repeated = sorted(eid for eid, n in streamed.items() if n > 1)
    if repeated:
        v.add("events", f"/api/ws?all=1 delivered {len(repeated)} event(s) twice across reconnects: {repeated[:10]}")

    statuses = Counter(r["status"] for r in snap.runs.values())
    reasons = Counter(
        f"{r['status']}: {(r['error'] or {}).get('code')} at {(r['error'] or {}).get('node')}"
        for r in snap.runs.values()
        if r["status"] != "succeeded"
    )
    v.figures.update(
        runs=len(snap.runs),
        statuses=dict(statuses),
        reasons=dict(reasons),
        effects=sum(applied.values()),
        business_keys=len(applied),
        duplicate_keys=len(api.duplicates()),
        extra_applications=sum(n - 1 for n in applied.values() if n > 1),
        api=dict(api.outcomes()),
        events=sum(len(e) for e in snap.events.values()),
    )
    return v


def _judge_run(v: Verdict, plan: TrialPlan, rp: RunPlan, rid: str, snap: Snapshot, applied, api, kids, *, kills):
    run = snap.runs.get(rid)
    if run is None:
        v.add("liveness", f"run {rid} ({rp.order_id}) is not in the database")
        return
    status, err = run["status"], run["error"]
    exp = {c.business_key: expect(c.faults, replay_errors=plan.replay_errors) for c in rp.calls()}
    should_succeed = all(e.ok for e in exp.values())
    label = f"run {rid} ({rp.order_id}, plan {_describe(rp, exp)})"

    if len(kids) > 1:
        v.add("duplicates", f"{label}: its subflow call started {len(kids)} child runs {kids}")
    if status == "needs_attention":
        failing = [c for c in ("ship", "post_line", "notify") if _names_call(err, c)]
        if not failing:
            v.add("liveness", f"{label}: needs_attention without naming the call: {err!r}")
    elif status == "succeeded":
        if not should_succeed and kills == 0:
            v.add("outcome", f"{label}: succeeded, but its plan must fail")
        for c in rp.calls():
            if applied[c.business_key] != 1:
                v.add("outcome", f"{label}: succeeded with {c.business_key} applied {applied[c.business_key]} times")
        _check_values(v, label, rp, run, snap, api)
    elif status == "failed":
        if should_succeed:
            v.add("outcome", f"{label}: failed, but every failure in its plan is recoverable: {err!r}")
        first_bad = next((c for c in rp.calls() if not exp[c.business_key].ok), None)
        if first_bad is not None and kills == 0:
            want = exp[first_bad.business_key].applied
            if applied[first_bad.business_key] != want:
                v.add(
                    "outcome",
                    f"{label}: failed at {first_bad.business_key} with {applied[first_bad.business_key]} "
                    f"applications, the plan says {want} ({exp[first_bad.business_key].why})",
                )
        if not (isinstance(err, dict) and err.get("node")):
            v.add("liveness", f"{label}: failed without naming the node: {err!r}")


def _check_values(v: Verdict, label: str, rp: RunPlan, run: dict, snap: Snapshot, api) -> None:
    """The kv writes and the output hold the resources the API created first (not a second copy)."""
    ship = api.resource_of(rp.ship.business_key)
    got = snap.kv.get(("chaos-order", f"ship-{rp.order_id}"))
    if got != ship:
        v.add("duplicates", f"{label}: kv ship-{rp.order_id} is {got!r}, the API's shipment is {ship!r}")
    out = (run["output"] or {}).get("output") or {}
    lines = [api.resource_of(c.business_key) for _, c in rp.lines]
    if out.get("shipment") != ship or out.get("lines") != lines:
        v.add("duplicates", f"{label}: output {out!r}, the API created shipment {ship!r} and lines {lines!r}")
    if rp.notify is not None:
        note = snap.kv.get(("chaos-notify", f"notify-{rp.order_id}"))
        if note != api.resource_of(rp.notify.business_key):
            v.add("duplicates", f"{label}: kv notify-{rp.order_id} is {note!r}")


def _describe(rp: RunPlan, exp: dict[str, Expect]) -> str:
    parts = [f"{c.business_key.split('-')[0]}={c.fault or 'ok'}" for c in rp.calls()]
    flags = [f for f, on in (("approval", rp.approve), ("timer", rp.wait)) if on]
    return ", ".join(parts + flags)
