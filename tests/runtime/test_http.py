"""``HttpClient.perform`` against a real server on 127.0.0.1 (the only address these tests send traffic to)."""

from __future__ import annotations

import base64

import pytest
from httpserver import Recorded, Reply, TestServer

from app import __version__
from app.runtime.http import HttpClient, HttpPolicy
from app.runtime.netguard import AddressPolicy, parse_networks
from app.runtime.redact import Redactor

LOOPBACK = AddressPolicy(allow=parse_networks("127.0.0.1/32"))
TOKEN = "s3cr3t-T0ken/with+chars=="
HOST = "127.0.0.1"


class Secrets:
    """A ``SecretResolver`` over a dict."""

    def __init__(self, values: dict[str, str] | None = None):
        self.values = values or {}

    def value(self, name: str) -> str | None:
        return self.values.get(name)


@pytest.fixture
def srv():
    with TestServer() as server:
        yield server


@pytest.fixture
def client():
    with HttpClient(HttpPolicy(addresses=LOOPBACK)) as c:
        yield c


def run(client: HttpClient, *requests: dict, hosts=(HOST,), secrets=None, allowed=()) -> list[dict]:
    return client.perform(
        list(requests),
        keys=[f"run1:{i + 1}" for i in range(len(requests))],
        hosts=hosts,
        secrets=secrets or Secrets(),
        allowed_secrets=allowed,
    )


def one(client: HttpClient, request: dict, **kw) -> dict:
    [res] = run(client, request, **kw)
    return res


def test_get_json_with_query_headers_and_idempotency_key(srv: TestServer, client: HttpClient) -> None:
    srv.route("/items", json={"items": [1, 2]}, headers={"X-Multi": "a"})
    res = one(
        client, {"method": "GET", "url": srv.url("/items?page=1"), "query": {"q": "a b"}, "headers": {"X-Trace": "t1"}}
    )
    assert res["ok"]["status"] == 200 and res["ok"]["body"] == {"items": [1, 2]}
    assert res["ok"]["headers"]["content-type"] == "application/json"
    assert all(k == k.lower() for k in res["ok"]["headers"])
    [rec] = srv.requests
    assert rec.query == {"page": "1", "q": "a b"}
    assert rec.header("idempotency-key") == "run1:1"
    assert rec.header("x-trace") == "t1"
    assert rec.header("user-agent") == f"wasmflow/{__version__}"


def test_multi_valued_headers_are_joined(srv: TestServer, client: HttpClient) -> None:
    def handler(_req: Recorded) -> Reply:
        return Reply(headers={"X-A": "1"}, body=b"ok")

    srv.route("/", handler)
    res = one(client, {"method": "GET", "url": srv.url("/")})
    assert res["ok"]["headers"]["x-a"] == "1"


def test_json_body_and_string_body(srv: TestServer, client: HttpClient) -> None:
    one(client, {"method": "POST", "url": srv.url("/echo"), "body": {"a": 1, "b": "é"}})
    one(client, {"method": "PUT", "url": srv.url("/echo"), "body": "a=1", "headers": {"Content-Type": "text/plain"}})
    one(client, {"method": "PATCH", "url": srv.url("/echo"), "body": "just a string"})
    first, second, third = srv.requests
    assert first.header("content-type") == "application/json" and first.body == '{"a":1,"b":"é"}'.encode()
    assert second.header("content-type") == "text/plain" and second.body == b"a=1"
    assert third.header("content-type") == "application/json" and third.body == b'"just a string"'


def test_guest_cannot_set_host_owned_headers(srv: TestServer, client: HttpClient) -> None:
    one(client, {"method": "GET", "url": srv.url("/echo"), "headers": {"Idempotency-Key": "forged", "Host": "evil"}})
    [rec] = srv.requests
    assert rec.header("idempotency-key") == "run1:1" and rec.header("host") == f"127.0.0.1:{srv.port}"


def test_ungranted_host_is_denied_without_a_request(srv: TestServer, client: HttpClient) -> None:
    res = one(client, {"method": "GET", "url": srv.url("/")}, hosts=["api.example.com"])
    err = res["err"]
    assert err["code"] == "capability_denied" and err["retriable"] is False
    assert "http.request" in err["message"] and "'127.0.0.1'" in err["message"]
    assert "api.example.com" in err["message"]
    assert err["details"] == {"capability": "http.request", "host": "127.0.0.1", "granted": ["api.example.com"]}
    assert srv.requests == []


def test_redirect_is_followed_and_rechecked(srv: TestServer, client: HttpClient) -> None:
    srv.route("/a", status=302, headers={"Location": "/b"})
    srv.route("/b", status=301, headers={"Location": srv.url("/c")})
    srv.route("/c", json={"done": True})
    res = one(client, {"method": "GET", "url": srv.url("/a")})
    assert res["ok"]["body"] == {"done": True}
    assert srv.paths() == ["/a", "/b", "/c"]
    assert all(r.header("idempotency-key") == "run1:1" for r in srv.requests)


