"""``LlmClient.chat`` against a real OpenAI-compatible fake server on 127.0.0.1 (``llmserver.FakeLLM``)."""

from __future__ import annotations

import base64
import json

import pytest
from llmserver import FakeLLM, LlmRequest, Turn

from app.runtime.http import HttpPolicy
from app.runtime.llm import LlmClient, estimate_cost
from app.runtime.netguard import AddressPolicy, parse_networks

LOOPBACK = AddressPolicy(allow=parse_networks("127.0.0.1/32"))
HOST = "127.0.0.1"
KEY = "sk-canary-4f1d9a7e2b6c8d0e3f5a7b9c"
REDACTED = "[secret:LLM_API_KEY]"
WEATHER = {"name": "get_weather", "description": "Weather for a city", "parameters": {"type": "object"}}


@pytest.fixture
def fake():
    with FakeLLM() as server:
        yield server


@pytest.fixture(scope="module")
def client():
    # One client for the module, as one serves every run in production: nothing may carry over between calls.
    with LlmClient(HttpPolicy(addresses=LOOPBACK)) as c:
        yield c


def chat(client: LlmClient, fake: FakeLLM, *, key: str | None = KEY, hosts=(HOST,), on_delta=None, **fields) -> dict:
    request = {"base_url": fake.base_url, "model": "gpt-test", "messages": [{"role": "user", "content": "Hi"}]}
    return client.chat({**request, **fields}, api_key=key, granted_hosts=hosts, on_delta=on_delta)


@pytest.mark.parametrize("stream", [True, False])
def test_text_answer(fake: FakeLLM, client: LlmClient, stream: bool) -> None:
    fake.reply("Hello there, traveller.", usage=(12, 4))
    pieces: list[str] = []
    res = chat(client, fake, stream=stream, on_delta=pieces.append, key=None)
    assert res == {
        "ok": {
            "model": "gpt-test",
            "message": {"role": "assistant", "content": "Hello there, traveller.", "tool_calls": []},
            "finish_reason": "stop",
            "usage": {"input_tokens": 12, "output_tokens": 4},
        }
    }
    # streamed word by word, in order; a non-streaming answer arrives whole
    assert pieces == (["Hello ", "there, ", "traveller."] if stream else ["Hello there, traveller."])
    [rec] = fake.requests
    assert rec.path == "/v1/chat/completions" and rec.method == "POST"
    assert rec.json["model"] == "gpt-test" and rec.json["messages"] == [{"role": "user", "content": "Hi"}]
    assert rec.json["stream"] is stream
    assert rec.json.get("stream_options") == ({"include_usage": True} if stream else None)
    assert rec.header("accept") == ("text/event-stream" if stream else "application/json")
    assert rec.header("authorization") is None and rec.header("cookie") is None


def test_stream_is_the_default_and_the_key_goes_in_the_header(fake: FakeLLM, client: LlmClient) -> None:
    fake.reply("ok")
    assert chat(client, fake)["ok"]["message"]["content"] == "ok"
    assert fake.last.stream and fake.last.header("authorization") == f"Bearer {KEY}"


def test_request_fields_are_converted_to_openai_form(fake: FakeLLM, client: LlmClient) -> None:
    fake.reply("done")
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "name": "get_weather", "arguments": {}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "rain"},
    ]
    res = chat(
        client,
        fake,
        messages=messages,
        tools=[WEATHER, {"name": "noop"}],
        max_tokens=64,
        temperature=0.2,
        response_format={"type": "json_object"},
    )
    assert "ok" in res, res
    body = fake.last.json
    assert body["tools"] == [
        {"type": "function", "function": WEATHER},
        {"type": "function", "function": {"name": "noop", "parameters": {"type": "object", "properties": {}}}},
    ]
    assert body["messages"][2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}],
    }
    assert body["messages"][3] == {"role": "tool", "content": "rain", "tool_call_id": "c1"}
    assert (body["max_tokens"], body["temperature"], body["response_format"]) == (64, 0.2, {"type": "json_object"})


@pytest.mark.parametrize("stream", [True, False])
def test_tool_calls_are_accumulated(fake: FakeLLM, client: LlmClient, stream: bool) -> None:
    calls = [
        {"id": "call_a", "name": "get_weather", "arguments": {"city": "Oslo", "units": "metric"}},
        {"id": "call_b", "name": "lookup", "arguments": {"q": "umbrellas near me", "limit": 3}},
    ]
    fake.reply(tool_calls=calls, usage=(30, 9))
    res = chat(client, fake, stream=stream, tools=[WEATHER, {"name": "lookup"}])
    assert res["ok"]["message"] == {"role": "assistant", "content": None, "tool_calls": calls}
    assert res["ok"]["finish_reason"] == "tool_calls"
    assert res["ok"]["usage"] == {"input_tokens": 30, "output_tokens": 9}


