"""Replay/fork a finished run from one of its nodes: a new run, linked to the original, whose journal is
seeded with the original's calls made before that node, so the guest replays them (their side effects are
not repeated) and runs live from the node on.

What is copied: the journal prefix up to, not including, the node's first call (its ``node.event started``
or ``skipped``). The driver runs nodes in one order and every call takes the next ``seq``, so that prefix
holds exactly the calls of the nodes that ran before it, under the seqs the new run's guest asks for them.
The node events and log lines of those nodes are copied too, so the new run's per-node view is complete.

``version="current"`` runs the workflow's deployed digest against that prefix. Its nodes before the
replayed node must make the same calls (same requests, same outputs): the journal gate checks each one,
and the first difference stops the new run as ``needs_attention`` with a ``determinism_error`` naming the
node, before anything is done live (a divergence is always met while the prefix is being replayed).
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from app.engine import runs, workflows
from app.errors import Conflict, NotFound, Problem, ValidationFailed, WasmflowError
from app.runtime.journal import DONE, FAILED
from app.store.models import Event, JournalEntry, Run, WorkflowVersion

VERSIONS = ("original", "current")
_NODE_DECL = re.compile(r"_rt\.Node\(\s*'([a-z][a-z0-9_]*)'")  # how generated guest code declares a node


class UnknownNode(ValidationFailed):
    """422 naming ``/from_node``: the node is not in the workflow version the replay would run (the CLI exits
    1 for it, as for any invalid input)."""

    code = "unknown_node"

    def __init__(self, message: str, node: str):
        super().__init__([Problem("/from_node", message, "unknown_node", node)], message=message)
        self.details = {"field": "/from_node", "node": node}


def node_ids(engine, name: str, digest: str) -> set[str]:
    """Every node id of the compiled ``digest`` (map bodies included): from its DSL document when this
    database has it (a version or the draft), else from the generated guest code kept with the artifact
    (``wasmflow run FILE`` compiles documents the database never stores)."""
    try:
        doc = workflows.source_for_digest(engine.db, name, digest)
    except WasmflowError:
        doc = None
    if doc is not None:
        ids: set[str] = set()
        stack = list(doc.get("nodes") or [])
        while stack:
            node = stack.pop()
            ids.add(node.get("id"))
            body = (node.get("config") or {}).get("body") if node.get("type") == "map" else None
            stack.extend((body or {}).get("nodes") or [])
        return ids
    return set(_NODE_DECL.findall(engine.store.read_text(digest, "guest.py")))


def _target(engine, orig: Run, version: str) -> tuple[str, int | None]:
    """(digest, version number) the replay runs."""
    if version == "original":
        with engine.db.session() as s:
            number = s.execute(
                sa.select(sa.func.max(WorkflowVersion.number)).where(
                    WorkflowVersion.workflow_name == orig.workflow_name, WorkflowVersion.digest == orig.digest
                )
            ).scalar()
        return orig.digest, number
    digest = workflows.deployed_digest(engine.db, orig.workflow_name)
    if digest is None:
        raise Conflict(
            f"workflow {orig.workflow_name!r} has no deployed version to replay with; "
            "deploy one or replay with version 'original'",
            code="not_deployed",
            details={"field": "/version", "workflow": orig.workflow_name},
        )
    number, _digest, _doc = workflows.deployed(engine.db, orig.workflow_name)
    return digest, number


def _cut(entries: list[JournalEntry], node: str) -> int | None:
    """The seq of ``node``'s first call, or None if it never started (nor was skipped) in that run."""
    for e in entries:
        if e.node == node and e.capability == "node.event":
            return e.seq
    return None


