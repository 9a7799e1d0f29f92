"""Workflows as a product: drafts with optimistic revisions, immutable versions, deployments, import/export.

Pure business logic over a ``Database`` (no Flask). A draft is the DSL document exactly as the editor saved
it; deploying pins the digest of the *current* draft as version n+1 and points the deployment at it.
Runs store their own digest, so a deploy never changes a run already in flight.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from app import dsl
from app.compiler.artifacts import ArtifactStore
from app.compiler.pipeline import prepare
from app.errors import Conflict, NotFound, Problem, ValidationFailed
from app.store import Database
from app.store.models import DEFAULT_WORKSPACE, Deployment, Workflow, WorkflowVersion
from app.workspaces import workflow_filter as workspace_filter

WEBHOOK_TOKEN_BYTES = 32  # 43 URL-safe characters: unguessable, fits Deployment.webhook_token


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).isoformat()


def _require(s, name: str) -> Workflow:
    wf = s.get(Workflow, name)
    if wf is None:
        raise NotFound(f"no workflow named {name!r}", details={"field": "name", "name": name})
    return wf


def _validated(doc: Any, *, prefix: str = "") -> dict[str, Any]:
    """The document if it is a valid workflow; else ValidationFailed with paths under ``prefix``."""
    problems = dsl.validate(doc)
    if problems:
        raise ValidationFailed([Problem(prefix + p.path, p.message, p.code, p.node) for p in problems])
    return doc


def _title(doc: dict[str, Any]) -> str:
    title = doc.get("title")  # an invalid draft may carry anything here
    return str(title if isinstance(title, str) and title else doc.get("name") or "")[:200]


def trigger_of(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The top-level trigger node of a (valid) document."""
    return next((n for n in doc.get("nodes", []) if str(n.get("type", "")).startswith("trigger.")), None)


def _summary(wf: Workflow, dep: Deployment | None) -> dict[str, Any]:
    return {
        "name": wf.name,
        "title": wf.title,
        "revision": wf.revision,
        "created_at": _iso(wf.created_at),
        "updated_at": _iso(wf.updated_at),
        "deployed_version": dep.version if dep is not None and dep.active else None,
    }


def _version_dict(v: WorkflowVersion, *, with_dsl: bool = False) -> dict[str, Any]:
    out = {
        "version": v.number,
        "digest": v.digest,
        "created_at": _iso(v.created_at),
        "created_by": v.created_by,
        "note": v.note,
    }
    if with_dsl:
        out["dsl"] = v.dsl
    return out


def _deployment_dict(dep: Deployment | None, version: WorkflowVersion | None) -> dict[str, Any] | None:
    if dep is None:
        return None
    return {
        "version": dep.version,
        "digest": version.digest if version is not None else None,
        "active": dep.active,
        "webhook_token": dep.webhook_token,
        "deployed_at": _iso(dep.deployed_at),
        "deployed_by": dep.deployed_by,
    }


# -- drafts ----------------------------------------------------------------------------------------------


def _taken(name: str) -> Conflict:
    """A name used in another workspace: names are unique in the instance (app.workspaces); do not say where."""
    return Conflict(
        f"the workflow name {name!r} is taken on this server (names are unique across workspaces); choose another",
        code="name_taken",
        details={"field": "/name", "name": name},
    )


def create_workflow(db: Database, doc: Any, *, workspace: str = DEFAULT_WORKSPACE) -> dict[str, Any]:
    """Save a new workflow of ``workspace`` whose draft is ``doc`` (validated); an existing name is a Conflict."""
    doc = _validated(doc)
    now = _now()
    with db.session() as s:
        existing = s.get(Workflow, doc["name"])
        if existing is not None and existing.workspace != workspace:
            raise _taken(doc["name"])
        if existing is not None:
            raise Conflict(
                f"a workflow named {doc['name']!r} exists; update it with PUT (or import with overwrite)",
                details={"field": "/name", "name": doc["name"]},
            )
        wf = Workflow(
            name=doc["name"],
            workspace=workspace,
            title=_title(doc),
            draft=doc,
            revision=1,
            created_at=now,
            updated_at=now,
        )
        s.add(wf)
        s.flush()
        return {**_summary(wf, None), "draft": doc}


