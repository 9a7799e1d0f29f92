"""Runs as the API sees them: start (deployed version, or a digest/draft for test runs), list, show, cancel,
resume. Pure business logic over the ``Engine`` (no Flask).

Resuming a ``needs_attention`` run re-queues it against the digest it stored: a determinism error therefore
replays the same component against the same journal, so it only helps once the cause is gone (e.g. an
ambiguous side effect was checked by hand); it never switches the run to a newer version.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import jsonschema
import sqlalchemy as sa

from app.compiler.pipeline import prepare
from app.engine import queries, replay, runs, workflows
from app.errors import Conflict, InvalidInput, Problem, UserError
from app.store.models import Run, WorkflowVersion
from app.workspaces import workflow_filter

MAX_PAGE = 200


def _pointer(parts) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def input_problems(schema: dict[str, Any] | None, value: Any) -> list[Problem]:
    """Every way ``value`` breaks the workflow's ``inputs`` JSON Schema, each located under /input."""
    if not schema:
        return []
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return [
            Problem("/inputs" + _pointer(exc.absolute_path), f"the workflow's inputs schema is invalid: {exc.message}")
        ]
    errors = sorted(cls(schema).iter_errors(value), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return [Problem("/input" + _pointer(e.absolute_path), e.message, str(e.validator)) for e in errors]


def start_run(engine, name: str, input: Any, *, digest: str | None = None, draft: bool = False) -> dict[str, Any]:
    """Queue a run of ``name`` and kick it: the deployed version by default; ``digest`` or ``draft`` for a test
    run of a compiled digest of this workflow. The input must match the workflow's ``inputs`` schema."""
    db = engine.db
    version = None
    if digest and draft:
        raise UserError("give either digest or draft=true, not both", details={"field": "/digest"})
    if draft:
        doc = workflows.draft_of(db, name)
        digest = prepare(doc).digest
    elif digest:
        doc = workflows.source_for_digest(db, name, digest)
    else:
        version, digest, doc = workflows.deployed(db, name)
    if engine.store.get(digest) is None:
        raise Conflict(
            f"digest {digest} of {name!r} has not been compiled on this server; compile first",
            code="not_compiled",
            details={"field": "/digest", "digest": digest},
        )
    problems = input_problems(doc.get("inputs"), input)
    if problems:
        raise InvalidInput(problems, message=f"the input does not match the inputs schema of {name!r}")
    run_id = engine.start_run(digest, input, workflow_name=name)
    with db.session() as s:
        status = runs.get_run(s, run_id).status
    return {"run_id": run_id, "status": status, "workflow": name, "digest": digest, "version": version}


def list_runs(
    db,
    *,
    workflow: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
    workspace: str | None = None,
) -> dict[str, Any]:
    """Newest first (of ``workspace``'s workflows, when given). Run ids sort by creation time, so the cursor is
    the last id of the previous page."""
    limit = max(1, min(int(limit), MAX_PAGE))
    q = sa.select(Run).order_by(Run.id.desc()).limit(limit + 1)
    if workspace is not None:
        q = q.where(workflow_filter(Run.workflow_name, workspace))
    if workflow:
        q = q.where(Run.workflow_name == workflow)
    if status:
        q = q.where(Run.status == status)
    if since is not None:
        q = q.where(Run.created_at >= since)
    if cursor:
        q = q.where(Run.id < cursor)
    with db.session() as s:
        rows = s.execute(q).scalars().all()
        page = rows[:limit]
        versions = _versions(s, {(r.workflow_name, r.digest) for r in page})
        items = [{**_summary(r), "version": versions.get((r.workflow_name, r.digest))} for r in page]
    return {"runs": items, "next_cursor": items[-1]["id"] if len(rows) > limit else None}


def _versions(s, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """The deployed version number of each (workflow, digest), in one query; test runs of drafts have none."""
    if not pairs:
        return {}
    digests = {d for _w, d in pairs}
    q = (
        sa.select(WorkflowVersion.workflow_name, WorkflowVersion.digest, sa.func.max(WorkflowVersion.number))
        .where(WorkflowVersion.digest.in_(digests))
        .group_by(WorkflowVersion.workflow_name, WorkflowVersion.digest)
    )
    return {(w, d): n for w, d, n in s.execute(q) if (w, d) in pairs}


def _summary(r: Run) -> dict[str, Any]:
    return {
        "id": r.id,
        "workflow": r.workflow_name,
        "digest": r.digest,
        "status": r.status,
        "created_at": queries._iso(r.created_at),
        "started_at": queries._iso(r.started_at),
        "finished_at": queries._iso(r.finished_at),
        "error": r.error,
        "replay_of": {"run_id": r.replay_of, "from_node": r.replay_from_node} if r.replay_of else None,
    }


def run_details(db, run_id: str, *, with_journal: bool = False) -> dict[str, Any]:
    """The run with its version, per-node view (input, output, duration, error), logs (from its events) and
    lineage (the run it replays, the runs replayed from it)."""
    out = queries.run_details(db, run_id, with_journal=with_journal)
    with db.session() as s:
        run = runs.get_run(s, run_id)
        origin, from_node = run.replay_of, run.replay_from_node
        out["version"] = s.execute(
            sa.select(sa.func.max(WorkflowVersion.number)).where(
                WorkflowVersion.workflow_name == out["workflow"], WorkflowVersion.digest == out["digest"]
            )
        ).scalar()
    out["nodes"] = node_view(out["events"])
    agents = [n["llm"] for n in out["nodes"] if "llm" in n]
    if agents:
        costs = [a["cost_usd"] for a in agents if a["cost_usd"] is not None]
        out["llm_usage"] = {
            "turns": sum(a["turns"] for a in agents),
            "input_tokens": sum(a["input_tokens"] for a in agents),
            "output_tokens": sum(a["output_tokens"] for a in agents),
            "cost_usd": sum(costs) if costs else None,
        }
    out["logs"] = [{"at": e["at"], "node": e["node"], **(e["data"] or {})} for e in out["events"] if e["type"] == "log"]
    out["lineage"] = replay.lineage(db, run_id, origin, from_node)
    return out


def node_view(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per node in the order nodes started; duration from node.started to its end event."""
    nodes: dict[str, dict[str, Any]] = {}
    for e in events:
        kind = e["type"]
        if not (kind.startswith("node.") or kind in ("http.replayed", "agent.turn")) or not e.get("node"):
            continue
        data = e.get("data") or {}
        n = nodes.setdefault(e["node"], {"node": e["node"], "status": "started", "started_at": None})
        if kind == "agent.turn":  # an agent's model turns: tokens and cost on the node
            llm = n.setdefault("llm", {"turns": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": None})
            usage = data.get("usage") or {}
            llm["turns"] += 1
            llm["input_tokens"] += int(usage.get("input_tokens") or 0)
            llm["output_tokens"] += int(usage.get("output_tokens") or 0)
            if data.get("cost_usd") is not None:
                llm["cost_usd"] = (llm["cost_usd"] or 0) + data["cost_usd"]
            continue
        if kind == "http.replayed":  # the server answered from its idempotency cache: shown on the node
            n.setdefault("replayed", []).append({"key": data.get("key"), "status": data.get("status")})
            continue
        if kind == "node.started":
            n.setdefault("attempts", 0)
            n["attempts"] += 1
            n["started_at"] = n["started_at"] or e["at"]
            if "input" in data:
                n["input"] = data["input"]
            continue
        n["status"] = kind.removeprefix("node.")
        n["finished_at"] = e["at"]
        if kind == "node.finished":
            n.pop("error", None)  # a retried node that succeeded: its failed attempts stay in the events
        for key in ("output", "error"):
            if key in data:
                n[key] = data[key]
        if n["started_at"] and e["at"]:
            delta = datetime.fromisoformat(e["at"]) - datetime.fromisoformat(n["started_at"])
            n["duration_ms"] = round(delta.total_seconds() * 1000, 3)
    return list(nodes.values())


def cancel_run(engine, run_id: str) -> dict[str, Any]:
    """Cancel now if the run is not executing; else ask its executor to stop at its next host call."""
    with engine.db.session() as s:
        status, events = runs.cancel(s, run_id)
    if events:
        engine.world.publish(run_id, events)
    return {"run_id": run_id, "status": status, "cancel_requested": True}


def resume_run(engine, run_id: str) -> dict[str, Any]:
    """Re-queue a needs_attention run and kick it; it replays against the digest and journal it has."""
    with engine.db.session() as s:
        events = runs.requeue(s, run_id)
    engine.world.publish(run_id, events)
    engine.kick(run_id)
    with engine.db.session() as s:
        status = runs.get_run(s, run_id).status
    return {"run_id": run_id, "status": status}


def resolve_call(
    engine, run_id: str, *, seq: int, applied: bool, response: dict | None = None, by: str = "operator"
) -> dict[str, Any]:
    """Settle the unknown outcome of call ``seq`` (runs.resolve_call) and resume the run by replay."""
    with engine.db.session() as s:
        events = runs.resolve_call(s, run_id, seq=seq, applied=applied, response=response, by=by)
    engine.world.publish(run_id, events)
    engine.kick(run_id)
    with engine.db.session() as s:
        status = runs.get_run(s, run_id).status
    return {"run_id": run_id, "status": status}


def replay_run(engine, run_id: str, *, from_node: str, version: str = "original") -> dict[str, Any]:
    """A new run replaying ``run_id`` from ``from_node`` (app.engine.replay), kicked at once."""
    out = replay.replay_run(engine, run_id, from_node=from_node, version=version)
    engine.kick(out["run_id"])
    with engine.db.session() as s:
        out["status"] = runs.get_run(s, out["run_id"]).status
    return out
