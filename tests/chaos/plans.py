"""What a seed decides (run inputs, fault plans, kill points) and what each fault plan must lead to.

The expectation is that of the mechanism the issue asks for: every attempt of one logical side effect
carries ONE Idempotency-Key (stable across retries, crashes and resumes), so the external API applies it at
most once and answers repeats from its idempotency cache. ``expect(faults)`` simulates the retry policy of
the documents (3 attempts, retry on 5xx, timeout and network) against ``ExtApi`` under that rule:

| fault plan (per attempt)                    | outcome                        | applications |
| ------------------------------------------- | ------------------------------ | ------------ |
| ok / slow                                   | succeeds                       | 1            |
| fail_before_apply x k (k < 3), then ok      | succeeds on attempt k + 1      | 1            |
| fail_before_apply x 3                       | fails: retries exhausted       | 0            |
| apply_then_drop / apply_then_late, ...      | succeeds: the retry is replayed | 1           |
| apply_then_503 (API replays errors)         | fails: the retry is a replayed 503 (the API's final answer) | 1 |
| apply_then_503 (API replays the success)    | succeeds: the retry is replayed | 1           |
| fail x 2, then apply_then_503/drop/late     | fails: retries exhausted       | 1            |

A kill -9 can add a request to a business key's count (the in-flight call is sent again with its key),
which moves the plan on by one entry: a plan that ends in failure may then succeed, never the reverse.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

MAX_ATTEMPTS = 3  # retry.max_attempts in chaos-order.json and chaos-notify.json
TIMED_KILL_WINDOW = (0.3, 7.0)  # seconds after the first delivery (a trial's runs take ~3-15 s)


@dataclass(frozen=True)
class Expect:
    ok: bool
    applied: int  # 0 or 1
    why: str


def expect(faults: list[str], *, replay_errors: bool, attempts: int = MAX_ATTEMPTS) -> Expect:
    stored: str | None = None  # what the API stored under the one key: "ok" or "error"
    applied = 0
    for i in range(attempts):
        mode = faults[i] if i < len(faults) else "ok"
        if stored == "ok":
            return Expect(True, applied, "the retry was answered from the idempotency cache")
        if stored == "error":
            return Expect(False, applied, "the retry was answered with the stored 503")
        if mode == "fail_before_apply":
            continue
        applied = 1
        if mode in ("ok", "slow"):
            return Expect(True, 1, f"applied on attempt {i + 1}")
        stored = "error" if mode == "apply_then_503" and replay_errors else "ok"
    return Expect(False, applied, f"{attempts} attempts failed")


@dataclass
class Call:
    """One logical side effect of a run: its business key at the API and its fault plan."""

    business_key: str
    faults: list[str]

    @property
    def fault(self) -> str:
        return ",".join(self.faults)


@dataclass
class RunPlan:
    order_id: str
    ship: Call
    lines: list[tuple[str, Call]]  # (sku, call)
    approve: bool
    wait: bool
    notify: Call | None  # a child run (subflow chaos-notify) when set

    def calls(self) -> list[Call]:
        return [self.ship, *(c for _, c in self.lines), *([self.notify] if self.notify else [])]

    def body(self, api_url: str) -> dict:
        """The webhook body: chaos-order.json reads everything it varies from it."""
        return {
            "api": api_url,
            "order_id": self.order_id,
            "ship_fault": self.ship.fault,
            "lines": [{"sku": sku, "fault": c.fault} for sku, c in self.lines],
            "approve": self.approve,
            "wait": self.wait,
            "child": self.notify is not None,
            "notify_fault": self.notify.fault if self.notify else "",
        }


@dataclass
class TrialPlan:
    seed: int
    replay_errors: bool
    workers: int
    runs: list[RunPlan]
    timed_kills: list[tuple[float, str]]  # (seconds after the first delivery, process name)
    apply_kills: set[int]  # kill the caller when the API applies its n-th effect (1-based)
    restart_delays: list[float] = field(default_factory=list)  # used in turn after each kill

    def processes(self) -> list[str]:
        return ["serve", *(f"worker-{i}" for i in range(self.workers))]


# (weight, faults): single faults dominate; a few plans exhaust the retries on purpose
_PLANS = [
    (30, []),
    (6, ["slow"]),
    (10, ["apply_then_503"]),
    (10, ["apply_then_drop"]),
    (8, ["apply_then_late"]),
    (8, ["fail_before_apply"]),
    (3, ["fail_before_apply", "apply_then_drop"]),
    (3, ["apply_then_503", "apply_then_503"]),
    (2, ["fail_before_apply", "fail_before_apply"]),
    (1, ["fail_before_apply", "fail_before_apply", "fail_before_apply"]),
    (1, ["fail_before_apply", "fail_before_apply", "apply_then_late"]),
]


def _faults(rng: random.Random, calm: float = 0.0) -> list[str]:
    if rng.random() < calm:
        return []
    weights = [w for w, _ in _PLANS]
    return list(rng.choices([p for _, p in _PLANS], weights=weights)[0])


def make_plan(
    seed: int,
    *,
    runs: int = 6,
    workers: int | None = None,
    kills: int | None = None,
    replay_errors: bool | None = None,
) -> TrialPlan:
    """Everything random about a trial, from its seed alone (the replay command repeats it exactly)."""
    rng = random.Random(seed)
    workers = rng.choice([1, 2]) if workers is None else workers
    replay_errors = rng.random() < 0.5 if replay_errors is None else replay_errors
    plans = []
    for i in range(runs):
        oid = f"s{seed}-o{i}"
        lines = [(f"sku{j}", Call(f"line-{oid}-sku{j}", _faults(rng, calm=0.5))) for j in range(rng.randint(0, 4))]
        notify = Call(f"notify-{oid}", _faults(rng, calm=0.3)) if rng.random() < 0.35 else None
        plans.append(
            RunPlan(
                order_id=oid,
                ship=Call(f"ship-{oid}", _faults(rng)),
                lines=lines,
                approve=rng.random() < 0.35,
                wait=rng.random() < 0.35,
                notify=notify,
            )
        )
    names = ["serve", *(f"worker-{i}" for i in range(workers))]
    kills = rng.randint(2, 5) if kills is None else kills
    n_timed = kills // 2 + kills % 2
    timed = sorted((round(rng.uniform(*TIMED_KILL_WINDOW), 2), rng.choice(names)) for _ in range(n_timed))
    effects = sum(len(p.calls()) for p in plans)
    at_apply = set(rng.sample(range(1, effects + 1), min(kills - n_timed, effects))) if effects else set()
    delays = [round(rng.uniform(0.1, 2.0), 2) for _ in range(kills + 8)]
    return TrialPlan(seed, replay_errors, workers, plans, timed, at_apply, delays)


def fixed_plan(seed: int, ship_faults: list[list[str]], *, replay_errors: bool) -> TrialPlan:
    """A trial without kills, one run per fault plan of its ``ship`` call (no lines, approval, timer or child),
    executed by a lone ``wasmflow serve``: what one POST with retries does in each mode."""
    runs = [
        RunPlan(f"s{seed}-m{i}", Call(f"ship-s{seed}-m{i}", list(f)), [], approve=False, wait=False, notify=None)
        for i, f in enumerate(ship_faults)
    ]
    return TrialPlan(seed, replay_errors, 0, runs, timed_kills=[], apply_kills=set())