def list_workflows(db: Database, *, workspace: str | None = None) -> list[dict[str, Any]]:
    """Every workflow (of ``workspace``, when given), by name."""
    with db.session() as s:
        q = sa.select(Workflow).order_by(Workflow.name)
        deps_q = sa.select(Deployment)
        if workspace is not None:
            q = q.where(Workflow.workspace == workspace)
            deps_q = deps_q.where(workspace_filter(Deployment.workflow_name, workspace))
        deps = {d.workflow_name: d for d in s.execute(deps_q).scalars()}
        rows = s.execute(q).scalars()
        return [_summary(wf, deps.get(wf.name)) for wf in rows]


def get_workflow(db: Database, name: str, *, checked: tuple[list[Problem], str | None] | None = None) -> dict[str, Any]:
    """Draft (with ``valid``, ``errors`` under /draft and, when valid, its ``digest``), revision, deployment
    and a summary of every version. ``checked``: ``check_draft`` of the draft, when the caller has it."""
    with db.session() as s:
        wf = _require(s, name)
        dep = s.get(Deployment, name)
        versions = (
            s.execute(
                sa.select(WorkflowVersion).where(WorkflowVersion.workflow_name == name).order_by(WorkflowVersion.number)
            )
            .scalars()
            .all()
        )
        current = next((v for v in versions if dep is not None and v.number == dep.version), None)
        out = {
            **_summary(wf, dep),
            "draft": wf.draft,
            "deployment": _deployment_dict(dep, current),
            "versions": [_version_dict(v) for v in versions],
        }
    return {**out, **draft_status(out["draft"], checked)}


def check_draft(draft: Any) -> tuple[list[Problem], str | None]:
    """The draft's problems and, when it has none, its digest: one validation for both."""
    try:
        return [], prepare(draft).digest
    except ValidationFailed as err:
        return err.problems, None


def draft_status(draft: Any, checked: tuple[list[Problem], str | None] | None = None) -> dict[str, Any]:
    """``valid``, ``errors`` (pointers under /draft) and the ``digest`` a valid draft compiles to;
    ``checked``: the result of ``check_draft`` when the caller has it already."""
    problems, digest = check_draft(draft) if checked is None else checked
    return {
        "valid": not problems,
        "errors": [Problem("/draft" + p.path, p.message, p.code, p.node).to_dict() for p in problems],
        "digest": digest,
    }


def update_draft(db: Database, name: str, draft: Any, *, revision: int, allow_invalid: bool = False) -> dict[str, Any]:
    """Replace the draft if ``revision`` is still current (optimistic lock); a stale one is a Conflict.

    With ``allow_invalid`` a draft that fails validation is saved as it is (the editor autosaves work in
    progress: losing it because a field is half typed would be worse than storing it); it still has to be a
    JSON object carrying this workflow's name, and it cannot be compiled or deployed until it is valid. The
    answer says ``valid`` and lists ``errors`` (pointers under ``/draft``); a valid draft also gets its
    ``digest``.
    """
    if not isinstance(draft, dict):
        raise ValidationFailed([Problem("/draft", "the draft must be a JSON object (a workflow document)", "type")])
    problems, digest = check_draft(draft)
    if problems and not allow_invalid:
        raise ValidationFailed([Problem("/draft" + p.path, p.message, p.code, p.node) for p in problems])
    if draft.get("name") != name:
        raise ValidationFailed(
            [
                Problem(
                    "/draft/name",
                    f"the draft is named {draft.get('name')!r} but this workflow is {name!r}",
                    "name_mismatch",
                )
            ]
        )
    with db.session() as s:
        _require(s, name)
        res = s.execute(
            sa.update(Workflow)
            .where(Workflow.name == name, Workflow.revision == revision)
            .values(draft=draft, title=_title(draft), revision=Workflow.revision + 1, updated_at=_now())
        )
        if res.rowcount != 1:
            current = s.execute(sa.select(Workflow.revision).where(Workflow.name == name)).scalar()
            raise Conflict(
                f"revision {revision} of {name!r} is stale: the draft is at revision {current}; reload it and "
                "apply your change again",
                code="stale_revision",
                details={"field": "/revision", "revision": revision, "current_revision": current},
            )
    return get_workflow(db, name, checked=(problems, digest))


def delete_workflow(db: Database, name: str) -> None:
    """Delete a workflow with its versions; refused while it is deployed (undeploy first). Runs are kept."""
    with db.session() as s:
        wf = _require(s, name)
        dep = s.get(Deployment, name)
        if dep is not None and dep.active:
            raise Conflict(
                f"{name!r} is deployed (version {dep.version}); its triggers would point at nothing. Undeploy it first",
                code="deployed",
                details={"field": "name", "version": dep.version},
            )
        if dep is not None:
            s.delete(dep)
        s.execute(sa.delete(WorkflowVersion).where(WorkflowVersion.workflow_name == name))
        s.delete(wf)


