"""The world side of the ``http.request`` host function: grant checks, secret injection, SSRF guard, limits.

``HttpClient.perform`` takes the guest's request documents (shape in ``app/capabilities.py``) and returns one
``{"ok": ...}`` or ``{"err": ...}`` per request, in order; a request-level failure is data, never an exception.
Secret values are injected into the outgoing request only and redacted from everything returned.
"""

from __future__ import annotations

import http.cookiejar
import json
import logging
import os
import ssl
import time
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from app import __version__
from app.errors import FatalError
from app.runtime.netguard import AddressPolicy, Blocked, GuardedBackend, GuardedTransport, Resolver, system_resolver
from app.runtime.redact import Redactor, basic_auth_token, derived_forms
from app.runtime.secrets import SecretResolver, missing_message

CAPABILITY = "http.request"
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"})
RESPONSE_MODES = frozenset({"auto", "json", "text"})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Set by the host or by the connection itself; a guest value would only confuse the server or the framing.
HOST_OWNED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "idempotency-key"})


# httpcore logs raw request and response headers at DEBUG; an API that reflects a credential in a header
# would put a secret in the process log. Our own events are redacted; theirs are not, so keep them quiet.
for _name in ("httpcore", "httpx"):
    logging.getLogger(_name).setLevel(logging.WARNING)


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None


@dataclass(frozen=True)
class HttpPolicy:
    """Operator limits for outbound HTTP."""

    addresses: AddressPolicy = field(default_factory=AddressPolicy)
    max_response_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    default_timeout: float = 30.0
    max_timeout: float = 300.0
    max_concurrency: int = 20
    user_agent: str = f"wasmflow/{__version__}"

    @classmethod
    def from_env(cls) -> HttpPolicy:
        """The policy from ``WASMFLOW_HTTP_*`` variables; a malformed one is a fatal setting error."""
        try:
            return cls(
                addresses=AddressPolicy.from_env(),
                max_response_bytes=int(_env_number("WASMFLOW_HTTP_MAX_RESPONSE_BYTES", 10 * 1024 * 1024)),
                max_concurrency=max(1, int(_env_number("WASMFLOW_HTTP_MAX_CONCURRENCY", 20))),
            )
        except ValueError as exc:
            raise FatalError(str(exc), code="invalid_setting") from None