def test_post_redirected_by_303_becomes_get(srv: TestServer, client: HttpClient) -> None:
    srv.route("/submit", status=303, headers={"Location": "/echo"})
    res = one(client, {"method": "POST", "url": srv.url("/submit"), "body": {"x": 1}})
    assert res["ok"]["body"]["method"] == "GET" and res["ok"]["body"]["body"] == ""


def test_redirect_to_ungranted_host_is_denied(srv: TestServer, client: HttpClient) -> None:
    srv.route("/a", status=302, headers={"Location": "http://elsewhere.example/steal"})
    res = one(client, {"method": "GET", "url": srv.url("/a")})
    assert res["err"]["code"] == "capability_denied" and "elsewhere.example" in res["err"]["message"]
    assert srv.paths() == ["/a"]


def test_redirect_to_blocked_address_is_denied(srv: TestServer) -> None:
    # "inside.test" resolves to two loopback answers, one outside the allowed 127.0.0.1/32: refused.
    resolver = {"inside.test": ["127.0.0.1", "::1"]}
    srv.route("/a", status=307, headers={"Location": srv.url("/b", host="inside.test")})
    srv.route("/b", text="must not be reached")
    with HttpClient(HttpPolicy(addresses=LOOPBACK), resolver=lambda h, p: resolver.get(h, [h])) as client:
        res = one(client, {"method": "GET", "url": srv.url("/a")}, hosts=[HOST, "inside.test"])
    assert res["err"]["code"] == "address_blocked" and "inside.test" in res["err"]["message"]
    assert srv.paths() == ["/a"]


def test_too_many_redirects(srv: TestServer) -> None:
    srv.route("/loop", status=302, headers={"Location": "/loop"})
    with HttpClient(HttpPolicy(addresses=LOOPBACK, max_redirects=3)) as client:
        res = one(client, {"method": "GET", "url": srv.url("/loop")})
    assert res["err"]["code"] == "too_many_redirects" and res["err"]["retriable"] is False
    assert srv.paths() == ["/loop"] * 4


def test_response_over_the_cap_is_cut_off(srv: TestServer) -> None:
    srv.route("/big", stream_bytes=8 * 1024 * 1024)
    srv.route("/declared", body=b"y" * 5000)
    srv.route("/fits", body=b"z" * 1000)
    with HttpClient(HttpPolicy(addresses=LOOPBACK, max_response_bytes=1000)) as client:
        big, declared, fits = run(
            client,
            {"method": "GET", "url": srv.url("/big")},
            {"method": "GET", "url": srv.url("/declared")},
            {"method": "GET", "url": srv.url("/fits"), "response": "text"},
        )
    assert big["err"]["code"] == "response_too_large" and big["err"]["details"] == {"limit_bytes": 1000}
    assert declared["err"]["code"] == "response_too_large"
    assert fits["ok"]["body"] == "z" * 1000


def test_timeout_is_retriable_and_capped_by_policy(srv: TestServer) -> None:
    srv.route("/slow", delay=3, text="late")
    with HttpClient(HttpPolicy(addresses=LOOPBACK, max_timeout=0.5)) as client:
        res = one(client, {"method": "GET", "url": srv.url("/slow"), "timeout_seconds": 60})
    # the policy's 0.5 s cap, not the request's 60 s nor the server's 3 s: a late answer would be ok
    assert res["err"]["code"] == "timeout" and res["err"]["retriable"] is True
    assert "took longer than 0.5 seconds" in res["err"]["message"], res


def test_connection_refused_is_a_retriable_network_error(client: HttpClient) -> None:
    with TestServer() as gone:
        port = gone.port
    res = one(client, {"method": "GET", "url": f"http://127.0.0.1:{port}/"})
    assert res["err"]["code"] == "network" and res["err"]["retriable"] is True


@pytest.mark.parametrize(
    ("auth", "header", "expected"),
    [
        ({"type": "bearer", "secret": "API_TOKEN"}, "authorization", f"Bearer {TOKEN}"),
        (
            {"type": "basic", "secret": "API_TOKEN", "username": "bot"},
            "authorization",
            "Basic " + base64.b64encode(f"bot:{TOKEN}".encode()).decode(),
        ),
        ({"type": "header", "secret": "API_TOKEN", "header": "X-Api-Key"}, "x-api-key", TOKEN),
    ],
)
def test_secret_is_injected_and_redacted_from_the_result(srv: TestServer, client: HttpClient, auth, header, expected):
    res = one(
        client,
        {"method": "GET", "url": srv.url("/echo"), "auth": auth},
        secrets=Secrets({"API_TOKEN": TOKEN}),
        allowed=["API_TOKEN"],
    )
    [rec] = srv.requests
    assert rec.header(header) == expected
    echoed = res["ok"]["body"]["headers"][header]
    assert "[secret:API_TOKEN]" in echoed
    text = repr(res)
    assert TOKEN not in text and base64.b64encode(TOKEN.encode()).decode() not in text
    assert base64.b64encode(f"bot:{TOKEN}".encode()).decode() not in text