def test_an_answer_fed_back_as_a_message(fake: FakeLLM, client: LlmClient) -> None:
    fake.reply(tool_calls=[{"id": "c9", "name": "lookup", "arguments": "{broken"}])
    fake.reply("fine")
    first = chat(client, fake, tools=[{"name": "lookup"}])["ok"]["message"]
    tool = {"role": "tool", "tool_call_id": "c9", "content": first["tool_calls"][0]["arguments_error"]}
    second = chat(client, fake, messages=[{"role": "user", "content": "go"}, first, tool])
    assert second["ok"]["message"]["content"] == "fine"
    sent = fake.last.json["messages"][1]
    assert sent["tool_calls"] == [
        {"id": "c9", "type": "function", "function": {"name": "lookup", "arguments": "{broken"}}
    ]


@pytest.mark.parametrize("stream", [True, False])
def test_invalid_tool_call_arguments_are_reported(fake: FakeLLM, client: LlmClient, stream: bool) -> None:
    fake.reply(
        tool_calls=[
            {"id": "x1", "name": "lookup", "arguments": '{"q": "unterminated'},
            {"id": "x2", "name": "lookup", "arguments": "[1, 2]"},
            {"id": "x3", "name": "lookup", "arguments": ""},
        ]
    )
    bad_json, not_object, empty = chat(client, fake, stream=stream)["ok"]["message"]["tool_calls"]
    assert bad_json["arguments_text"] == '{"q": "unterminated' and "not valid JSON" in bad_json["arguments_error"]
    assert not_object == {
        "id": "x2",
        "name": "lookup",
        "arguments_text": "[1, 2]",
        "arguments_error": "the arguments must be a JSON object, not an array",
    }
    assert "arguments" not in bad_json and empty["arguments"] == {}


@pytest.mark.parametrize("stream", [True, False])
def test_missing_usage_is_zero_and_flagged(fake: FakeLLM, client: LlmClient, stream: bool) -> None:
    fake.reply("hi", usage=None)
    res = chat(client, fake, stream=stream)
    assert res["ok"]["usage"] == {"input_tokens": 0, "output_tokens": 0, "usage_reported": False}


def test_a_server_that_ignores_stream_answers_json(fake: FakeLLM, client: LlmClient) -> None:
    fake.reply("whole answer", ignore_stream=True, model="served-model")
    pieces: list[str] = []
    res = chat(client, fake, stream=True, on_delta=pieces.append)
    assert res["ok"]["message"]["content"] == "whole answer" and res["ok"]["model"] == "served-model"
    assert pieces == ["whole answer"]


