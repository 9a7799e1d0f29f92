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
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app import capabilities
from app.capabilities import Effect
from app.errors import WasmflowError

INTENT, DONE, FAILED = "intent", "done", "failed"


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


@dataclass
class Journal:
    """The journal of one run during one execution: what was recorded before, plus what is pending commit."""

    run_id: str
    recorded: dict[int, Record] = field(default_factory=dict)
    pending: list[Record] = field(default_factory=list)
    persisted: set[int] = field(default_factory=set)  # seqs that have a row (insert vs update on commit)
    next_seq: int = 1

    @classmethod
    def load(cls, run_id: str, records: list[Record]) -> Journal:
        return cls(run_id=run_id, recorded={r.seq: r for r in records}, persisted={r.seq for r in records})

    def key(self, seq: int) -> str:
        """The idempotency key of call ``seq`` (sent as HTTP ``Idempotency-Key``)."""
        return f"{self.run_id}:{seq}"

    def take_seq(self) -> int:
        seq = self.next_seq
        self.next_seq += 1
        return seq

    def decide(
        self, seq: int, capability: str, req_hash: str, *, node: str | None = None
    ) -> tuple[Decision, Record | None]:
        """How to answer call ``seq``; raises when replaying it would be wrong."""
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
        if capabilities.get(capability).effect is Effect.IDEMPOTENT_WITH_KEY:
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