def test_redactor_removes_a_secret_echoed_in_a_response_body(srv: TestServer, client: HttpClient) -> None:
    srv.route("/leak", json={"you_sent": TOKEN, TOKEN: "as a key too"})
    res = one(client, {"method": "GET", "url": srv.url("/leak")})  # no auth: the client knows no secret here
    assert res["ok"]["body"]["you_sent"] == TOKEN
    redacted = Redactor({"API_TOKEN": TOKEN}).redact(res)
    assert redacted["ok"]["body"] == {"you_sent": "[secret:API_TOKEN]", "[secret:API_TOKEN]": "as a key too"}


def test_credentials_do_not_follow_a_redirect_to_another_origin(srv: TestServer) -> None:
    resolver = {"other.test": ["127.0.0.1"]}
    srv.route("/a", status=302, headers={"Location": srv.url("/echo", host="other.test")})
    with HttpClient(HttpPolicy(addresses=LOOPBACK), resolver=lambda h, p: resolver.get(h, [h])) as client:
        res = one(
            client,
            {"method": "GET", "url": srv.url("/a"), "auth": {"type": "bearer", "secret": "API_TOKEN"}},
            hosts=[HOST, "other.test"],
            secrets=Secrets({"API_TOKEN": TOKEN}),
            allowed=["API_TOKEN"],
        )
    first, second = srv.requests
    assert first.header("authorization") == f"Bearer {TOKEN}"
    assert second.header("authorization") is None
    assert res["ok"]["status"] == 200


def test_missing_secret(srv: TestServer, client: HttpClient) -> None:
    res = one(
        client,
        {"method": "GET", "url": srv.url("/"), "auth": {"type": "bearer", "secret": "NOPE"}},
        allowed=["NOPE"],
    )
    assert res["err"]["code"] == "secret_missing" and "NOPE" in res["err"]["message"]
    assert srv.requests == []


def test_ungranted_secret_is_denied(srv: TestServer, client: HttpClient) -> None:
    res = one(
        client,
        {"method": "GET", "url": srv.url("/"), "auth": {"type": "bearer", "secret": "OTHER"}},
        secrets=Secrets({"OTHER": TOKEN}),
        allowed=["API_TOKEN"],
    )
    err = res["err"]
    assert err["code"] == "capability_denied" and "'OTHER'" in err["message"] and "http.request" in err["message"]
    assert TOKEN not in repr(res)
    assert srv.requests == []


def test_secret_never_appears_in_error_messages(srv: TestServer) -> None:
    # A timeout, a size error and a bad header: none of the messages carry the value.
    srv.route("/slow", delay=2, text="late")
    srv.route("/big", stream_bytes=100_000)
    with HttpClient(HttpPolicy(addresses=LOOPBACK, max_response_bytes=10)) as client:
        secrets = Secrets({"API_TOKEN": TOKEN, "BROKEN": "line\r\nbreak", "UNI": "pässwörter"})
        results = run(
            client,
            {
                "method": "GET",
                "url": srv.url("/slow"),
                "auth": {"type": "bearer", "secret": "API_TOKEN"},
                "timeout_seconds": 0.3,
            },
            {
                "method": "GET",
                "url": srv.url("/big"),
                "auth": {"type": "header", "secret": "API_TOKEN", "header": "X-K"},
            },
            {"method": "GET", "url": srv.url("/"), "auth": {"type": "bearer", "secret": "BROKEN"}},
            {"method": "GET", "url": srv.url("/"), "auth": {"type": "bearer", "secret": "UNI"}},
            secrets=secrets,
            allowed=["API_TOKEN", "BROKEN", "UNI"],
        )
    codes = [r["err"]["code"] for r in results]
    assert codes == ["timeout", "response_too_large", "invalid_secret", "invalid_secret"]
    text = repr(results)
    assert TOKEN not in text and "line\r\nbreak" not in text and "pässwörter" not in text
    assert sorted(srv.paths()) == ["/big", "/slow"]  # concurrent: either order


def test_batch_runs_concurrently_in_order(srv: TestServer, client: HttpClient) -> None:
    def handler(req: Recorded) -> Reply:
        return Reply(
            headers={"Content-Type": "application/json"}, body=f'{{"n": {req.query["n"]}}}'.encode(), delay=0.2
        )

    srv.route("/slow", handler)
    results = run(client, *[{"method": "GET", "url": srv.url("/slow"), "query": {"n": str(i)}} for i in range(10)])
    assert [r["ok"]["body"]["n"] for r in results] == list(range(10))
    assert srv.max_active > 1  # overlapping on the server, whatever the machine's speed
    assert sorted(r.header("idempotency-key") for r in srv.requests) == sorted(f"run1:{i}" for i in range(1, 11))


