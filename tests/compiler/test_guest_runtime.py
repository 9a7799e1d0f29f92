"""Semantics of generated workflows: the real code generator and guest runtime, run on the host's CPython
against a fake host (tests/compiler/fakehost.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fakehost import FakeHost, Harness, Refuse, node, response, workflow

from app.compiler.codegen import generate_guest_module, required_capabilities

START = node("start", "trigger.manual")


@pytest.fixture
def h(tmp_path, monkeypatch) -> Harness:
    return Harness(tmp_path, monkeypatch)


def test_transform_output_and_events(h):
    doc = workflow([START, node("double", "transform", expression="input['n'] * 2")], [("start", "double")])
    host = FakeHost()
    result = h.run(doc, {"n": 21}, host)
    assert result == {"output": 42, "nodes": {"start": {"n": 21}, "double": 42}}
    assert host.events() == [
        ("start", "started", 1),
        ("start", "finished", 1),
        ("double", "started", 1),
        ("double", "finished", 1),
    ]
    started = host.of("node.event")[2]
    assert started["input"] == {"from": ["start"]}
    assert host.of("node.event")[3]["output"] == 42


@pytest.mark.parametrize(("n", "ran", "skipped"), [(5, "big", "small"), (1, "small", "big")])
def test_branch_follows_one_port_and_joins(h, n, ran, skipped):
    doc = workflow(
        [
            START,
            node("check", "branch", condition="input['n'] > 3"),
            node("big", "transform", expression="'big'"),
            node("small", "transform", expression="'small'"),
            node("join", "transform", expression="big or small"),
        ],
        [("start", "check"), ("check", "big", "true"), ("check", "small", "false"), ("big", "join"), ("small", "join")],
    )
    host = FakeHost()
    result = h.run(doc, {"n": n}, host)
    assert result["output"] == ran
    assert result["nodes"]["check"] == {"value": n > 3}
    assert skipped not in result["nodes"] and ran in result["nodes"]
    assert host.events(skipped) == [(skipped, "skipped", None)]


@pytest.mark.parametrize(("tier", "port"), [("gold", "vip"), ("silver", "normal"), ("none", "default")])
def test_switch_first_truthy_case_else_default(h, tier, port):
    doc = workflow(
        [
            START,
            node(
                "route",
                "switch",
                cases=[
                    {"port": "vip", "when": "input['tier'] == 'gold'"},
                    {"port": "normal", "when": "input['tier'] in ('gold', 'silver')"},
                ],
            ),
            node("vip", "transform", expression="'vip'"),
            node("normal", "transform", expression="'normal'"),
            node("other", "transform", expression="'default'"),
        ],
        [("start", "route"), ("route", "vip", "vip"), ("route", "normal", "normal"), ("route", "other", "default")],
    )
    result = h.run(doc, {"tier": tier})
    assert result["nodes"]["route"] == {"port": port}
    assert result["output"] == port


def _http_doc(**config):
    return workflow([START, node("call", "http.request", **config)], [("start", "call")])


def test_http_request_renders_templates_and_passes_secret_by_name(h):
    host = FakeHost(http=lambda req: response(201, {"id": 7}))
    doc = _http_doc(
        method="POST",
        url="https://api.example.com/users/{{ input['user'] }}/notes",
        headers={"X-Trace": "t-{{ input['n'] }}", "Accept": "application/json"},
        query={"v": "{{ input['n'] }}", "empty": "{{ None }}"},
        body="{'text': input['text'], 'n': input['n']}",
        auth={"type": "bearer", "secret": "API_TOKEN"},
        expect_status=["2xx"],
        timeout_seconds=5,
    )
    result = h.run(doc, {"user": "u1", "n": 3, "text": "hi"}, host)
    assert result["output"] == {"status": 201, "headers": {"content-type": "application/json"}, "body": {"id": 7}}
    (batch,) = host.of("http.request")
    assert batch == {
        "requests": [
            {
                "method": "POST",
                "url": "https://api.example.com/users/u1/notes",
                "headers": {"X-Trace": "t-3", "Accept": "application/json"},
                "query": {"v": "3", "empty": ""},
                "body": {"text": "hi", "n": 3},
                "auth": {"type": "bearer", "secret": "API_TOKEN"},
                "timeout_seconds": 5,
                "response": "auto",
                "node": "call",
                "effect": "call#1",
            }
        ]
    }


def test_unexpected_status_fails_the_run_with_status(h):
    host = FakeHost(http=lambda req: response(404, {"detail": "nope"}))
    err = h.fail(_http_doc(url="https://api.example.com/x"), {}, host)
    assert err["code"] == "unexpected_status"
    assert err["node"] == "call"
    assert err["details"]["status"] == 404
    assert "404" in err["message"]
    assert host.events("call")[-1] == ("call", "failed", 1)


def test_expect_status_list_accepts_listed_codes(h):
    host = FakeHost(http=lambda req: response(409, {}))
    assert h.run(_http_doc(url="https://a.example.com/", expect_status=[200, 409]), {}, host)["output"]["status"] == 409


def test_on_error_continue_gives_error_output_and_follows_out(h):
    host = FakeHost(http=lambda req: response(500, "boom"))
    doc = workflow(
        [
            START,
            node("call", "http.request", url="https://a.example.com/", on_error="continue"),
            node("after", "transform", expression="call['error']['code']"),
        ],
        [("start", "call"), ("call", "after")],
    )
    result = h.run(doc, {}, host)
    assert result["output"] == "unexpected_status"
    assert result["nodes"]["call"]["error"]["node"] == "call"


def test_on_error_route_follows_only_the_error_port(h):
    host = FakeHost(http=lambda req: (_ for _ in ()).throw(Refuse("network", "connection refused", True)))
    doc = workflow(
        [
            START,
            node("call", "http.request", url="https://a.example.com/", on_error="route"),
            node("ok", "transform", expression="'ok'"),
            node(
                "handle", "transform", expression="{'failed': call['error']['code'], 'msg': call['error']['message']}"
            ),
        ],
        [("start", "call"), ("call", "ok"), ("call", "handle", "error")],
    )
    result = h.run(doc, {}, host)
    assert result["output"] == {"failed": "network", "msg": "connection refused"}
    assert "ok" not in result["nodes"]


def _flaky(statuses):
    it = iter(statuses)
    return lambda req: response(next(it), {})


@pytest.mark.parametrize(("jitter", "waits"), [(False, [1.0, 2.0]), (True, [0.75, 1.5])])
def test_retry_backoff_attempts_and_waits(h, jitter, waits):
    host = FakeHost(http=_flaky([503, 502, 200]))
    doc = _http_doc(url="https://a.example.com/")
    doc["nodes"][1]["retry"] = {
        "max_attempts": 3,
        "backoff": {"initial_seconds": 1, "multiplier": 2, "max_seconds": 300, "jitter": jitter},
        "retry_on": ["5xx"],
    }
    result = h.run(doc, {}, host)
    assert result["output"]["status"] == 200
    assert [e for e in host.events("call")] == [
        ("call", "started", 1),
        ("call", "failed", 1),
        ("call", "started", 2),
        ("call", "failed", 2),
        ("call", "started", 3),
        ("call", "finished", 3),
    ]
    assert [w["seconds"] for w in host.of("timer.wait")] == waits
    assert len(host.of("random.bytes")) == (2 if jitter else 0)


def test_retry_gives_up_after_max_attempts_and_caps_delay(h):
    host = FakeHost(http=lambda req: (_ for _ in ()).throw(Refuse("timeout", "read timed out", True)))
    doc = _http_doc(url="https://a.example.com/")
    doc["nodes"][1]["retry"] = {
        "max_attempts": 4,
        "backoff": {"initial_seconds": 10, "multiplier": 3, "max_seconds": 40, "jitter": False},
        "retry_on": ["timeout"],
    }
    err = h.fail(doc, {}, host)
    assert err["code"] == "timeout" and err["retriable"] is True
    assert [w["seconds"] for w in host.of("timer.wait")] == [10.0, 30.0, 40.0]
    assert len(host.of("http.request")) == 4


def test_retry_does_not_retry_classes_not_listed(h):
    host = FakeHost(http=_flaky([404, 200]))
    doc = _http_doc(url="https://a.example.com/")
    doc["nodes"][1]["retry"] = {"max_attempts": 3, "retry_on": ["5xx", "429"]}
    assert h.fail(doc, {}, host)["details"]["status"] == 404
    assert host.of("timer.wait") == []


def test_retry_never_retries_expression_errors(h):
    host = FakeHost()
    doc = _http_doc(url="https://a.example.com/{{ input['missing'] }}")
    doc["nodes"][1]["retry"] = {"max_attempts": 3, "retry_on": ["any"]}
    err = h.fail(doc, {}, host)
    assert err["code"] == "expression_error" and "KeyError" in err["message"]
    assert host.of("http.request") == []


def _map_doc(concurrency, *, result=None, body_on_error="fail"):
    body = {
        "nodes": [
            node(
                "post",
                "http.request",
                method="POST",
                url="https://a.example.com/items/{{ item }}",
                body="{'i': index}",
                on_error=body_on_error,
            ),
            node("shape", "transform", expression="post['body'] if 'error' not in post else 'err'"),
        ],
        "edges": [{"from": "post", "to": "shape", "port": "out"}],
    }
    config = {"items": "input['items']", "concurrency": concurrency, "body": body}
    if result is not None:
        config["result"] = result
    return workflow([START, node("each", "map", **config)], [("start", "each")])


def test_map_concurrency_batches_http_requests(h):
    host = FakeHost(http=lambda req: response(200, req["body"]["i"] * 10))
    result = h.run(_map_doc(4), {"items": list("abcdefghij")}, host)
    assert result["output"] == [i * 10 for i in range(10)]
    assert host.http_batches == [4, 4, 2]
    urls = [r["url"] for b in host.of("http.request") for r in b["requests"]]
    assert urls == [f"https://a.example.com/items/{c}" for c in "abcdefghij"]
    assert "post" not in result["nodes"]  # map bodies are not in the run result
    first_post = next(r for r in host.of("node.event") if r["node"] == "post")
    assert first_post["index"] == [0]


def test_map_concurrency_one_is_sequential(h):
    host = FakeHost(http=lambda req: response(200, 1))
    h.run(_map_doc(1), {"items": [1, 2, 3]}, host)
    assert host.http_batches == [1, 1, 1]


def test_map_result_expression(h):
    host = FakeHost(http=lambda req: response(200, "x"))
    result = h.run(_map_doc(2, result="{'item': item, 'index': index, 'got': shape}"), {"items": ["a", "b"]}, host)
    assert result["output"] == [{"item": "a", "index": 0, "got": "x"}, {"item": "b", "index": 1, "got": "x"}]


def test_map_item_failure_fails_the_map_node(h):
    host = FakeHost(http=lambda req: response(500 if req["body"]["i"] == 2 else 200, "ok"))
    err = h.fail(_map_doc(2), {"items": [1, 2, 3, 4]}, host)
    assert err["node"] == "each"
    assert err["code"] == "unexpected_status"
    assert err["details"]["index"] == 2 and err["details"]["failed_node"] == "post"


def test_map_item_failure_with_continue_keeps_going(h):
    host = FakeHost(http=lambda req: response(500 if req["body"]["i"] == 1 else 200, "ok"))
    result = h.run(_map_doc(3, body_on_error="continue"), {"items": [1, 2, 3]}, host)
    assert result["output"] == ["ok", "err", "ok"]


def test_nested_maps_batch_across_levels(h):
    inner = {"nodes": [node("get", "http.request", url="https://a.example.com/{{ item }}")], "edges": []}
    outer = {"nodes": [node("rows", "map", items="item", concurrency=2, body=inner)], "edges": []}
    doc = workflow([START, node("grid", "map", items="input", concurrency=2, body=outer)], [("start", "grid")])
    host = FakeHost(http=lambda req: response(200, req["url"].rsplit("/", 1)[1]))
    result = h.run(doc, [["a", "b"], ["c", "d"]], host)
    assert [[r["body"] for r in row] for row in result["output"]] == [["a", "b"], ["c", "d"]]
    assert host.http_batches == [4]


def test_map_items_must_be_a_list(h):
    doc = _map_doc(1)
    assert h.fail(doc, {"items": {"a": 1}})["code"] == "map_items_not_list"


def test_respond_sends_webhook_response_and_run_continues(h):
    doc = workflow(
        [
            node("hook", "trigger.webhook"),
            node(
                "ack",
                "respond",
                status=202,
                headers={"X-Ticket": "{{ input['body']['t'] }}"},
                body="{'received': True}",
            ),
            node("after", "transform", expression="ack['status']"),
        ],
        [("hook", "ack"), ("ack", "after")],
    )
    host = FakeHost()
    result = h.run(doc, {"method": "POST", "body": {"t": 9}}, host)
    assert host.of("webhook.respond") == [
        {"status": 202, "headers": {"X-Ticket": "9"}, "body": {"received": True}, "node": "ack", "effect": "ack#1"}
    ]
    assert result["output"] == 202


def test_fail_node_ends_the_run_with_structured_error(h):
    doc = workflow(
        [START, node("stop", "fail", message="bad lead {{ input['id'] }}", code="invalid_lead", on_error="continue")],
        [("start", "stop")],
    )
    err = h.fail(doc, {"id": 5})
    assert err == {"code": "invalid_lead", "message": "bad lead 5", "node": "stop", "retriable": False, "details": {}}


def test_wait_duration_and_until(h):
    doc = workflow(
        [START, node("pause", "wait", duration="1h30m"), node("later", "wait", until="{{ input['at'] }}")],
        [("start", "pause"), ("pause", "later")],
    )
    host = FakeHost()
    result = h.run(doc, {"at": "2026-12-01T00:00:00Z"}, host)
    assert host.of("timer.wait") == [
        {"node": "pause", "seconds": 5400},
        {"node": "later", "until": "2026-12-01T00:00:00Z"},
    ]
    assert result["output"] == {"waited_until": "2026-12-01T00:00:00Z"}


def test_approval_request_and_decision(h):
    doc = workflow(
        [START, node("ok", "approval", title="Refund {{ input['amount'] }}?", timeout="2d", approvers=["finance"])],
        [("start", "ok")],
    )
    host = FakeHost()
    result = h.run(doc, {"amount": 30}, host)
    assert host.of("approval.request") == [
        {
            "title": "Refund 30?",
            "details": "",
            "timeout_seconds": 172800,
            "timeout_action": "reject",
            "approvers": ["finance"],
            "node": "ok",
        }
    ]
    assert result["output"]["approved"] is True and result["output"]["by"] == "ann"


def test_approval_timeout_with_fail_action_fails(h):
    doc = workflow([START, node("ok", "approval", title="t", timeout_action="fail")], [("start", "ok")])
    host = FakeHost(approval={"approved": False, "decision": "timed_out", "by": None, "reason": ""})
    assert h.fail(doc, {}, host)["code"] == "approval_timed_out"


def test_kv_get_default_set_then_get(h):
    doc = workflow(
        [
            START,
            node("before", "kv.get", namespace="counters", key="c-{{ input['k'] }}", default=0),
            node("bump", "kv.set", namespace="counters", key="c-{{ input['k'] }}", value="before + 1"),
            node("after", "kv.get", namespace="counters", key="c-{{ input['k'] }}"),
        ],
        [("start", "before"), ("before", "bump"), ("bump", "after")],
    )
    host = FakeHost()
    result = h.run(doc, {"k": "x"}, host)
    assert result["nodes"]["before"] == 0 and result["nodes"]["bump"] == {"key": "c-x", "value": 1}
    assert result["output"] == 1
    assert host.kv == {("counters", "c-x"): 1}


def test_kv_host_error_becomes_node_error(h):
    class Denying(FakeHost):
        def handle(self, capability, request):
            if capability == "kv.get":
                raise Refuse("not_granted", "namespace 'secret' is not granted to this workflow")
            return super().handle(capability, request)

    doc = workflow([START, node("read", "kv.get", namespace="secret", key="k")], [("start", "read")])
    err = h.fail(doc, {}, Denying())
    assert err["code"] == "not_granted" and "namespace" in err["message"] and err["node"] == "read"


def test_subflow_calls_child_workflow(h):
    doc = workflow(
        [START, node("child", "subflow", workflow="enrich", input="{'id': input['id']}")], [("start", "child")]
    )
    host = FakeHost(workflows={"enrich": lambda data: {"enriched": data["id"]}})
    result = h.run(doc, {"id": 4}, host)
    assert host.of("workflow.call") == [
        {"workflow": "enrich", "input": {"id": 4}, "wait": True, "node": "child", "effect": "child#1"}
    ]
    assert result["output"] == {"enriched": 4}


def test_templates_keep_single_values_and_join_others(h):
    doc = workflow(
        [START, node("greet", "fail", message="{{ input['who'] }}:{{ input['n'] }}:{{ None }}:{{ input }}")],
        [("start", "greet")],
    )
    err = h.fail(doc, {"who": "ann", "n": 2})
    assert err["message"] == 'ann:2::{"who":"ann","n":2}'


def test_template_helpers():
    import wasmflow_guest as rt

    assert rt.text(None) == "" and rt.text(3) == "3" and rt.text([1, "a"]) == '[1,"a"]'
    assert rt.concat("a", None, 1.5, {"k": True}) == 'a1.5{"k":true}'


def test_code_block_with_locals_imports_and_reassigned_scope_names(h):
    code = textwrap.dedent("""\
        import json
        total = 0
        for row in input['rows']:
            total += row
        input = {'replaced': True}
        note = '''multi
          line'''
        return {'total': total, 'dump': json.dumps(input), 'note': note}
    """)
    doc = workflow([START, node("calc", "transform", code=code)], [("start", "calc")])
    result = h.run(doc, {"rows": [1, 2, 3]})
    assert result["output"] == {"total": 6, "dump": '{"replaced": true}', "note": "multi\n  line"}


def test_expression_error_names_node_and_exception(h):
    doc = workflow([START, node("bad", "transform", expression="input['nope']")], [("start", "bad")])
    err = h.fail(doc, {})
    assert err["node"] == "bad" and err["code"] == "expression_error" and "KeyError" in err["message"]


def test_non_json_output_is_a_node_error(h):
    doc = workflow([START, node("bad", "transform", expression="{1, 2}")], [("start", "bad")])
    assert h.fail(doc, {})["code"] == "output_not_json"


def test_several_sinks_give_output_by_id(h):
    doc = workflow(
        [START, node("a", "transform", expression="1"), node("b", "transform", expression="2")],
        [("start", "a"), ("start", "b")],
    )
    assert h.run(doc, {})["output"] == {"a": 1, "b": 2}


def test_error_handler_runs_with_error_then_run_fails(h):
    doc = workflow(
        [
            START,
            node("boom", "transform", expression="1 / 0"),
            node("on_failure", "transform", expression="error['node']"),
            node(
                "alert",
                "http.request",
                method="POST",
                url="https://alerts.example.com/",
                body="{'failed': error['node'], 'code': error['code']}",
            ),
        ],
        [("start", "boom"), ("on_failure", "alert")],
        settings={"error_handler": "on_failure"},
    )
    host = FakeHost()
    err = h.fail(doc, {}, host)
    assert err["node"] == "boom" and "ZeroDivisionError" in err["message"]
    (batch,) = host.of("http.request")
    assert batch["requests"][0]["body"] == {"failed": "boom", "code": "expression_error"}


def test_bad_run_input_is_a_structured_error(h):
    module = h.load(workflow([START], []), FakeHost())
    from fakehost import Err

    with pytest.raises(Err) as info:
        module.WitWorld().run("{not json")
    assert json.loads(info.value.value)["code"] == "bad_input"


def test_only_required_interfaces_are_needed(h):
    doc = json.loads((Path(__file__).resolve().parents[2] / "examples" / "order-sync.json").read_text())
    host = FakeHost(
        granted=required_capabilities(doc),
        http=lambda req: response(200, {"orders": [{"id": 1, "lines": [{"sku": "a", "quantity": 1, "price": 2}]}]}),
    )
    result = h.run(doc, {"since": "2026-11-01"}, host)
    assert result["output"]["lines_synced"] == 1
    assert {c for c, _ in host.calls} <= required_capabilities(doc)


class _Echo(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        body = json.dumps({"path": self.path, "auth": self.headers.get("Authorization")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_http_against_a_real_local_server_with_host_side_secret(h):
    """The fake host performs the request with urllib and injects the secret: the guest only names it."""
    import urllib.parse
    import urllib.request

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    secrets = {"API_TOKEN": "s3cr3t"}

    def http(req):
        url = req["url"] + ("?" + urllib.parse.urlencode(req["query"]) if req["query"] else "")
        headers = dict(req["headers"])
        if req["auth"]:
            headers["Authorization"] = "Bearer " + secrets[req["auth"]["secret"]]
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as resp:  # noqa: S310
            return response(resp.status, json.loads(resp.read()), {"content-type": resp.headers["Content-Type"]})

    try:
        port = server.server_address[1]
        doc = _http_doc(
            url=f"http://127.0.0.1:{port}/items/{{{{ input['id'] }}}}",
            query={"q": "x y"},
            auth={"type": "bearer", "secret": "API_TOKEN"},
        )
        host = FakeHost(http=http)
        result = h.run(doc, {"id": 3}, host)
    finally:
        server.shutdown()
    assert result["output"]["body"] == {"path": "/items/3?q=x+y", "auth": "Bearer s3cr3t"}
    assert "s3cr3t" not in json.dumps(host.of("http.request"))  # the echo server sends it back; requests never held it


HARDENED_SCRIPT = """
import json, sys
sys.path[:0] = [{root!r}, {tests!r}]
import fakehost
from wasmflow_guest import sandbox
sandbox._enabled = True  # fakehost disabled hardening for in-process tests; this process is disposable
host = fakehost.FakeHost()
sys.modules.update(host.modules())
module = fakehost.load_module(__import__("pathlib").Path({path!r}), "workflow_app")
try:
    out = {{"ok": json.loads(module.WitWorld().run("{{}}"))}}