def replay_run(engine, run_id: str, *, from_node: str, version: str = "original") -> dict[str, Any]:
    """Create the replay of ``run_id`` from ``from_node`` (queued, not yet executed); returns its summary.
    The caller executes it (the API kicks it, the CLI runs it in its own thread)."""
    if version not in VERSIONS:
        raise ValidationFailed(
            [Problem("/version", f"version must be 'original' or 'current', not {version!r}", "bad_version")]
        )
    db = engine.db
    with db.session() as s:
        orig = s.get(Run, run_id)
        if orig is None:
            raise NotFound(f"no run {run_id}", details={"field": "run_id", "run_id": run_id})
        s.expunge(orig)
    if orig.status in (runs.QUEUED, runs.RUNNING):
        raise Conflict(
            f"run {run_id} is {orig.status}; replay it once it has stopped (or cancel it first)",
            code="run_active",
            details={"field": "run_id", "status": orig.status},
        )
    digest, number = _target(engine, orig, version)
    if engine.store.get(digest) is None:
        raise Conflict(
            f"digest {digest} of {orig.workflow_name!r} has not been compiled on this server; compile first",
            code="not_compiled",
            details={"field": "/version", "digest": digest},
        )
    which = "the run's version" if version == "original" else "the deployed version"
    if from_node not in node_ids(engine, orig.workflow_name, digest):
        raise UnknownNode(f"node {from_node!r} is not in {which} of {orig.workflow_name!r}", from_node)

    with db.session() as s:  # one transaction: no poller sees the new run without its journal
        entries = list(
            s.execute(sa.select(JournalEntry).where(JournalEntry.run_id == run_id).order_by(JournalEntry.seq))
            .scalars()
            .all()
        )
        cut = _cut(entries, from_node)
        if cut is None:
            raise Conflict(
                f"node {from_node!r} never started in run {run_id} (the run stopped before it); "
                "replay from a node that ran",
                code="node_not_run",
                details={"field": "/from_node", "node": from_node},
            )
        prefix = []
        for e in entries:
            if e.seq >= cut:
                break
            if e.state not in (DONE, FAILED):  # no answer recorded: from here on the new run must go live
                break
            prefix.append(e)
        first_event = s.execute(
            sa.select(sa.func.min(Event.seq)).where(
                Event.run_id == run_id, Event.node == from_node, Event.type.like("node.%")
            )
        ).scalar()
        events = (
            s.execute(
                sa.select(Event)
                .where(Event.run_id == run_id, Event.seq < (first_event or 0))
                .where(
                    sa.or_(
                        Event.type.like("node.%"),
                        Event.type == "log",
                        sa.and_(Event.type.like("agent.%"), Event.type != "agent.delta"),  # the transcript
                    )
                )
                .order_by(Event.seq)
            )
            .scalars()
            .all()
        )
        new_id = runs.create_run(s, workflow_name=orig.workflow_name, digest=digest, input=orig.input)
        row = s.get(Run, new_id)
        row.replay_of, row.replay_from_node = run_id, from_node
        cols = [c.name for c in JournalEntry.__table__.columns]
        if prefix:
            s.execute(sa.insert(JournalEntry), [{**{c: getattr(e, c) for c in cols}, "run_id": new_id} for e in prefix])
        replayed = {
            "type": "run.replayed",
            "data": {
                "replay_of": run_id,
                "from_node": from_node,
                "version": version,
                "digest": digest,
                "reused_calls": len(prefix),
            },
        }
        copied = [{"type": e.type, "node": e.node, "data": _mark(e.data, run_id), "at": e.at} for e in events]
        runs.append_events(s, new_id, [replayed, *copied])
        status = row.status
    return {
        "run_id": new_id,
        "status": status,
        "digest": digest,
        "version": number,
        "replay_of": {"run_id": run_id, "from_node": from_node},
    }


def _mark(data: Any, run_id: str) -> Any:
    """An event copied from the original run says so (the live view and the editor can tell)."""
    return {**data, "replayed_from": run_id} if isinstance(data, dict) else {"replayed_from": run_id}


def lineage(db, run_id: str, replay_of: str | None, from_node: str | None) -> dict[str, Any]:
    """Where a run comes from and which runs were replayed from it (oldest first)."""
    with db.session() as s:
        rows = s.execute(
            sa.select(Run.id, Run.replay_from_node, Run.created_at).where(Run.replay_of == run_id).order_by(Run.id)
        ).all()
    return {
        "replay_of": {"run_id": replay_of, "from_node": from_node} if replay_of else None,
        "replays": [{"run_id": rid, "from_node": node, "created_at": _iso(created)} for rid, node, created in rows],
    }


def _iso(dt) -> str | None:
    dt = runs.as_utc(dt)
    return dt.isoformat() if dt else None