def test_response_modes(srv: TestServer, client: HttpClient) -> None:
    srv.route("/json", json={"a": 1})
    srv.route("/badjson", body=b"{not json", headers={"Content-Type": "application/json"})
    srv.route("/latin", body="café".encode("latin-1"), headers={"Content-Type": "text/plain; charset=latin-1"})
    srv.route("/bytes", body=b"ok \xff\xfe end", headers={"Content-Type": "text/plain"})
    srv.route("/empty", status=204)
    r = run(
        client,
        {"method": "GET", "url": srv.url("/json")},
        {"method": "GET", "url": srv.url("/json"), "response": "text"},
        {"method": "GET", "url": srv.url("/badjson")},
        {"method": "GET", "url": srv.url("/badjson"), "response": "json"},
        {"method": "GET", "url": srv.url("/latin")},
        {"method": "GET", "url": srv.url("/bytes")},
        {"method": "GET", "url": srv.url("/bytes"), "response": "json"},
        {"method": "DELETE", "url": srv.url("/empty"), "response": "json"},
        {"method": "HEAD", "url": srv.url("/json")},
    )
    assert r[0]["ok"]["body"] == {"a": 1}
    assert r[1]["ok"]["body"] == '{"a": 1}'
    assert r[2]["ok"]["body"] == "{not json"
    assert r[3]["err"]["code"] == "invalid_json" and r[3]["err"]["retriable"] is False
    assert r[4]["ok"]["body"] == "café"
    assert r[5]["ok"]["body"] == "ok \ufffd\ufffd end"
    assert r[6]["err"]["code"] == "invalid_json"
    assert r[7]["ok"] == {"status": 204, "headers": r[7]["ok"]["headers"], "body": None}
    assert r[8]["ok"]["status"] == 200 and r[8]["ok"]["body"] == ""


def test_error_statuses_are_results_not_errors(srv: TestServer, client: HttpClient) -> None:
    srv.route("/fail", status=503, json={"error": "busy"})
    res = one(client, {"method": "GET", "url": srv.url("/fail")})
    assert res["ok"]["status"] == 503 and res["ok"]["body"] == {"error": "busy"}


@pytest.mark.parametrize(
    "request_doc",
    [
        {"method": "TRACE", "url": "http://127.0.0.1/"},
        {"method": "GET", "url": "ftp://127.0.0.1/file"},
        {"method": "GET", "url": "/relative"},
        {"method": "GET"},
        {"method": "GET", "url": "http://127.0.0.1/", "headers": {"X-A": "a\r\nInjected: 1"}},
        {"method": "GET", "url": "http://127.0.0.1/", "headers": {"X-A": 1}},
        {"method": "GET", "url": "http://127.0.0.1/", "headers": {"X-A": "café"}},
        {"method": "GET", "url": "http://127.0.0.1/", "headers": {"X-Ä": "a"}},
        {"method": "GET", "url": "http://127.0.0.1/", "response": "xml"},
        {"method": "GET", "url": "http://127.0.0.1/", "timeout_seconds": -1},
        {"method": "GET", "url": "http://127.0.0.1/", "auth": {"type": "digest", "secret": "A"}},
        "not an object",
    ],
)
def test_invalid_requests_are_errors_not_exceptions(client: HttpClient, request_doc) -> None:
    res = one(client, request_doc)
    assert res["err"]["code"] == "invalid_request" and res["err"]["retriable"] is False


def test_cookies_are_not_kept_between_requests(srv: TestServer, client: HttpClient) -> None:
    srv.route("/login", text="hi", headers={"Set-Cookie": "session=abc; Path=/"})
    one(client, {"method": "GET", "url": srv.url("/login")})
    one(client, {"method": "GET", "url": srv.url("/echo")})
    assert srv.requests[1].header("cookie") is None


def test_keys_must_match_requests(client: HttpClient) -> None:
    with pytest.raises(ValueError, match="2 requests but 1"):
        client.perform([{}, {}], keys=["a:1"], hosts=[], secrets=Secrets(), allowed_secrets=[])


def test_max_concurrency_bounds_requests_in_flight(srv: TestServer) -> None:
    srv.route("/slow", delay=0.1, text="ok")
    with HttpClient(HttpPolicy(addresses=LOOPBACK, max_concurrency=3)) as client:
        results = run(client, *[{"method": "GET", "url": srv.url("/slow")} for _ in range(9)])
    assert all(r["ok"]["status"] == 200 for r in results)
    assert srv.max_active == 3
