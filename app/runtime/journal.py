"""The write-ahead journal of one run, and the one gate that decides how each host call is answered.

Records are keyed ``(run_id, seq)`` and carry the capability and a hash of the request. On (re-)execution
the journal is loaded once into a dict, so replay costs O(1) per call and resuming a run with N journaled
calls is linear in N. ``decide`` is the single place that says: answer from the journal, call live,
retry an in-flight call with its key, or stop (determinism error / ambiguous side effect).
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app import capabilities
from app.capabilities import Effect
from app.errors import WasmflowError
from app.runtime.wasm import HostCallError

INTENT, DONE, FAILED = "intent", "done", "failed"
# An effect id as the guest runtime makes it (node ids, map indices, "!handler", "#n"); it goes into an
# HTTP header, so anything else is refused rather than passed on.
EFFECT_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@!#~-]{0,199}")
MAX_KEY_BASE = 160


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_hash(capability: str, request: Any) -> str:
    """sha256 of the capability and its canonical request: what a replayed call must match."""
    return hashlib.sha256(f"{capability}\n{canonical(request)}".encode()).hexdigest()


@dataclass
class Record:
    seq: int
    capability: str
    request_hash: str
    state: str
    node: str | None = None
    request: Any = None
    result: Any = None  # the response document (done) or the error document (failed)
    created_at: datetime | None = None
    completed_at: datetime | None = None


class Decision(enum.Enum):
    LIVE = "live"  # never called before: perform it
    REPLAY = "replay"  # answered before: return the journaled answer
    RETRY = "retry"  # intent journaled, result not (crash in flight): perform again with the same key


class NeedsAttention(WasmflowError):
    """The run cannot continue safely on its own; an operator decides (ARCHITECTURE.md, run states)."""

    kind = "fatal"
    code = "needs_attention"


class DeterminismError(NeedsAttention):
    code = "determinism_error"


class AmbiguousSideEffect(NeedsAttention):
    code = "ambiguous_side_effect"


def effect_of(request: Any) -> str | None:
    """The logical effect id a side-effecting request carries (``"effect"``), or None (older guests)."""
    effect = request.get("effect") if isinstance(request, dict) else None
    if effect is None:
        return None
    if not isinstance(effect, str) or not EFFECT_RE.fullmatch(effect):
        raise HostCallError("invalid_request", f"effect id {effect!r} is not valid")
    return effect


def child_key_base(key: str) -> str:
    """The key base of a child run started by the call with idempotency key ``key``: every attempt of that
    call starts a child with the same base, so the children's own effects share their keys too."""
    if len(key) <= MAX_KEY_BASE:
        return key
    return "k" + hashlib.sha256(key.encode()).hexdigest()[:40]


@dataclass
class Journal:
    """The journal of one run during one execution: what was recorded before, plus what is pending commit."""

    run_id: str
    recorded: dict[int, Record] = field(default_factory=dict)
    pending: list[Record] = field(default_factory=list)
    persisted: set[int] = field(default_factory=set)  # seqs that have a row (insert vs update on commit)
    next_seq: int = 1
    key_base: str = ""  # what effect keys start with: the run id, or for a child run the key of its parent call

    def __post_init__(self) -> None:
        self.key_base = self.key_base or self.run_id

    @classmethod
    def load(cls, run_id: str, records: list[Record], *, key_base: str | None = None) -> Journal:
        return cls(
            run_id=run_id,
            recorded={r.seq: r for r in records},
            persisted={r.seq for r in records},
            key_base=key_base or "",
        )

    def key(self, seq: int, effect: str | None = None) -> str:
        """The idempotency key of call ``seq`` (sent as HTTP ``Idempotency-Key``).

        A side effect that names its logical ``effect`` is keyed by it: every attempt of one effect (retries,
        resumes after a crash, replays, a retried child run) carries one key. Other calls are keyed by seq."""
        return f"{self.key_base}:{effect}" if effect else f"{self.run_id}:{seq}"

    def take_seq(self) -> int:
        seq = self.next_seq
        self.next_seq += 1
        return seq

    def decide(
        self, seq: int, capability: str, req_hash: str, *, node: str | None = None, effect: Effect | None = None
    ) -> tuple[Decision, Record | None]:
        """How to answer call ``seq``; raises when replaying it would be wrong. ``effect`` overrides the
        capability's effect class for this one call (an HTTP POST to a server that ignores keys)."""
        rec = self.recorded.get(seq)
        if rec is None:
            return Decision.LIVE, None
        if rec.capability != capability or rec.request_hash != req_hash:
            what = "capability" if rec.capability != capability else "request"
            raise DeterminismError(
                f"replay diverged at call {seq}: the journal has {rec.capability} (node {rec.node or '-'}) "
                f"but the workflow now made {capability} (node {node or '-'}) with a different {what}",
                details={
                    "seq": seq,
                    "journal": {"capability": rec.capability, "node": rec.node, "request_hash": rec.request_hash},
                    "now": {"capability": capability, "node": node, "request_hash": req_hash},
                },
            )
        if rec.state in (DONE, FAILED):
            return Decision.REPLAY, rec
        if (effect or capabilities.get(capability).effect) is Effect.IDEMPOTENT_WITH_KEY:
            return Decision.RETRY, rec
        raise AmbiguousSideEffect(
            f"call {seq} ({capability}, node {rec.node or '-'}) may or may not have happened: its intent was "
            "journaled but its result was not, and it cannot be retried safely",
            details={"seq": seq, "capability": capability, "node": rec.node, "request": rec.request},
        )

    def check_all_replayed(self) -> None:
        """Raise when the journal holds calls this execution never made: the workflow now ends before the
        recorded run did, and finishing would silently drop those calls (side effects among them)."""
        left = sorted(seq for seq in self.recorded if seq >= self.next_seq)
        if not left:
            return
        rec = self.recorded[left[0]]
        raise DeterminismError(
            f"replay diverged at call {rec.seq}: the journal has {rec.capability} (node {rec.node or '-'}) "
            f"but the workflow now ended without making it ({len(left)} journaled call(s) not made)",
            details={
                "seq": rec.seq,
                "journal": {"capability": rec.capability, "node": rec.node, "request_hash": rec.request_hash},
                "now": None,
                "not_made": left,
            },
        )

    def add(self, rec: Record) -> None:
        """Record a call (new, or the result of an earlier intent); it is written at the next commit."""
        self.recorded[rec.seq] = rec
        self.pending.append(rec)

    def take_pending(self) -> tuple[list[Record], list[Record]]:
        """Pending records split into (new rows, updated rows); they count as persisted from now on."""
        latest: dict[int, Record] = {}
        for rec in self.pending:
            latest[rec.seq] = rec  # an intent and its result in one commit: write the result only
        self.pending = []
        inserts = [r for r in latest.values() if r.seq not in self.persisted]
        updates = [r for r in latest.values() if r.seq in self.persisted]
        self.persisted.update(latest)
        return inserts, updates