def validate_workflow(db: Database, name: str) -> list[Problem]:
    with db.session() as s:
        draft = _require(s, name).draft
    return dsl.validate(draft)


def draft_of(db: Database, name: str) -> dict[str, Any]:
    with db.session() as s:
        return _require(s, name).draft


def export_workflow(db: Database, name: str) -> dict[str, Any]:
    """The draft as a plain DSL document: the saved graph IS the format, so export is the draft itself."""
    return draft_of(db, name)


def import_workflow(
    db: Database, doc: Any, *, overwrite: bool = False, workspace: str = DEFAULT_WORKSPACE
) -> dict[str, Any]:
    """Create a workflow from a document; an existing name is a Conflict unless ``overwrite`` (new revision).
    A name of another workspace's workflow is never overwritten."""
    doc = _validated(doc)
    with db.session() as s:
        wf = s.get(Workflow, doc["name"])
        revision = wf.revision if wf is not None else None
        if wf is not None and wf.workspace != workspace:
            raise _taken(doc["name"])
    if revision is None:
        return create_workflow(db, doc, workspace=workspace)
    if not overwrite:
        raise Conflict(
            f"a workflow named {doc['name']!r} exists; import with overwrite=true to replace its draft",
            details={"field": "/name", "name": doc["name"]},
        )
    return update_draft(db, doc["name"], doc, revision=revision)


# -- versions and deployments ----------------------------------------------------------------------------


def deploy(
    db: Database,
    store: ArtifactStore,
    name: str,
    digest: str,
    *,
    expected_revision: int | None = None,
    by: str | None = None,
) -> dict:
    """Pin ``digest`` (which must be the compiled digest of the current draft) as version n+1 and deploy it;
    ``by``: who (the signed-in person or token's user; None without access control)."""
    with db.session() as s:
        wf = _require(s, name)
        draft, revision = wf.draft, wf.revision
    if expected_revision is not None and expected_revision != revision:
        raise Conflict(
            f"revision {expected_revision} is stale: the draft of {name!r} is at revision {revision}",
            code="stale_revision",
            details={"field": "/revision", "revision": expected_revision, "current_revision": revision},
        )
    draft_digest = prepare(draft).digest
    if digest != draft_digest:
        raise Conflict(
            f"digest {digest} is not the current draft of {name!r} (revision {revision} compiles to {draft_digest}); "
            "compile the draft and deploy that digest",
            code="digest_mismatch",
            details={"field": "/digest", "digest": digest, "draft_digest": draft_digest, "revision": revision},
        )
    if store.get(digest) is None:
        raise Conflict(
            f"digest {digest} has not been compiled on this server; compile first",
            code="not_compiled",
            details={"field": "/digest", "digest": digest},
        )
    # Deploying commits the server to running this digest: have its native form ready (usually the
    # background precompile finished long ago) so the first triggered run does not wait for it.
    store.precompiled_path(digest)
    with db.session() as s:
        latest = s.execute(
            sa.select(WorkflowVersion)
            .where(WorkflowVersion.workflow_name == name)
            .order_by(WorkflowVersion.number.desc())
            .limit(1)
        ).scalar()
        dep = s.get(Deployment, name)
        if (
            latest is not None
            and latest.digest == digest
            and dep is not None
            and dep.active
            and dep.version == latest.number
        ):
            return {**_deploy_result(dep, latest, draft), "unchanged": True}
        version = WorkflowVersion(
            workflow_name=name,
            number=(latest.number if latest else 0) + 1,
            digest=digest,
            dsl=draft,
            created_at=_now(),
            created_by=by,
            note=f"from draft revision {revision}",
        )
        s.add(version)
        dep = _point(s, name, version.number, by=by)
        s.flush()
        return {**_deploy_result(dep, version, draft), "unchanged": False}