except fakehost.Err as err:
    out = {{"err": json.loads(err.value), "events": host.events()}}
out["logs"] = host.of("log.write")
sys.stdout.write(json.dumps(out) + "\\n")  # print() itself is hardened in this process
"""


def _run_hardened(tmp_path, doc) -> dict:
    """Run ``doc`` in a fresh interpreter with hardening on (so this test process stays unpatched)."""
    path = tmp_path / "workflow_app.py"
    path.write_text(generate_guest_module(doc), encoding="utf-8")
    root = str(Path(__file__).resolve().parents[2])
    script = HARDENED_SCRIPT.format(root=root, tests=str(Path(__file__).parent), path=str(path))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=root)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('time').time()", "time.time() is not available inside a workflow: use the clock.now capability"),
        ("__import__('os').urandom(4)", "os.urandom() is not available inside a workflow: use the random.bytes"),
        ("__import__('random').random()", "random.random() is not available inside a workflow"),
        ("open('/etc/passwd').read()", "open() is not available inside a workflow"),
        ("__import__('datetime').datetime.now()", "datetime.now() is not available inside a workflow"),
        ("__import__('socket').socket()", "socket.socket() is not available inside a workflow"),
        ("__import__('wave')", "module 'wave' is not available inside a workflow"),
        ("__import__('datetime').date.today()", "time.time() is not available inside a workflow"),
        ("__import__('random').SystemRandom().random()", "os.urandom() is not available inside a workflow"),
    ],
)
def test_hardening_fails_the_calling_node_with_a_clear_message(tmp_path, expression, message):
    doc = workflow([START, node("peek", "transform", expression=expression)], [("start", "peek")])
    out = _run_hardened(tmp_path, doc)
    assert out["err"]["code"] == "sandbox_violation" and out["err"]["node"] == "peek"
    assert message in out["err"]["message"]
    assert ["peek", "failed", 1] in out["events"]


def test_code_block_imports_are_preloaded_at_build_time(h):
    code = "import base64\nfrom datetime import datetime\nreturn base64.b64encode(b'hi').decode()"
    doc = workflow([START, node("enc", "transform", code=code)], [("start", "enc")])
    source = generate_guest_module(doc)
    assert "_rt.preload(['_strptime', 'base64', 'datetime'])\n_rt.harden()" in source
    assert h.run(doc, {})["output"] == "aGk="


def test_print_goes_to_the_run_log(tmp_path):
    code = "print('total', 3)\nreturn 1"
    doc = workflow([START, node("calc", "transform", code=code)], [("start", "calc")])
    out = _run_hardened(tmp_path, doc)
    assert out["ok"]["output"] == 1
    assert out["logs"] == [{"level": "info", "message": "total 3", "node": "calc"}]


def test_hardening_is_off_in_the_test_process():
    import time

    assert time.time() > 0


@pytest.mark.parametrize(
    ("lead", "expected"),
    [
        ({"email": "a@big.com", "company": "Big", "employees": 5000}, "enterprise"),
        ({"email": "nobody", "company": "Tiny", "employees": 3}, None),
    ],
)
def test_lead_routing_example(h, lead, expected):
    doc = json.loads((Path(__file__).resolve().parents[2] / "examples" / "lead-routing.json").read_text())
    host = FakeHost(http=lambda req: response(201, {"team": req["body"].get("owner_team")}))
    if expected is None:
        assert h.fail(doc, lead, host)["code"] == "invalid_lead"
        return
    result = h.run(doc, lead, host)
    assert result["output"]["body"] == {"team": expected}
    assert host.kv == {("lead-counters", expected): 1}


@pytest.mark.slow
def test_real_component_batches_hardens_and_preloads(tmp_path):
    """The same runtime inside a real component (componentize-py --stub-wasi, CPython 3.14) under wasmtime."""
    from app.compiler.build import build_component
    from app.runtime import wasm

    body = {
        "nodes": [
            node(
                "post",
                "http.request",
                method="POST",
                url="https://a.example.com/{{ item }}",
                body="{'i': index}",
                retry={"max_attempts": 2, "retry_on": ["5xx"]},
            )
        ],
        "edges": [],
    }
    code = "import base64\nprint('synced', len(each))\nreturn {'n': len(each), 'tag': base64.b64encode(b'hi').decode()}"
    doc = workflow(
        [
            START,
            node("each", "map", items="input['items']", concurrency=4, body=body),
            node("summary", "transform", code=code),
            node("clock", "transform", expression="__import__('time').time()", on_error="continue"),
            node("importer", "transform", expression="__import__('wave')", on_error="continue"),
            node("stop", "fail", message="done: {{ summary['n'] }}", code="stopped"),
        ],
        [("start", "each"), ("each", "summary"), ("summary", "clock"), ("clock", "importer"), ("importer", "stop")],
    )
    caps = required_capabilities(doc)
    component = wasm.compile_component(build_component(generate_guest_module(doc), caps, workdir=tmp_path / "b"))
    host = FakeHost(http=lambda req: response(200, req["body"]["i"]))

    def bind(name):
        def call(request: str):
            try:
                return host._call(name, request)
            except Exception as exc:
                raise wasm.HostCallError(**json.loads(exc.value)) from None

        return call

    ok, payload = wasm.instantiate_and_run(
        component, {c: bind(c) for c in caps}, json.dumps({"items": list("abcdefghij")})
    )
    assert not ok
    assert json.loads(payload) == {
        "code": "stopped",
        "message": "done: 10",
        "node": "stop",
        "retriable": False,
        "details": {},
    }
    assert host.http_batches == [4, 4, 2]
    failed = {r["node"]: r["error"] for r in host.of("node.event") if r["event"] == "failed"}
    assert failed["clock"]["code"] == "sandbox_violation" and "time.time()" in failed["clock"]["message"]
    assert failed["importer"]["code"] == "sandbox_violation" and "'wave'" in failed["importer"]["message"]
    summary = next(r for r in host.of("node.event") if r["node"] == "summary" and r["event"] == "finished")
    assert summary["output"] == {"n": 10, "tag": "aGk="}
    assert host.of("log.write") == [{"level": "info", "message": "synced 10", "node": "summary"}]


def _example(name: str) -> dict:
    return json.loads((Path(__file__).resolve().parents[2] / "examples" / f"{name}.json").read_text())


def test_daily_report_example_compares_with_previous_run(h):
    metrics = {"orders": 110, "revenue": 2200.0, "refunds": 2}
    host = FakeHost(
        http=lambda req: response(200, metrics if "metrics" in req["url"] else {"ok": True}),
        kv={("reports", "daily-sales"): {"orders": 100, "revenue": 2000.0, "refunds": 2}},
    )
    result = h.run(_example("daily-report"), {"scheduled_at": "2026-11-21T09:00:00+00:00"}, host)
    report = result["nodes"]["report"]
    assert report["text"].splitlines()[:2] == ["Sales report for 2026-11-21", "Orders: 110 (+10.0%)"]
    assert host.kv[("reports", "daily-sales")] == report
    assert host.of("http.request")[0]["requests"][0]["query"] == {"day": "2026-11-21"}


@pytest.mark.parametrize("decision", ["approved", "rejected"])
def test_webhook_approval_example(h, decision):
    approval = {
        "approved": decision == "approved",
        "decision": decision,
        "by": "fin",
        "reason": "policy",
        "decided_at": "2026-11-21T11:00:00Z",
    }
    host = FakeHost(
        approval=approval,
        http=lambda req: response(200, {"name": "Ann", "created_at": "2020-01-02T00:00:00Z", "lifetime_value": 1200}),
    )
    run_input = {
        "method": "POST",
        "path": "/hooks/refund",
        "headers": {},
        "query": {},
        "body": {"ticket_id": 77, "customer_id": "c9", "amount": 30, "currency": "EUR", "reason": "late"},
    }
    result = h.run(_example("webhook-approval"), run_input, host)
    assert host.of("webhook.respond")[0]["status"] == 202
    assert host.calls.index(("webhook.respond", host.of("webhook.respond")[0])) < len(host.calls) // 2
    (ask,) = host.of("approval.request")
    assert ask["title"] == "Refund 30 EUR to Ann?" and ask["timeout_seconds"] == 172800
    sent = host.of("http.request")[-1]["requests"][0]
    assert ("approved by fin" in sent["body"]["text"]) == (decision == "approved")
    assert set(result["nodes"]) >= {"ack", "customer", "approve_refund", "approved"}


def test_every_attempt_of_a_retried_call_names_the_same_effect(h):
    """The effect id is the call's logical identity: attempt 3 of a retried POST names the effect attempt 1
    named (the host keys Idempotency-Key by it), and each map item's call has its own."""
    answers = iter([response(503, {}), response(503, {}), response(201, {"id": 1})])
    host = FakeHost(http=lambda req: next(answers) if req["node"] == "post" else response(200, {}))
    retry = {"max_attempts": 3, "initial_seconds": 0.1, "jitter": False}
    doc = workflow(
        [START, node("post", "http.request", method="POST", url="https://api.example.com/x", retry=retry)],
        [("start", "post")],
    )
    h.run(doc, {}, host)
    effects = [r["requests"][0]["effect"] for r in host.of("http.request")]
    assert effects == ["post#1", "post#1", "post#1"]
    assert all("effect" not in t for t in host.of("timer.wait")), "backoff timers are the driver's, not effects"


def test_each_map_item_gets_its_own_effect_id(h):
    body = {
        "nodes": [{"id": "put", "type": "kv.set", "config": {"namespace": "n", "key": "{{ item }}", "value": "item"}}],
        "edges": [],
    }
    doc = workflow(
        [START, node("each", "map", items="input['keys']", concurrency=2, body=body)],
        [("start", "each")],
    )
    host = FakeHost()
    h.run(doc, {"keys": ["a", "b", "c"]}, host)
    assert sorted(r["effect"] for r in host.of("kv.set")) == ["put@0#1", "put@1#1", "put@2#1"]