class HttpFailure(Exception):
    """A request-level failure, turned into ``{"err": ...}`` by ``HttpClient``."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        retriable: bool = False,
        details: dict[str, Any] | None = None,
        ambiguous: bool = False,
    ):
        super().__init__(message)
        self.code, self.message, self.retriable, self.details = code, message, retriable, details
        self.ambiguous = ambiguous  # the request may have reached the server: its effect may have happened

    def to_dict(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message, "retriable": self.retriable}
        if self.ambiguous:
            err["ambiguous"] = True
        if self.details:
            err["details"] = self.details
        return err


class _NoCookies(http.cookiejar.CookieJar):
    """One client serves every run: a cookie set for one workflow must never be sent by another."""

    def set_cookie(self, cookie) -> None:
        return None

    def extract_cookies(self, response, request) -> None:
        return None


def _invalid(message: str) -> HttpFailure:
    return HttpFailure("invalid_request", message)


def _check_header(name: Any, value: Any) -> None:
    if not isinstance(name, str) or not name or not name.isascii() or any(c in name for c in " \t\r\n:\0"):
        raise _invalid(f"header name {name!r} is not valid")
    if not isinstance(value, str) or not value.isascii() or any(c in value for c in "\r\n\0"):
        raise _invalid(f"header {name!r} must be an ASCII string without line breaks")


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


def _same_origin_or_upgrade(url: httpx.URL, first: httpx.URL) -> bool:
    if url.host != first.host:
        return False
    if _origin(url) == _origin(first):
        return True
    # http -> https on default ports keeps the credentials, as browsers and httpx do.
    return first.scheme == "http" and url.scheme == "https" and first.port is None and url.port is None


def _cert_rejected(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


# Failures before a byte of the request left: nothing can have been applied.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol, httpx.ProxyError)


def _maybe_sent(exc: BaseException) -> bool:
    """Whether a transport failure may have happened after the server got the request (an ambiguous outcome)."""
    return not isinstance(exc, _NOT_SENT)


def _is_json_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def guarded_client(
    policy: HttpPolicy, *, resolver: Resolver = system_resolver, ssl_context: ssl.SSLContext | None = None
) -> tuple[GuardedBackend, httpx.Client]:
    """A pooled ``httpx.Client`` that connects only to addresses ``policy`` allows (checked per connection),
    ignores environment proxies (one would be connected to instead of the checked address), keeps no
    cookies and follows no redirect (the caller re-checks every hop or refuses them)."""
    backend = GuardedBackend(policy.addresses, resolver=resolver)
    client = httpx.Client(
        transport=GuardedTransport(backend, max_connections=max(policy.max_concurrency, 10), ssl_context=ssl_context),
        trust_env=False,
        follow_redirects=False,
        cookies=_NoCookies(),
        headers={"User-Agent": policy.user_agent},
    )
    return backend, client


def check_grant(url: httpx.URL, granted: Collection[str], capability: str, *, fix: str) -> None:
    """The host rule of outbound calls: the URL's host, lower-cased without a trailing dot, is granted; else
    ``capability_denied`` naming the host, the grant and what to name (``fix``) before compiling again."""
    host = url.host.lower().rstrip(".")
    if host not in granted:
        listed = ", ".join(granted) if granted else "no hosts"
        raise HttpFailure(
            "capability_denied",
            f"{capability} may not reach host {host!r}: this workflow was granted {listed}; "
            f"name {fix} and compile again",
            details={"capability": capability, "host": host, "granted": list(granted)},
        )


class HttpClient:
    """Performs batches of guest HTTP requests; one pooled ``httpx.Client`` and one thread pool per instance."""

    def __init__(
        self,
        policy: HttpPolicy | None = None,
        *,
        resolver: Resolver = system_resolver,
        ssl_context: ssl.SSLContext | None = None,
    ):
        """``resolver`` and ``ssl_context`` (trusted CAs) are for tests and private CAs; defaults are the system's."""
        self.policy = policy or HttpPolicy()
        self.backend, self._client = guarded_client(self.policy, resolver=resolver, ssl_context=ssl_context)
        self._pool = ThreadPoolExecutor(max_workers=self.policy.max_concurrency, thread_name_prefix="wasmflow-http")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def perform(
        self,
        requests: list[dict],
        *,
        keys: list[str],
        hosts: Collection[str],
        secrets: SecretResolver,
        allowed_secrets: Collection[str],
    ) -> list[dict]:
        """One result per request, in order: ``{"ok": {status, headers, body}}`` or ``{"err": {...}}``."""
        if len(keys) != len(requests):
            raise ValueError(f"{len(requests)} requests but {len(keys)} idempotency keys")
        granted = tuple(sorted({h.lower().rstrip(".") for h in hosts}))
        allowed = tuple(sorted(set(allowed_secrets)))
        # Even a single request goes through the shared pool: max_concurrency bounds the whole process.
        futures = [
            self._pool.submit(self._one, req, key, granted, secrets, allowed)
            for req, key in zip(requests, keys, strict=True)
        ]
        return [f.result() for f in futures]

    def _one(
        self, req: Any, key: str, granted: tuple[str, ...], secrets: SecretResolver, allowed: tuple[str, ...]
    ) -> dict:
        redactor = Redactor()
        try:
            return redactor.redact({"ok": self._send(req, key, granted, secrets, allowed, redactor)})
        except HttpFailure as exc:
            return {"err": redactor.redact(exc.to_dict())}
        except httpx.HTTPError as exc:  # anything httpx raised that _send did not classify
            err = {"code": "network", "message": f"{type(exc).__name__}: {exc}", "retriable": True, "ambiguous": True}
            return {"err": redactor.redact(err)}

    def _send(
        self,
        req: Any,
        key: str,
        granted: tuple[str, ...],
        secrets: SecretResolver,
        allowed: tuple[str, ...],
        redactor: Redactor,
    ) -> dict:
        if not isinstance(req, Mapping):
            raise _invalid("a request must be an object")
        method = req.get("method")
        if method not in METHODS:
            raise _invalid(f"method {method!r} is not one of {', '.join(sorted(METHODS))}")
        mode = req.get("response") or "auto"
        if mode not in RESPONSE_MODES:
            raise _invalid(f"response {mode!r} is not one of auto, json, text")
        url = self._parse_url(req.get("url"), req.get("query"))
        check_grant(url, granted, CAPABILITY, fix="the host in the node's URL or allowed_hosts")
        headers = self._guest_headers(req.get("headers"))
        auth_headers = self._auth_headers(req.get("auth"), secrets, allowed, redactor)
        headers["Idempotency-Key"] = key
        content = self._encode_body(req.get("body"), headers)
        return self._exchange(
            method, url, headers, auth_headers, content, mode=mode, granted=granted, timeout=self._timeout(req)
        )

    def _timeout(self, req: Mapping) -> float:
        raw = req.get("timeout_seconds")
        if raw is None:
            return min(self.policy.default_timeout, self.policy.max_timeout)
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or raw <= 0:
            raise _invalid(f"timeout_seconds must be a positive number, not {raw!r}")
        return min(float(raw), self.policy.max_timeout)

    @staticmethod
    def _parse_url(raw: Any, query: Any) -> httpx.URL:
        if not isinstance(raw, str) or not raw:
            raise _invalid("url must be a non-empty string")
        try:
            url = httpx.URL(raw)
        except httpx.InvalidURL as exc:
            raise _invalid(f"url {raw!r} is not valid: {exc}") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise _invalid(f"url {raw!r} must be an absolute http:// or https:// URL")
        if query:
            if not isinstance(query, Mapping):
                raise _invalid("query must be an object of strings")
            params = {}
            for k, v in query.items():
                if isinstance(v, (dict, list)) or v is None:
                    raise _invalid(f"query parameter {k!r} must be a string")
                params[str(k)] = v if isinstance(v, str) else json.dumps(v)
            url = url.copy_merge_params(params)
        return url

    @staticmethod
    def _guest_headers(raw: Any) -> dict[str, str]:
        if raw is None:
            return {}
        if not isinstance(raw, Mapping):
            raise _invalid("headers must be an object of strings")
        headers = {}
        for name, value in raw.items():
            _check_header(name, value)
            if name.lower() not in HOST_OWNED_HEADERS:
                headers[name] = value
        return headers

    @staticmethod
    def _auth_headers(
        auth: Any, secrets: SecretResolver, allowed: tuple[str, ...], redactor: Redactor
    ) -> dict[str, str]:
        if not auth:
            return {}
        if not isinstance(auth, Mapping) or auth.get("type") not in ("bearer", "basic", "header"):
            raise _invalid("auth.type must be one of bearer, basic, header")
        name = auth.get("secret")
        if not isinstance(name, str) or not name:
            raise _invalid("auth.secret must name a secret")
        if name not in allowed:
            raise HttpFailure(
                "capability_denied",
                f"{CAPABILITY} may not use secret {name!r}: this workflow was granted "
                f"{', '.join(allowed) if allowed else 'no secrets'}",
                details={"capability": CAPABILITY, "secret": name, "granted": list(allowed)},
            )
        value = secrets.value(name)
        if value is None:
            raise HttpFailure("secret_missing", missing_message(secrets, name), details={"secret": name})
        redactor.add(value, name)
        for form in derived_forms(value):
            redactor.add(form, name)
        if not value.isascii() or any(c in value for c in "\r\n\0"):
            raise HttpFailure(
                "invalid_secret", f"secret {name!r} cannot go into a header: it has a line break or non-ASCII text"
            )
        if auth["type"] == "bearer":
            return {"Authorization": f"Bearer {value}"}
        if auth["type"] == "basic":
            username = auth.get("username") or ""
            if not isinstance(username, str) or ":" in username or not username.isascii():
                raise _invalid("auth.username must be a string without ':' or line breaks")
            token = basic_auth_token(username, value)
            redactor.add(token, name)
            return {"Authorization": f"Basic {token}"}
        header = auth.get("header")
        _check_header(header, "")
        if header.lower() in HOST_OWNED_HEADERS:
            raise _invalid(f"auth.header {header!r} is set by the host")
        return {header: value}

    @staticmethod
    def _encode_body(body: Any, headers: dict[str, str]) -> bytes | None:
        if body is None:
            return None
        has_type = any(k.lower() == "content-type" for k in headers)
        if isinstance(body, str) and has_type:
            return body.encode("utf-8")
        if not has_type:
            headers["Content-Type"] = "application/json"
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def _exchange(
        self,
        method: str,
        url: httpx.URL,
        headers: dict[str, str],
        auth_headers: dict[str, str],
        content: bytes | None,
        *,
        mode: str,
        granted: tuple[str, ...],
        timeout: float,
    ) -> dict:
        """Send, following redirects by hand so every hop passes the grant and the address policy again."""
        first = url
        deadline = time.monotonic() + timeout
        for _hop in range(self.policy.max_redirects + 1):
            check_grant(url, granted, CAPABILITY, fix="the host in the node's URL or allowed_hosts")
            hop_headers = dict(headers)
            if _same_origin_or_upgrade(url, first):  # credentials never follow a redirect to another origin
                hop_headers.update(auth_headers)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timed_out(url, timeout)
            request = self._client.build_request(
                method, url, headers=hop_headers, content=content, timeout=httpx.Timeout(remaining)
            )
            try:
                response = self._client.send(request, stream=True)
            except Blocked:
                raise HttpFailure(
                    "address_blocked",
                    f"{CAPABILITY} to host {url.host!r} refused: it resolves to an internal or reserved address; "
                    "an operator can allow networks with WASMFLOW_HTTP_ALLOW_NETWORKS",
                    details={"host": url.host},
                ) from None
            except httpx.TimeoutException as exc:
                raise self._timed_out(url, timeout, ambiguous=_maybe_sent(exc)) from None
            except httpx.TransportError as exc:
                if _cert_rejected(exc):  # retrying will not change the certificate
                    raise HttpFailure("tls_error", f"{CAPABILITY} to host {url.host!r} failed: {exc}") from None
                raise HttpFailure(
                    "network",
                    f"{CAPABILITY} to host {url.host!r} failed: {exc}",
                    retriable=True,
                    ambiguous=_maybe_sent(exc),
                ) from None
            try:
                location = response.headers.get("location")
                if response.status_code in REDIRECTS and location:
                    url, method, content, headers = self._redirect(response, url, location, method, content, headers)
                    continue
                return self._read(response, mode=mode, deadline=deadline, timeout=timeout)
            finally:
                response.close()
        raise HttpFailure(
            "too_many_redirects",
            f"{CAPABILITY} to {first.host!r} was redirected more than {self.policy.max_redirects} times",
        )

    @staticmethod
    def _redirect(
        response: httpx.Response, url: httpx.URL, location: str, method: str, content: bytes | None, headers: dict
    ) -> tuple[httpx.URL, str, bytes | None, dict]:
        try:
            nxt = url.join(location)
        except httpx.InvalidURL:
            raise HttpFailure("bad_redirect", f"{url.host!r} redirected to an invalid URL") from None
        if nxt.scheme not in ("http", "https") or not nxt.host:
            raise HttpFailure("bad_redirect", f"{url.host!r} redirected to a non-HTTP URL")
        status = response.status_code
        if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
            method, content = "GET", None
            headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        return nxt, method, content, headers

    @staticmethod
    def _timed_out(url: httpx.URL, timeout: float, *, ambiguous: bool = False) -> HttpFailure:
        return HttpFailure(
            "timeout",
            f"{CAPABILITY} to host {url.host!r} took longer than {timeout:g} seconds",
            retriable=True,
            ambiguous=ambiguous,
        )

    def _read(self, response: httpx.Response, *, mode: str, deadline: float, timeout: float) -> dict:
        cap = self.policy.max_response_bytes
        too_large = HttpFailure(
            "response_too_large",
            f"the response from {response.url.host!r} is larger than {cap} bytes",
            details={"limit_bytes": cap},
        )
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap and not response.headers.get("content-encoding"):
            raise too_large
        data = bytearray()
        try:
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > cap:
                    raise too_large
                if time.monotonic() > deadline:
                    raise self._timed_out(response.url, timeout, ambiguous=True)
        except httpx.TimeoutException:
            raise self._timed_out(response.url, timeout, ambiguous=True) from None
        except httpx.DecodingError as exc:
            raise HttpFailure("bad_response", f"the response from {response.url.host!r} is malformed: {exc}") from None
        except httpx.TransportError as exc:
            raise HttpFailure(
                "network",
                f"reading the response from {response.url.host!r} failed: {exc}",
                retriable=True,
                ambiguous=True,
            ) from None
        return {
            "status": response.status_code,
            "headers": self._headers(response),
            "body": self._body(bytes(data), response, mode),
        }

    @staticmethod
    def _headers(response: httpx.Response) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, value in response.headers.multi_items():
            name = name.lower()
            out[name] = f"{out[name]}, {value}" if name in out else value
        return out

    @staticmethod
    def _body(data: bytes, response: httpx.Response, mode: str) -> Any:
        if mode == "json":
            if not data.strip():
                return None
            try:
                return json.loads(data)
            except ValueError as exc:
                raise HttpFailure(
                    "invalid_json", f"the response from {response.url.host!r} is not valid JSON: {exc}"
                ) from None
        charset = response.charset_encoding or "utf-8"
        try:
            text = data.decode(charset, errors="replace")
        except LookupError:
            text = data.decode("utf-8", errors="replace")
        if mode == "auto" and _is_json_type(response.headers.get("content-type", "")) and text.strip():
            try:
                return json.loads(text)
            except ValueError:
                return text
        return text
