"""The address policy and the guarded network backend.

Network rule of this suite: traffic goes only to 127.0.0.1. Blocking of other addresses is tested on the
policy and on the backend's resolution step with a fake resolver, never by connecting.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import httpcore
import pytest
from httpserver import TestServer

from app.errors import FatalError
from app.runtime.http import HttpClient, HttpPolicy
from app.runtime.netguard import AddressPolicy, Blocked, GuardedBackend, parse_networks

LOOPBACK_ONLY = AddressPolicy(allow=parse_networks("127.0.0.1/32"))


class NoSecrets:
    def value(self, name: str) -> str | None:
        return None


def fake_resolver(table: dict[str, list[str]], calls: list[str] | None = None):
    def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise OSError(f"fake resolver: unknown host {host}")
        return table[host]

    return resolve


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",
        "127.1.2.3",
        "10.0.0.1",
        "10.255.255.255",
        "172.16.0.1",
        "172.31.255.254",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "169.254.0.1",
        "100.64.0.1",  # carrier-grade NAT
        "100.127.255.254",
        "0.0.0.0",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.10",
        "::",
        "::1",
        "fc00::1",
        "fd00:ec2::254",  # AWS metadata over IPv6
        "fe80::1",
        "fe80::1%2",
        "ff02::1",
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::ffff:192.168.0.1",
        "::127.0.0.1",  # IPv4-compatible (deprecated) form
        "::10.0.0.1",
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "2001:db8::1",
    ],
)
def test_default_policy_blocks_internal_and_reserved(ip: str) -> None:
    with pytest.raises(Blocked) as info:
        AddressPolicy().check(ip)
    assert info.value.reason


@pytest.mark.parametrize("ip", ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_default_policy_allows_public_unicast(ip: str) -> None:
    AddressPolicy().check(ip)
    AddressPolicy().check(ipaddress.ip_address(ip))


def test_allowed_network_opens_exactly_that_network() -> None:
    policy = AddressPolicy(allow=parse_networks("127.0.0.1/32, 10.1.0.0/16"))
    policy.check("127.0.0.1")
    policy.check("::ffff:127.0.0.1")  # the mapped form reaches the same allowed address
    policy.check("10.1.200.3")
    for ip in ("127.0.0.2", "10.2.0.1", "::1", "169.254.169.254"):
        with pytest.raises(Blocked):
            policy.check(ip)


@pytest.mark.parametrize("ip", ["2002:7f00:1::", "2002:7f00:1::1", "::127.0.0.1", "64:ff9b::7f00:1", "2002:a01:103::"])
def test_an_allow_entry_does_not_admit_other_addresses_embedding_it(ip: str) -> None:
    """6to4, IPv4-compatible and NAT64 forms of an allowed IPv4 address are other addresses: still blocked."""
    policy = AddressPolicy(allow=parse_networks("127.0.0.1/32, 10.1.0.0/16"))
    with pytest.raises(Blocked):
        policy.check(ip)


def test_an_embedded_form_is_admitted_when_the_allow_entry_names_it() -> None:
    AddressPolicy(allow=parse_networks("2002:7f00:1::/48")).check("2002:7f00:1::")
    AddressPolicy(allow=parse_networks("::127.0.0.1/128")).check("::127.0.0.1")
    with pytest.raises(Blocked):  # and naming the embedded form does not admit the IPv4 address itself
        AddressPolicy(allow=parse_networks("::ffff:127.0.0.1/128")).check("127.0.0.1")


def test_from_env_reads_allowed_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASMFLOW_HTTP_ALLOW_NETWORKS", "127.0.0.1/32,fd12::/16")
    policy = AddressPolicy.from_env()
    assert [str(n) for n in policy.allow] == ["127.0.0.1/32", "fd12::/16"]
    monkeypatch.delenv("WASMFLOW_HTTP_ALLOW_NETWORKS")
    assert AddressPolicy.from_env().allow == ()


def test_bad_network_names_the_variable() -> None:
    with pytest.raises(ValueError, match="WASMFLOW_HTTP_ALLOW_NETWORKS: 'nope'"):
        parse_networks("127.0.0.1/32, nope")


@pytest.mark.parametrize(
    "answers",
    [
        ["10.0.0.5"],
        ["169.254.169.254"],
        ["fd00:ec2::254"],
        ["::ffff:127.0.0.1"],
        ["100.64.3.4"],
        ["172.16.9.9"],
        ["192.168.0.10"],
        ["8.8.8.8", "10.0.0.5"],  # one bad answer taints the name (rebinding looks like this)
    ],
)
def test_resolution_step_refuses_any_blocked_answer(answers: list[str]) -> None:
    backend = GuardedBackend(AddressPolicy(), resolver=fake_resolver({"api.example.com": answers}))
    with pytest.raises(Blocked) as info:
        backend.resolve_checked("api.example.com", 443)
    assert info.value.host == "api.example.com"


def test_resolution_step_returns_checked_public_addresses() -> None:
    backend = GuardedBackend(AddressPolicy(), resolver=fake_resolver({"api.example.com": ["8.8.8.8", "2606::1"]}))
    assert backend.resolve_checked("api.example.com", 443) == ["8.8.8.8", "2606::1"]


def test_resolution_failure_is_a_connect_error() -> None:
    backend = GuardedBackend(AddressPolicy(), resolver=fake_resolver({}))
    with pytest.raises(httpcore.ConnectError, match="cannot resolve nowhere.test"):
        backend.resolve_checked("nowhere.test", 80)


def test_connect_tcp_refuses_loopback_before_connecting() -> None:
    with TestServer() as srv:
        backend = GuardedBackend(AddressPolicy())
        with pytest.raises(Blocked):
            backend.connect_tcp("127.0.0.1", srv.port, timeout=1)


def test_connect_tcp_connects_to_the_checked_address() -> None:
    calls: list[str] = []
    with TestServer() as srv:
        backend = GuardedBackend(LOOPBACK_ONLY, resolver=fake_resolver({"api.test": ["127.0.0.1"]}, calls))
        stream = backend.connect_tcp("api.test", srv.port, timeout=2)
        stream.close()
    assert calls == ["api.test"]


def test_client_default_policy_blocks_loopback_and_sends_nothing() -> None:
    with TestServer() as srv, HttpClient(HttpPolicy()) as client:
        srv.route("/", json={"hello": "world"})
        [res] = client.perform(
            [{"method": "GET", "url": srv.url("/")}],
            keys=["r1:1"],
            hosts=["127.0.0.1"],
            secrets=NoSecrets(),
            allowed_secrets=[],
        )
        assert srv.requests == []
    err = res["err"]
    assert err["code"] == "address_blocked" and err["retriable"] is False
    assert "'127.0.0.1'" in err["message"] and "WASMFLOW_HTTP_ALLOW_NETWORKS" in err["message"]
    assert err["details"] == {"host": "127.0.0.1"}


def test_client_allows_loopback_when_the_operator_allows_it() -> None:
    with TestServer() as srv, HttpClient(HttpPolicy(addresses=LOOPBACK_ONLY)) as client:
        srv.route("/", json={"hello": "world"})
        [res] = client.perform(
            [{"method": "GET", "url": srv.url("/")}],
            keys=["r1:1"],
            hosts=["127.0.0.1"],
            secrets=NoSecrets(),
            allowed_secrets=[],
        )
    assert res == {"ok": {"status": 200, "headers": res["ok"]["headers"], "body": {"hello": "world"}}}


def test_client_connects_to_resolved_address_but_keeps_the_hostname() -> None:
    resolver = fake_resolver({"api.test": ["127.0.0.1"]})
    with TestServer() as srv, HttpClient(HttpPolicy(addresses=LOOPBACK_ONLY), resolver=resolver) as client:
        [res] = client.perform(
            [{"method": "GET", "url": srv.url("/echo", host="api.test")}],
            keys=["r1:1"],
            hosts=["api.test"],
            secrets=NoSecrets(),
            allowed_secrets=[],
        )
    assert res["ok"]["body"]["headers"]["host"] == f"api.test:{srv.port}"


def test_client_refuses_a_name_with_one_blocked_answer() -> None:
    # Both answers are loopback so that even a broken guard could only reach this machine.
    resolver = fake_resolver({"mixed.test": ["127.0.0.1", "::1"]})
    with TestServer() as srv, HttpClient(HttpPolicy(addresses=LOOPBACK_ONLY), resolver=resolver) as client:
        [res] = client.perform(
            [{"method": "GET", "url": srv.url("/", host="mixed.test")}],
            keys=["r1:1"],
            hosts=["mixed.test"],
            secrets=NoSecrets(),
            allowed_secrets=[],
        )
        assert srv.requests == []
    assert res["err"]["code"] == "address_blocked"
    assert "::1" not in res["err"]["message"] and "127.0.0.1" not in res["err"]["message"]


def test_http_policy_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASMFLOW_HTTP_ALLOW_NETWORKS", "127.0.0.1/32")
    monkeypatch.setenv("WASMFLOW_HTTP_MAX_RESPONSE_BYTES", "2048")
    policy = HttpPolicy.from_env()
    assert policy.max_response_bytes == 2048 and str(policy.addresses.allow[0]) == "127.0.0.1/32"
    assert policy.max_redirects == 5 and policy.max_concurrency == 20
    monkeypatch.setenv("WASMFLOW_HTTP_ALLOW_NETWORKS", "localhost")
    with pytest.raises(FatalError) as info:
        HttpPolicy.from_env()
    assert info.value.code == "invalid_setting" and "WASMFLOW_HTTP_ALLOW_NETWORKS" in info.value.message


def _tls_contexts(tmp_path: Path, hostname: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context with a certificate for ``hostname`` only, client context trusting its test CA)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def cert(subject: str, key, issuer: x509.Name, signer, *, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wasmflow test CA")])
    ca_cert = cert("wasmflow test CA", ca_key, ca_name, ca_key, ca=True)
    leaf = cert(hostname, leaf_key, ca_name, ca_key, ca=False)
    pem = serialization.Encoding.PEM
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(pem) + ca_cert.public_bytes(pem))
    (tmp_path / "leaf.key").write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp_path / "leaf.pem", tmp_path / "leaf.key")
    client = ssl.create_default_context(cadata=ca_cert.public_bytes(pem).decode())
    return server, client


def test_tls_verifies_the_original_hostname_not_the_connected_address(tmp_path: Path) -> None:
    server_ctx, client_ctx = _tls_contexts(tmp_path, "api.test")
    resolver = fake_resolver({"api.test": ["127.0.0.1"], "127.0.0.1": ["127.0.0.1"]})
    policy = HttpPolicy(addresses=LOOPBACK_ONLY)
    with TestServer(tls=server_ctx) as srv, HttpClient(policy, resolver=resolver, ssl_context=client_ctx) as client:
        by_name, by_ip = client.perform(
            [
                {"method": "GET", "url": srv.url("/echo", host="api.test")},
                {"method": "GET", "url": srv.url("/echo")},
            ],
            keys=["r1:1", "r1:2"],
            hosts=["api.test", "127.0.0.1"],
            secrets=NoSecrets(),
            allowed_secrets=[],
        )
    # Connected to 127.0.0.1 both times; only the request by name matches the certificate (SNI + verification).
    assert by_name["ok"]["body"]["headers"]["host"] == f"api.test:{srv.port}"
    assert by_ip["err"]["code"] == "tls_error" and by_ip["err"]["retriable"] is False
    assert "certificate" in by_ip["err"]["message"].lower()
