"""The fault-injecting external API on its own (fast, no wasm): each fault mode, idempotency replays (also of
a stored 503), 409 while in flight, 422 for a reused key, and counting by business key across keys."""

from __future__ import annotations

import threading

import httpx
import pytest

from chaos.extapi import ExtApi


@pytest.fixture
def api():
    with ExtApi(slow_seconds=0.3, late_seconds=0.6) as srv:
        yield srv


def _post(api: ExtApi, key: str | None, business: str, fault: str = "", *, path="/shipments", timeout=5.0):
    headers = {"Idempotency-Key": key} if key else {}
    return httpx.post(
        f"{api.url}{path}", params={"fault": fault}, json={"key": business}, headers=headers, timeout=timeout
    )


def test_ok_applies_once_and_a_repeat_with_the_key_is_replayed(api):
    first = _post(api, "r1:3", "ship-A")
    again = _post(api, "r1:3", "ship-A")
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert api.applied() == {"ship-A": 1}
    assert api.duplicates() == {}


def test_the_same_business_key_under_two_idempotency_keys_is_a_duplicate(api):
    _post(api, "r1:3", "ship-A")
    _post(api, "r1:7", "ship-A")
    dups = api.duplicates()
    assert list(dups) == ["ship-A"]
    assert [a.idempotency_key for a in dups["ship-A"]] == ["r1:3", "r1:7"]
    assert api.applied_by_idempotency_key() == {"r1:3": 1, "r1:7": 1}


def test_fail_before_apply_stores_nothing_so_the_retry_with_the_key_applies(api):
    first = _post(api, "k", "ship-B", "fail_before_apply")
    assert first.status_code == 503 and api.applied() == {}
    second = _post(api, "k", "ship-B", "fail_before_apply")
    assert second.status_code == 201 and "idempotent-replayed" not in second.headers
    assert api.applied() == {"ship-B": 1}


def test_the_fault_plan_counts_requests_per_business_key(api):
    plan = "fail_before_apply,fail_before_apply,fail_before_apply"
    assert [_post(api, f"k{i}", "ship-C", plan).status_code for i in range(4)] == [503, 503, 503, 201]
    assert api.applied() == {"ship-C": 1}


def test_apply_then_503_is_replayed_as_503_like_stripe(api):
    first = _post(api, "k", "ship-D", "apply_then_503")
    again = _post(api, "k", "ship-D", "apply_then_503")
    assert first.status_code == 503
    assert again.status_code == 503 and again.headers["idempotent-replayed"] == "true"
    assert api.applied() == {"ship-D": 1}
    other_key = _post(api, "k2", "ship-D", "apply_then_503")  # a new key: the API applies again
    assert other_key.status_code == 201 and api.applied() == {"ship-D": 2}


def test_apply_then_503_without_replaying_errors_replays_the_success():
    with ExtApi(replay_errors=False) as api:
        assert _post(api, "k", "ship-E", "apply_then_503").status_code == 503
        again = _post(api, "k", "ship-E")
        assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
        assert api.applied() == {"ship-E": 1}


def test_apply_then_drop_closes_without_an_answer_and_the_retry_gets_the_stored_one(api):
    with pytest.raises(httpx.RemoteProtocolError):
        _post(api, "k", "ship-F", "apply_then_drop")
    assert api.applied() == {"ship-F": 1}
    again = _post(api, "k", "ship-F", "apply_then_drop")
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert api.applied() == {"ship-F": 1}


def test_apply_then_late_answers_after_the_clients_timeout(api):
    with pytest.raises(httpx.ReadTimeout):
        _post(api, "k", "ship-G", "apply_then_late", timeout=0.3)
    assert api.applied() == {"ship-G": 1}
    again = _post(api, "k", "ship-G", "apply_then_late")  # stored before the late answer: replayed at once
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    without_key = _post(api, None, "ship-G", "apply_then_late", timeout=0.3)
    assert without_key.status_code == 201  # the 2nd request of the plan was the late one; this is the 3rd
    assert api.applied() == {"ship-G": 2}


def test_slow_stays_under_the_timeout_and_a_concurrent_repeat_gets_409(api):
    answers: list[httpx.Response] = []
    t = threading.Thread(target=lambda: answers.append(_post(api, "k", "ship-H", "slow")))
    t.start()
    while not api.seen and not api._entries:  # the first request is executing (it sleeps before applying)
        pass
    conflict = _post(api, "k", "ship-H")
    t.join()
    assert conflict.status_code == 409
    assert answers[0].status_code == 201
    assert api.applied() == {"ship-H": 1}
    assert api.outcomes()["conflict"] == 1


def test_a_key_reused_with_another_body_is_refused(api):
    _post(api, "k", "ship-I")
    reused = _post(api, "k", "ship-J")
    assert reused.status_code == 422
    assert api.applied() == {"ship-I": 1}


def test_a_seeded_schedule_decides_when_the_request_does_not():
    with ExtApi(schedule=lambda key, n: "fail_before_apply" if n == 1 else "ok") as api:
        codes = [httpx.post(f"{api.url}/x", json={"key": "b"}, timeout=5).status_code for _ in range(2)]
        assert codes == [503, 201]


def test_on_apply_runs_after_applying_before_answering():
    seen = []
    with ExtApi(on_apply=lambda app: seen.append((app.business_key, app.idempotency_key))) as api:
        _post(api, "k", "ship-K")
    assert seen == [("ship-K", "k")]