def rollback(db: Database, store: ArtifactStore, name: str, number: int, *, by: str | None = None) -> dict[str, Any]:
    """Deploy an earlier version again (the deployment points at it; every version stays readable)."""
    with db.session() as s:
        _require(s, name)
        version = _version(s, name, number)
        if store.get(version.digest) is None:
            raise Conflict(
                f"version {number} of {name!r} ({version.digest}) has no artifact on this server; compile its dsl first",
                code="not_compiled",
                details={"field": "version", "digest": version.digest},
            )
        dep = _point(s, name, number, by=by)
        s.flush()
        return {**_deploy_result(dep, version, version.dsl), "unchanged": False}


def undeploy(db: Database, name: str) -> None:
    """Turn the workflow's triggers off (the deployment row and its webhook token are kept for a redeploy)."""
    with db.session() as s:
        _require(s, name)
        dep = s.get(Deployment, name)
        if dep is not None:
            dep.active = False


def list_versions(db: Database, name: str) -> list[dict[str, Any]]:
    with db.session() as s:
        _require(s, name)
        rows = s.execute(
            sa.select(WorkflowVersion).where(WorkflowVersion.workflow_name == name).order_by(WorkflowVersion.number)
        ).scalars()
        return [_version_dict(v) for v in rows]


def get_version(db: Database, name: str, number: int) -> dict[str, Any]:
    with db.session() as s:
        _require(s, name)
        return _version_dict(_version(s, name, number), with_dsl=True)


def deployed(db: Database, name: str) -> tuple[int, str, dict[str, Any]]:
    """(version, digest, dsl) that new runs of ``name`` use; Conflict if it is not deployed."""
    with db.session() as s:
        _require(s, name)
        dep = s.get(Deployment, name)
        if dep is None or not dep.active:
            raise Conflict(
                f"{name!r} is not deployed; deploy a digest, or start a test run with a digest or draft=true",
                code="not_deployed",
                details={"field": "name"},
            )
        v = _version(s, name, dep.version)
        return v.number, v.digest, v.dsl


def deployed_digest(db: Database, name: str) -> str | None:
    """The digest new runs of ``name`` use, or None when it is not deployed (subflows fall back to the latest)."""
    with db.session() as s:
        row = s.execute(
            sa.select(WorkflowVersion.digest)
            .join(
                Deployment,
                sa.and_(
                    Deployment.workflow_name == WorkflowVersion.workflow_name,
                    Deployment.version == WorkflowVersion.number,
                ),
            )
            .where(Deployment.workflow_name == name, Deployment.active.is_(True))
        ).scalar()
    return row


def source_for_digest(db: Database, name: str, digest: str) -> dict[str, Any]:
    """The document ``digest`` was compiled from: a version of ``name`` or its current draft."""
    with db.session() as s:
        wf = _require(s, name)
        v = s.execute(
            sa.select(WorkflowVersion).where(WorkflowVersion.workflow_name == name, WorkflowVersion.digest == digest)
        ).scalar()
        if v is not None:
            return v.dsl
        draft = wf.draft
    if prepare(draft).digest == digest:
        return draft
    raise Conflict(
        f"digest {digest} is neither a version nor the current draft of {name!r}",
        code="digest_mismatch",
        details={"field": "/digest", "digest": digest},
    )


def _version(s, name: str, number: int) -> WorkflowVersion:
    v = s.get(WorkflowVersion, (name, number))
    if v is None:
        raise NotFound(f"{name!r} has no version {number}", details={"field": "version", "version": number})
    return v


def _point(s, name: str, number: int, *, by: str | None = None) -> Deployment:
    """Upsert the deployment row; the webhook token survives redeploys so callers keep their URL."""
    dep = s.get(Deployment, name)
    if dep is None:
        dep = Deployment(workflow_name=name, webhook_token=secrets.token_urlsafe(WEBHOOK_TOKEN_BYTES))
        s.add(dep)
    dep.version = number
    dep.active = True
    dep.deployed_at = _now()
    dep.deployed_by = by
    return dep


def _deploy_result(dep: Deployment, version: WorkflowVersion, doc: dict[str, Any]) -> dict[str, Any]:
    trigger = trigger_of(doc) or {}
    config = trigger.get("config") or {}
    schedule = None
    if trigger.get("type") == "trigger.schedule":
        schedule = {"cron": config.get("cron"), "timezone": config.get("timezone", "UTC")}
    return {
        "workflow": dep.workflow_name,
        "version": version.number,
        "digest": version.digest,
        "trigger": trigger.get("type"),
        "webhook_token": dep.webhook_token,
        "schedule": schedule,
        "deployed_at": _iso(dep.deployed_at),
        "deployed_by": dep.deployed_by,
    }
