"""SSRF protection for outbound HTTP: which addresses a workflow may connect to.

The check runs on the address actually connected to: ``GuardedBackend`` resolves the host itself, checks every
candidate and connects to a checked IP literal, so there is no window for DNS rebinding between check and
connect. TLS still verifies the original hostname because httpcore passes the origin's host to ``start_tls``.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]  # (host, port) -> IP address strings

ENV_ALLOW = "WASMFLOW_HTTP_ALLOW_NETWORKS"

# Networks that the ``is_*`` properties of ``ipaddress`` do not all cover on every Python version, named
# explicitly so the policy reads the same everywhere.
_BLOCKED: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "unspecified or 'this network'"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "carrier-grade NAT"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local (cloud metadata lives here)"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b::/96", "NAT64 (embeds an IPv4 address)"),
    ("100::/64", "discard-only"),
    ("2001:db8::/32", "documentation"),
    ("fc00::/7", "unique local (private; includes fd00:ec2::254 cloud metadata)"),
    ("fe80::/10", "link-local"),
    ("ff00::/8", "multicast"),
)
_BLOCKED_NETS = tuple((ipaddress.ip_network(n), why) for n, why in _BLOCKED)


class Blocked(Exception):
    """A connection was refused by the address policy; ``reason`` is for operators' logs, not for guests."""

    def __init__(self, reason: str, *, host: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.host = host


def _unwrap(ip: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d) or IPv4-compatible (::a.b.c.d) IPv6 address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        packed = int(ip)
        if packed >> 32 == 0 and packed > 1:  # ::a.b.c.d (deprecated IPv4-compatible form); :: and ::1 stay v6
            return ipaddress.IPv4Address(packed)
    return ip


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """Comma-separated CIDRs (``"127.0.0.1/32, 10.1.0.0/16"``); ValueError names the bad one."""
    nets = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            nets.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"{ENV_ALLOW}: {part!r} is not a network like 10.1.0.0/16 or 127.0.0.1/32") from None
    return tuple(nets)


@dataclass(frozen=True)
class AddressPolicy:
    """Public unicast addresses only, unless the operator allowed a network (``WASMFLOW_HTTP_ALLOW_NETWORKS``)."""

    allow: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_env(cls) -> AddressPolicy:
        return cls(allow=parse_networks(os.environ.get(ENV_ALLOW, "")))

    def _allowed(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.allow)

    def check(self, ip: str | IPAddress) -> None:
        """Return if ``ip`` may be connected to, else raise ``Blocked`` saying why."""
        addr = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
        if isinstance(addr, ipaddress.IPv6Address) and addr.scope_id:
            addr = ipaddress.IPv6Address(str(addr).split("%", 1)[0])
        inner = _unwrap(addr)
        # An allow entry admits exactly what it names, plus the IPv4-mapped form of an IPv4 address it names
        # (::ffff:a.b.c.d is the same socket address). Other embeddings (6to4 2002::/16, IPv4-compatible ::a.b.c.d)
        # are other addresses: they are admitted only if named themselves, and otherwise judged by the deny rules.
        v4_mapped = addr.ipv4_mapped if isinstance(addr, ipaddress.IPv6Address) else None
        if self._allowed(addr) or (v4_mapped is not None and self._allowed(v4_mapped)):
            return
        # A mapped/compatible address reaches exactly its IPv4 address; other embeddings (6to4) check both.
        mapped = isinstance(addr, ipaddress.IPv6Address) and (addr.ipv4_mapped is not None or int(addr) >> 32 == 0)
        for candidate in [inner] if mapped and inner is not addr else [addr, inner]:
            for net, why in _BLOCKED_NETS:
                if candidate.version == net.version and candidate in net:
                    raise Blocked(f"{addr} is {why}")
            if not candidate.is_global or candidate.is_multicast or candidate.is_reserved:
                raise Blocked(f"{addr} is not a public unicast address")


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to for a TCP connection, in the resolver's order, without duplicates."""
    seen: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        ip = str(sockaddr[0])
        if ip not in seen:
            seen.append(ip)
    return seen


class GuardedBackend(httpcore.SyncBackend):
    """An httpcore network backend that connects only to addresses the policy allows.

    A host is refused when *any* address it resolves to is blocked: a name that mixes public and internal
    addresses is how rebinding attacks look, and picking the public one would hide the problem.
    """

    def __init__(self, policy: AddressPolicy, *, resolver: Resolver = system_resolver):
        self.policy = policy
        self.resolver = resolver

    def resolve_checked(self, host: str, port: int) -> list[str]:
        """The addresses to try for ``host``, every one checked; raises ``Blocked`` otherwise."""
        try:
            ips = self.resolver(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        if not ips:
            raise httpcore.ConnectError(f"cannot resolve {host}: no addresses")
        for ip in ips:
            try:
                self.policy.check(ip)
            except Blocked as exc:
                raise Blocked(exc.reason, host=host) from None
        return ips

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[tuple] | None = None,
    ) -> httpcore.NetworkStream:
        last: Exception | None = None
        for ip in self.resolve_checked(host, port):
            try:
                # An IP literal: the parent's create_connection does no further DNS lookup.
                return super().connect_tcp(ip, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options=None):
        raise Blocked("unix sockets are not reachable from workflows")


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with its connection pool built on ``GuardedBackend`` (the check at connect time)."""

    def __init__(self, backend: GuardedBackend, *, max_connections: int, ssl_context: ssl.SSLContext | None = None):
        super().__init__(trust_env=False)
        # httpx 0.28 takes no network backend; its transport is a thin shell around ``_pool`` (an httpcore
        # pool), so we build that pool ourselves. Pinned by tests: a loopback request is refused by default.
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=5.0,
            network_backend=backend,
        )