def test_a_stream_without_done_but_finished_is_accepted_and_comments_are_skipped(
    fake: FakeLLM, client: LlmClient
) -> None:
    chunk = {"model": "m", "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}]}
    fake.raw(f": keep-alive\r\n\r\ndata:{json.dumps(chunk)}\r\n\r\n", headers={"Content-Type": "text/event-stream"})
    res = chat(client, fake)
    assert res["ok"]["message"]["content"] == "hi" and res["ok"]["finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("status", "body", "headers", "code", "retriable"),
    [
        (
            401,
            {"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}},
            {},
            "auth_failed",
            False,
        ),
        (403, {"error": {"message": "Project has no access"}}, {}, "auth_failed", False),
        (
            404,
            {"error": {"message": "The model `gpt-test` does not exist", "code": "model_not_found"}},
            {},
            "model_not_found",
            False,
        ),
        (404, {"error": {"message": 'model "llama9" not found, try pulling it first'}}, {}, "model_not_found", False),
        (404, "404 page not found", {"Content-Type": "text/plain"}, "not_found", False),
        (429, {"error": {"message": "Rate limit reached"}}, {"Retry-After": "7"}, "rate_limited", True),
        (429, {"error": {"message": "Quota exceeded", "code": "insufficient_quota"}}, {}, "rate_limited", False),
        (500, {"error": {"message": "The server had an error"}}, {}, "provider_error", True),
        (503, "<html>Service Unavailable</html>", {"Content-Type": "text/html"}, "provider_error", True),
        (
            400,
            {"error": {"message": "max_tokens is too large", "code": "invalid_value"}},
            {},
            "request_rejected",
            False,
        ),
    ],
)
def test_error_statuses(fake: FakeLLM, client: LlmClient, status, body, headers, code, retriable) -> None:
    fake.fail(status, body, headers)
    err = chat(client, fake)["err"]
    assert (err["code"], err["retriable"], err["details"]["status"]) == (code, retriable, status)
    said = body["error"]["message"] if isinstance(body, dict) else body
    assert said in err["message"] and "llm.chat" in err["message"]
    if "Retry-After" in headers:
        assert err["details"]["retry_after_seconds"] == 7
    else:
        assert "retry_after_seconds" not in err["details"]
    if isinstance(body, dict) and body["error"].get("code"):
        assert err["details"]["provider_code"] == body["error"]["code"]


def test_provider_message_is_truncated(fake: FakeLLM, client: LlmClient) -> None:
    fake.fail(500, {"error": {"message": "x" * 5000}})
    err = chat(client, fake)["err"]
    assert err["code"] == "provider_error" and len(err["message"]) < 700 and err["message"].endswith("x...")


def test_an_unscripted_request_gets_a_clear_500(fake: FakeLLM, client: LlmClient) -> None:
    err = chat(client, fake)["err"]
    assert err["code"] == "provider_error" and "no turn was scripted" in err["message"]


def test_a_redirect_is_not_followed(fake: FakeLLM, client: LlmClient) -> None:
    fake.raw("", status=307, headers={"Location": "http://elsewhere.example/v1/chat/completions"})
    err = chat(client, fake)["err"]
    assert err["code"] == "invalid_response" and "does not follow" in err["message"]
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("body", "content_type", "stream"),
    [
        ("data: {not json\n\n", "text/event-stream", True),
        ('data: {"choices": "nope"}\n\n', "text/event-stream", True),
        ("not json at all", "application/json", False),
        ('{"id": "x", "choices": []}', "application/json", False),
        ('{"choices": [{"index": 0, "message": {"tool_calls": [{"id": "a", "function": {}}]}}]}', "", False),
    ],
)
def test_malformed_answers(fake: FakeLLM, client: LlmClient, body: str, content_type: str, stream: bool) -> None:
    fake.raw(body, headers={"Content-Type": content_type} if content_type else {})
    err = chat(client, fake, stream=stream)["err"]
    assert err["code"] == "invalid_response" and err["retriable"] is False, err


@pytest.mark.parametrize("stream", [True, False])
def test_an_error_document_in_a_200_answer(fake: FakeLLM, client: LlmClient, stream: bool) -> None:
    doc = json.dumps({"error": {"message": f"overloaded {KEY}", "code": "server_overloaded"}})
    if stream:
        fake.raw(f"data: {doc}\n\n", headers={"Content-Type": "text/event-stream"})
    else:
        fake.raw(doc, headers={"Content-Type": "application/json"})
    err = chat(client, fake, stream=stream)["err"]
    assert f"overloaded {REDACTED}" in err["message"] and KEY not in repr(err)
    assert err["code"] == "provider_error" and err["retriable"] is True and "overloaded" in err["message"]
    assert err["details"] == {"provider_code": "server_overloaded"}


def test_stream_variants_of_other_servers(fake: FakeLLM, client: LlmClient) -> None:
    # No tool-call index, the name repeated in every chunk, arguments sent as an object, no usage, no [DONE].
    deltas = [
        {"tool_calls": [{"id": "t1", "function": {"name": "lookup", "arguments": '{"q": '}}]},
        {"tool_calls": [{"function": {"name": "lookup", "arguments": '"rain"}'}}]},
        {"tool_calls": [{"id": "t2", "function": {"name": "noop", "arguments": {"n": 1}}}]},
    ]
    events = [{"choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    fake.raw("".join(f"data: {json.dumps(e)}\n\n" for e in events), headers={"Content-Type": "text/event-stream"})
    res = chat(client, fake)["ok"]
    assert res["message"]["tool_calls"] == [
        {"id": "t1", "name": "lookup", "arguments": {"q": "rain"}},
        {"id": "t2", "name": "noop", "arguments": {"n": 1}},
    ]
    assert res["model"] == "gpt-test" and res["usage"]["usage_reported"] is False


def test_a_malformed_event_is_quoted_redacted(fake: FakeLLM, client: LlmClient) -> None:
    fake.raw(f"data: {'z' * 190}{KEY}\n\n", headers={"Content-Type": "text/event-stream"})  # cut at 200 chars
    err = chat(client, fake)["err"]
    assert err["code"] == "invalid_response" and KEY[:8] not in err["message"] and REDACTED[:8] in err["message"]


def test_a_stream_cut_off_is_a_retriable_network_error(fake: FakeLLM, client: LlmClient) -> None:
    fake.reply("half an ans", truncate=True)
    err = chat(client, fake)["err"]
    assert err["code"] == "network_error" and err["retriable"] is True and "ended before" in err["message"]


def test_connection_refused_is_a_retriable_network_error(client: LlmClient) -> None:
    with FakeLLM() as gone:
        url = gone.base_url
    res = client.chat(
        {"base_url": url, "model": "m", "messages": [{"role": "user", "content": "x"}]},
        api_key=KEY,
        granted_hosts=[HOST],
    )
    assert res["err"]["code"] == "network_error" and res["err"]["retriable"] is True


def test_key_echoed_in_an_error_comes_back_redacted(fake: FakeLLM, client: LlmClient) -> None:
    def echo(req: LlmRequest) -> Turn:
        sent = (req.header("authorization") or "").removeprefix("Bearer ")
        b64 = base64.b64encode(sent.encode()).decode()
        body = {"error": {"message": f"Incorrect API key provided: {sent} (base64 {b64})", "code": sent}}
        return Turn(status=401, body=json.dumps(body).encode())

    fake.respond(echo)
    err = chat(client, fake)["err"]
    assert err["code"] == "auth_failed"
    assert f"Incorrect API key provided: {REDACTED} (base64 {REDACTED})" in err["message"]
    assert err["details"]["provider_code"] == REDACTED
    assert KEY not in repr(err) and base64.b64encode(KEY.encode()).decode() not in repr(err)


def test_key_echoed_in_a_long_error_is_redacted_before_it_is_cut(fake: FakeLLM, client: LlmClient) -> None:
    fake.fail(500, {"error": {"message": "y" * 490 + KEY}})  # the cut at 500 characters falls inside the key
    err = chat(client, fake)["err"]
    assert KEY[:10] not in err["message"] and err["message"].endswith("y" + REDACTED[:10] + "...")


@pytest.mark.parametrize("stream", [True, False])
def test_key_echoed_in_content_and_arguments_is_redacted_everywhere(
    fake: FakeLLM, client: LlmClient, stream: bool
) -> None:
    b64 = base64.b64encode(KEY.encode()).decode()
    pieces = ["Your key is ", KEY[:6], KEY[6:20], KEY[20:] + " and", f" encoded {b64[:9]}", b64[9:] + ".", " Bye"]
    fake.reply(pieces=pieces, text="".join(pieces), tool_calls=[{"name": "send", "arguments": {"token": KEY}}])
    seen: list[str] = []
    res = chat(client, fake, stream=stream, on_delta=seen.append)
    message = res["ok"]["message"]
    assert message["content"] == f"Your key is {REDACTED} and encoded {REDACTED}. Bye"
    assert message["tool_calls"][0]["arguments"] == {"token": REDACTED}
    assert "".join(seen) == message["content"]
    for piece in seen:  # not even a prefix of the key got out before the rest of it arrived
        assert KEY[:6] not in piece and b64[:9] not in piece
    assert KEY not in repr(res) and b64 not in repr(res)


def test_ungranted_host_is_refused_without_a_request(fake: FakeLLM, client: LlmClient) -> None:
    fake.reply("never")
    err = chat(client, fake, hosts=["api.openai.com"])["err"]
    assert err["code"] == "capability_denied" and err["retriable"] is False
    assert "llm.chat" in err["message"] and "'127.0.0.1'" in err["message"]
    assert err["details"] == {"capability": "llm.chat", "host": "127.0.0.1", "granted": ["api.openai.com"]}
    assert fake.requests == []


def test_host_grant_ignores_case_and_a_trailing_dot(fake: FakeLLM) -> None:
    fake.reply("ok")
    with LlmClient(HttpPolicy(addresses=LOOPBACK), resolver=lambda h, p: ["127.0.0.1"]) as client:
        res = client.chat(
            {"base_url": fake.url("Models.Example."), "model": "m", "messages": [{"role": "user", "content": "x"}]},
            api_key=None,
            granted_hosts=["models.example"],
        )
    assert res["ok"]["message"]["content"] == "ok"


def test_blocked_address_is_refused_by_default(fake: FakeLLM) -> None:
    # The default address policy blocks loopback, as it blocks every internal network: a local model server
    # needs an operator's WASMFLOW_HTTP_ALLOW_NETWORKS.
    fake.reply("never")
    with LlmClient() as client:
        err = chat(client, fake)["err"]
    assert err["code"] == "address_blocked" and "WASMFLOW_HTTP_ALLOW_NETWORKS" in err["message"]
    assert fake.requests == []


@pytest.mark.parametrize("stream", [True, False])
def test_response_over_the_cap_is_cut_off(fake: FakeLLM, stream: bool) -> None:
    fake.reply("word " * 2000)
    fake.reply("word " * 20)
    with LlmClient(HttpPolicy(addresses=LOOPBACK, max_response_bytes=8000)) as client:
        big = chat(client, fake, stream=stream)
        fits = chat(client, fake, stream=stream)
    assert big["err"]["code"] == "response_too_large" and big["err"]["details"] == {"limit_bytes": 8000}
    assert fits["ok"]["message"]["content"] == "word " * 20


def test_timeout_is_retriable_and_capped_by_policy(fake: FakeLLM) -> None:
    fake.reply("late", delay=3)
    with LlmClient(HttpPolicy(addresses=LOOPBACK, max_timeout=0.5)) as client:
        err = chat(client, fake, timeout_seconds=60)["err"]
    # the policy's 0.5 s cap, not the request's 60 s nor the server's 3 s: a late answer would be ok
    assert err["code"] == "timeout" and err["retriable"] is True
    assert "took longer than 0.5 seconds" in err["message"] and err["details"] == {"timeout_seconds": 0.5}


def test_the_deadline_covers_the_whole_stream(fake: FakeLLM) -> None:
    # Each event comes well within the read timeout; the answer as a whole does not.
    fake.reply("one two three four five six seven eight", chunk_delay=0.2)
    with LlmClient(HttpPolicy(addresses=LOOPBACK)) as client:
        err = chat(client, fake, timeout_seconds=0.5)["err"]
    assert err["code"] == "timeout" and err["details"] == {"timeout_seconds": 0.5}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"base_url": "ftp://127.0.0.1/v1"}, "base_url"),
        ({"base_url": f"http://user:{KEY}@127.0.0.1/v1"}, "base_url"),
        ({"base_url": "http://127.0.0.1/v1?x=1"}, "base_url"),
        ({"model": ""}, "model"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        ({"messages": [{"role": "user", "content": "x", "extra": 1}]}, "messages[0].extra"),
        ({"messages": [{"role": "assistant", "tool_calls": [{"name": "f"}]}]}, "messages[0].tool_calls[0].id"),
        ({"tools": [{"name": "has space"}]}, "tools[0].name"),
        ({"tools": [{"name": "f"}, {"name": "f"}]}, "tools[1].name"),
        ({"tools": [{"name": "f", "parameters": "object"}]}, "tools[0].parameters"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"temperature": "hot"}, "temperature"),
        ({"response_format": "json"}, "response_format"),
        ({"stream": "yes"}, "stream"),
        ({"timeout_seconds": -1}, "timeout_seconds"),
        ({"max_token": 10}, "max_token"),
    ],
)
def test_invalid_requests_name_the_field(fake: FakeLLM, client: LlmClient, change: dict, field: str) -> None:
    err = chat(client, fake, **change)["err"]
    assert err["code"] == "invalid_request" and err["retriable"] is False
    assert err["details"] == {"field": field} and err["message"].startswith(field), err
    assert KEY not in repr(err)
    assert fake.requests == []


