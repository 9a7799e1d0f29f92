"""The browser boundary (app/api/guard.py): a page on another site cannot open the live WebSocket or call the
API, and a DNS-rebinding name is not served; the CLI, same-origin pages and webhook callers are unaffected."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
from support import wasmflow_server_process


def error_of(resp) -> dict:
    return resp.get_json()["error"]


def test_a_rebinding_host_name_is_not_served(client):
    resp = client.get("/api/workflows", headers={"Host": "attacker.example:8000"})
    assert resp.status_code == 421
    err = error_of(resp)
    assert err["code"] == "host_not_allowed" and err["field"] == "Host"
    assert "attacker.example" in err["message"] and "WASMFLOW_PUBLIC_NAMES" in err["message"]


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1:8000", "[::1]:8000", "127.0.0.2", "editor.localhost"])
def test_loopback_names_are_served(client, host):
    assert client.get("/api/health", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://localhost:9999", "file://"])
def test_a_page_on_another_origin_is_refused(client, origin):
    resp = client.post("/api/workflows", json={}, headers={"Host": "localhost:8000", "Origin": origin})
    assert resp.status_code == 403
    err = error_of(resp)
    assert err["code"] == "origin_not_allowed" and err["field"] == "Origin"
    # reads too: the live stream's upgrade is a GET
    assert client.get("/api/ws", headers={"Host": "localhost:8000", "Origin": origin}).status_code == 403


def test_same_origin_and_non_browser_clients_are_served(client):
    same = client.get("/api/health", headers={"Host": "localhost:8000", "Origin": "http://localhost:8000"})
    assert same.status_code == 200
    assert client.get("/api/health").status_code == 200  # no Origin: the CLI, curl


def test_configured_public_names_and_origins(make_app, monkeypatch):
    monkeypatch.setenv("WASMFLOW_PUBLIC_NAMES", "wf.example.com")
    monkeypatch.setenv("WASMFLOW_ALLOWED_ORIGINS", "https://editor.example.com")
    client = make_app().test_client()
    headers = {"Host": "wf.example.com", "Origin": "https://editor.example.com"}
    assert client.get("/api/health", headers=headers).status_code == 200
    behind_proxy = {"Host": "wf.example.com", "Origin": "https://wf.example.com"}  # TLS ended at the proxy
    assert client.get("/api/health", headers=behind_proxy).status_code == 200
    assert client.get("/api/health", headers={"Host": "other.example.com"}).status_code == 421


def test_webhooks_are_for_callers_anywhere(client):
    resp = client.post(
        "/hooks/no-such-token", json={}, headers={"Host": "hooks.example.com", "Origin": "https://x.example"}
    )
    assert resp.status_code == 404  # the hook's own answer: unknown token, not the boundary's refusal
    assert error_of(resp)["code"] not in ("host_not_allowed", "origin_not_allowed")


def _upgrade(base: str, origin: str | None, host: str | None = None) -> str:
    """The status line of a real WebSocket handshake to the server's live stream."""
    parts = urlsplit(base)
    lines = [
        "GET /api/ws HTTP/1.1",
        f"Host: {host or parts.netloc}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
    if origin:
        lines.append(f"Origin: {origin}")
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return sock.recv(4096).decode(errors="replace").split("\r\n", 1)[0]


def test_the_live_websocket_of_a_real_server_refuses_other_origins(tmp_path, database_url, compiler):
    env = {"WASMFLOW_DATABASE_URL": database_url, "WASMFLOW_ARTIFACTS_DIR": str(compiler.store.root)}
    with wasmflow_server_process(tmp_path / "instance", env, tmp_path / "server.log", args=("--processes", "1")) as (
        base,
        proc,
    ):
        assert " 101 " in _upgrade(base, base)  # the editor's own page
        assert " 101 " in _upgrade(base, None)  # a client that is not a browser
        assert " 403 " in _upgrade(base, "http://evil.example")
        port = urlsplit(base).port
        assert " 421 " in _upgrade(base, f"http://rebind.example:{port}", host=f"rebind.example:{port}")
