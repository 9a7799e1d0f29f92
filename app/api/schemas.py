"""Request and response schemas of the REST API (marshmallow): the blueprints load requests with them and the
OpenAPI document is generated from them, so each shape is written once."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.engine.runs import STATES

DIGEST = validate.Regexp(r"^[0-9a-f]{64}$", error="a sha256 digest: 64 lowercase hex characters")
NAME = validate.Regexp(r"^[a-z][a-z0-9-]{0,62}$", error="a workflow name: ^[a-z][a-z0-9-]{0,62}$")


class Strict(Schema):
    class Meta:
        ordered = True


# -- requests ---------------------------------------------------------------------------------------------


class DraftUpdate(Strict):
    revision = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=2**31 - 1))
    draft = fields.Dict(required=True, metadata={"description": "the whole DSL document (see WorkflowDocument)"})


class DeployRequest(Strict):
    digest = fields.String(required=True, validate=DIGEST)
    revision = fields.Integer(
        strict=True,
        validate=validate.Range(min=1, max=2**31 - 1),
        metadata={"description": "optional: refuse (409) unless the draft is still at this revision"},
    )


class RunStart(Strict):
    input = fields.Raw(load_default=dict, allow_none=True, metadata={"description": "the run input; {} if omitted"})
    digest = fields.String(validate=DIGEST, metadata={"description": "test run of this compiled digest"})
    draft = fields.Boolean(load_default=False, metadata={"description": "test run of the current draft's digest"})


class RunListQuery(Strict):
    workflow = fields.String(validate=NAME)
    status = fields.String(validate=validate.OneOf(STATES))
    since = fields.AwareDateTime(default_timezone=None, metadata={"description": "ISO 8601 with an offset"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(
        validate=validate.Regexp(r"^[0-9a-f]{1,32}$"), metadata={"description": "next_cursor of the previous page"}
    )


class RunShowQuery(Strict):
    journal = fields.Boolean(load_default=False, metadata={"description": "include the journal rows"})


class ReplayRequest(Strict):
    from_node = fields.String(
        required=True,
        validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,63}$", error="a node id: ^[a-z][a-z0-9_]{0,63}$"),
        metadata={"description": "the node to run live from; the calls of the nodes before it are reused"},
    )
    version = fields.String(
        load_default="original",
        validate=validate.OneOf(["original", "current"]),
        metadata={"description": "original: the run's digest; current: the workflow's deployed digest"},
    )


class ImportQuery(Strict):
    overwrite = fields.Boolean(load_default=False, metadata={"description": "replace the draft of an existing name"})


# -- responses --------------------------------------------------------------------------------------------


class Problem(Strict):
    path = fields.String(metadata={"description": "JSON pointer into the request"})
    node = fields.String(allow_none=True)
    message = fields.String()
    code = fields.String()


class ErrorBody(Strict):
    kind = fields.String(validate=validate.OneOf(["user", "retriable", "fatal"]))
    code = fields.String(
        metadata={
            "description": "stable slug: invalid_json (400), invalid_request (query or body fields), invalid_input "
            "(run input vs inputs schema), invalid_workflow (DSL), not_found, conflict, ... (docs/api.md)"
        }
    )
    message = fields.String()
    field = fields.String()
    errors = fields.List(fields.Nested(Problem))
    details = fields.Dict()


class Error(Strict):
    error = fields.Nested(ErrorBody)


class Health(Strict):
    status = fields.String()


class ValidationResult(Strict):
    valid = fields.Boolean()
    errors = fields.List(fields.Nested(Problem))


class CompileResult(Strict):
    digest = fields.String()
    workflow = fields.String()
    cache_hit = fields.Boolean()
    seconds = fields.Float()
    steps = fields.Dict()
    component_size = fields.Integer()
    capabilities = fields.List(fields.String())
    manifest = fields.Dict()
    bundle = fields.Dict()


class Artifact(Strict):
    digest = fields.String()
    workflow_name = fields.String()
    dsl_sha256 = fields.String()
    compiler = fields.Dict()
    manifest = fields.Dict()
    component_sha256 = fields.String()
    component_size = fields.Integer()
    bundle = fields.Dict()
    compile_seconds = fields.Float()
    created_at = fields.String()


class WorkflowSummary(Strict):
    name = fields.String()
    title = fields.String()
    revision = fields.Integer()
    created_at = fields.String()
    updated_at = fields.String()
    deployed_version = fields.Integer(allow_none=True)


class WorkflowList(Strict):
    workflows = fields.List(fields.Nested(WorkflowSummary))


class Version(Strict):
    version = fields.Integer()
    digest = fields.String()
    created_at = fields.String()
    created_by = fields.String(allow_none=True, metadata={"description": "who deployed it (with access control)"})
    note = fields.String(allow_none=True)
    dsl = fields.Dict(metadata={"description": "the document of this version (single version only)"})


class VersionList(Strict):
    versions = fields.List(fields.Nested(Version))


class DeploymentInfo(Strict):
    version = fields.Integer()
    digest = fields.String(allow_none=True)
    active = fields.Boolean()
    webhook_token = fields.String()
    deployed_at = fields.String()
    deployed_by = fields.String(allow_none=True, metadata={"description": "who deployed or rolled back last"})


class WorkflowDetail(WorkflowSummary):
    draft = fields.Dict()
    deployment = fields.Nested(DeploymentInfo, allow_none=True)
    versions = fields.List(fields.Nested(Version))
    valid = fields.Boolean(metadata={"description": "whether the stored draft is a valid workflow"})
    errors = fields.List(fields.Nested(Problem), metadata={"description": "the draft's problems (under /draft)"})
    digest = fields.String(allow_none=True, metadata={"description": "the valid draft's digest (null if invalid)"})


class DeployResult(Strict):
    workflow = fields.String()
    version = fields.Integer()
    digest = fields.String()
    trigger = fields.String(allow_none=True)
    webhook_token = fields.String()
    webhook_url = fields.String(allow_none=True, metadata={"description": "set when the trigger is a webhook"})
    schedule = fields.Dict(allow_none=True)
    deployed_at = fields.String()
    deployed_by = fields.String(allow_none=True)
    unchanged = fields.Boolean(metadata={"description": "true when this digest was already the deployed version"})


class RunStarted(Strict):
    run_id = fields.String()
    status = fields.String()
    workflow = fields.String()
    digest = fields.String()
    version = fields.Integer(allow_none=True)


class ReplayOf(Strict):
    run_id = fields.String()
    from_node = fields.String()


class ReplayChild(ReplayOf):
    created_at = fields.String()


class Lineage(Strict):
    replay_of = fields.Nested(ReplayOf, allow_none=True)
    replays = fields.List(fields.Nested(ReplayChild))


class ReplayStarted(Strict):
    run_id = fields.String()
    status = fields.String()
    digest = fields.String()
    version = fields.Integer(allow_none=True, metadata={"description": "the version number of that digest, if any"})
    replay_of = fields.Nested(ReplayOf)


class RunSummary(Strict):
    id = fields.String()
    workflow = fields.String()
    digest = fields.String()
    status = fields.String(validate=validate.OneOf(STATES))
    created_at = fields.String()
    started_at = fields.String(allow_none=True)
    finished_at = fields.String(allow_none=True)
    error = fields.Dict(allow_none=True)
    replay_of = fields.Nested(ReplayOf, allow_none=True, metadata={"description": "set on a replay/fork"})
    version = fields.Integer(allow_none=True, metadata={"description": "the deployed version of its digest, if any"})


class RunList(Strict):
    runs = fields.List(fields.Nested(RunSummary))
    next_cursor = fields.String(allow_none=True)


class NodeView(Strict):
    node = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    started_at = fields.String(allow_none=True)
    finished_at = fields.String()
    duration_ms = fields.Float()
    input = fields.Raw()
    output = fields.Raw()
    error = fields.Raw()
    llm = fields.Dict(metadata={"description": "an agent node's model turns, tokens in/out and cost (USD, or null)"})


class RunEvent(Strict):
    seq = fields.Integer()
    type = fields.String()
    node = fields.String(allow_none=True)
    data = fields.Raw(allow_none=True)
    at = fields.String()


class RunDetail(RunSummary):
    version = fields.Integer(allow_none=True)
    input = fields.Raw(allow_none=True)
    output = fields.Raw(allow_none=True)
    response = fields.Dict(allow_none=True)
    waiting_for = fields.Dict(allow_none=True)
    wake_at = fields.String(allow_none=True)
    executions = fields.Integer()
    parent_run_id = fields.String(allow_none=True)
    events = fields.List(fields.Nested(RunEvent))
    nodes = fields.List(fields.Nested(NodeView))
    logs = fields.List(fields.Dict())
    journal = fields.List(fields.Dict(), metadata={"description": "only with ?journal=1"})
    lineage = fields.Nested(Lineage)
    llm_usage = fields.Dict(metadata={"description": "the agents' model turns, tokens and cost in all (agents only)"})


class ResolveRequest(Strict):
    seq = fields.Integer(
        required=True,
        validate=validate.Range(min=1),
        metadata={"description": "the call of unknown outcome (the run error's details.seq)"},
    )
    outcome = fields.String(
        required=True,
        validate=validate.OneOf(["applied", "not_applied"]),
        metadata={
            "description": "applied: the other system did it (the call is answered with `response`); "
            "not_applied: it did not (the call is made again, with the same idempotency key)"
        },
    )
    response = fields.Dict(
        load_default=None,
        allow_none=True,
        metadata={"description": "with applied: the HTTP answer to record, {status, headers, body}; default 200"},
    )
    by = fields.String(load_default="operator", validate=validate.Length(1, 120))


class RunAction(Strict):
    run_id = fields.String()
    status = fields.String()
    cancel_requested = fields.Boolean()


# -- approvals --------------------------------------------------------------------------------------------


class ApprovalListQuery(Strict):
    status = fields.String(load_default="pending", validate=validate.OneOf(["pending", "decided", "all"]))
    run_id = fields.String(validate=validate.Regexp(r"^[0-9a-f]{1,32}$"))
    workflow = fields.String(validate=NAME)


class ApprovalDecide(Strict):
    by = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "who; with access control on, the signed-in user (this field is ignored)"},
    )
    reason = fields.String(load_default="", validate=validate.Length(max=2000))


class ApprovalDecisionOut(Strict):
    approved = fields.Boolean()
    decision = fields.String(validate=validate.OneOf(["approved", "rejected", "timed_out"]))
    by = fields.String(allow_none=True)
    reason = fields.String()
    decided_at = fields.String()


class Approval(Strict):
    id = fields.String(metadata={"description": "the approval key run_id:seq"})
    run_id = fields.String()
    workflow = fields.String(allow_none=True)
    node = fields.String(allow_none=True)
    title = fields.String(allow_none=True)
    details = fields.String(allow_none=True)
    requested_at = fields.String()
    timeout_at = fields.String(allow_none=True)
    timeout_action = fields.String()
    approvers = fields.List(fields.String())
    status = fields.String(validate=validate.OneOf(["pending", "decided"]))
    decision = fields.Nested(ApprovalDecisionOut, allow_none=True)


class ApprovalList(Strict):
    approvals = fields.List(fields.Nested(Approval))


class ApprovalDecided(ApprovalDecisionOut):
    id = fields.String()
    run_id = fields.String()