def test_a_request_that_is_not_an_object(client: LlmClient) -> None:
    res = client.chat(["not", "a", "request"], api_key=KEY, granted_hosts=[HOST])  # type: ignore[arg-type]
    assert res["err"]["code"] == "invalid_request"


def test_a_key_that_cannot_go_into_a_header(fake: FakeLLM, client: LlmClient) -> None:
    err = chat(client, fake, key="line\r\nbreak")["err"]
    assert err["code"] == "invalid_secret" and "line\r\nbreak" not in repr(err)
    assert fake.requests == []


def test_on_delta_may_stop_the_call(fake: FakeLLM, client: LlmClient) -> None:
    class Stop(Exception):
        pass

    def stop(_piece: str) -> None:
        raise Stop

    fake.reply("a b c")
    with pytest.raises(Stop):
        chat(client, fake, key=None, on_delta=stop)


def test_estimate_cost() -> None:
    usage = {"input_tokens": 2_000_000, "output_tokens": 500_000}
    prices = {"input_per_million": 0.15, "output_per_million": 0.6}
    assert estimate_cost(usage, prices) == pytest.approx(0.6)
    assert estimate_cost(usage, {"output_per_million": 2}) == pytest.approx(1.0)
    assert estimate_cost({"input_tokens": 0, "output_tokens": 0, "usage_reported": False}, prices) == 0
    assert estimate_cost(usage, None) is None and estimate_cost(usage, {}) is None
    with pytest.raises(ValueError, match="input_per_million"):
        estimate_cost(usage, {"input_per_million": -1})
