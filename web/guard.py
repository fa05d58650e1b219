"""The gate in front of every route: checks each request and socket before the app sees it.

- **Host allow-list** (DNS rebinding): after a rebinding, a page on ``evil.test`` reaches the hub with
  ``Host: evil.test:PORT`` and a matching ``Origin``, so Origin checks alone prove nothing. Only
  Host values naming the bound address, a loopback name or address, or a configured
  ``--allowed-host`` are served; anything else gets 421 on every route, HTTP and WebSocket alike.
- **Dashboard session** (a hub reachable off loopback): when a dashboard token is set, browsers must
  hold the session cookie (given once for ``?token=...``) or send ``Authorization: Bearer``.
  Agents (``/ws``) have their own tokens; ``/health`` and ``/static/`` stay open.
- **Response headers**: a Content-Security-Policy without inline scripts, no framing, ``nosniff``,
  no referrer (a login URL carries a token), and redirects that never echo the Host header.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

import attrs

LOOPBACK_NAMES = frozenset(("localhost",))
SESSION_COOKIE = "agentdeck_session"
OPEN_PATHS = ("/health", "/static/", "/ws")  # "/ws" exactly: agents authenticate with their own tokens
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[..., Awaitable[None]]


def split_host(value: str) -> tuple[str, int | None] | None:
    """``name[:port]`` or ``[v6][:port]`` -> (lower-case name without a trailing dot, port); None if malformed."""
    value = value.strip()
    port_text = ""
    if value.startswith("["):
        name, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:]
    else:
        name, _, port_text = value.partition(":")
    if port_text and not (port_text.isascii() and port_text.isdigit() and len(port_text) <= 5):
        return None
    name = name.lower().rstrip(".")
    if not name:
        return None
    return name, int(port_text) if port_text else None


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


@attrs.frozen
class HostPolicy:
    """Which Host header values name this hub."""

    names: frozenset[str]
    bound_ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None

    @classmethod
    def for_bind(cls, host: str, allowed: Iterable[str] = ()) -> HostPolicy:
        bound = host.strip("[]").lower()
        names = {*LOOPBACK_NAMES, bound, *(a.strip().lower().rstrip(".") for a in allowed if a.strip())}
        return cls(frozenset(names), _ip(bound))

    def allows(self, header: str | None, port: int | None) -> bool:
        parsed = split_host(header or "")
        if parsed is None:
            return False
        name, given_port = parsed
        if given_port is not None and port is not None and given_port != port:
            return False
        if name in self.names:
            return True
        ip = _ip(name)
        if ip is None:
            return False
        # an address is never a rebinding (that needs a name); any of ours is fine when bound to all
        return ip.is_loopback or ip == self.bound_ip or (self.bound_ip is not None and self.bound_ip.is_unspecified)


def session_value(token: str) -> str:
    """The cookie a browser holds after logging in: derived from the token, useless without it."""
    return hmac.new(token.encode(), b"agentdeck dashboard session", hashlib.sha256).hexdigest()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    raw = _header(scope, b"cookie") or ""
    for part in raw.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


class RequestGuard:
    """ASGI middleware around the Quart app (see the module docstring)."""

    def __init__(self, app: App, hosts: HostPolicy, dashboard_token: str | None = None) -> None:
        self.app = app
        self.hosts = hosts
        self._token = dashboard_token
        self._session = session_value(dashboard_token) if dashboard_token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        server = scope.get("server")
        port = server[1] if isinstance(server, (tuple, list)) and len(server) > 1 else None
        if not self.hosts.allows(_header(scope, b"host"), port):
            await _answer(scope, send, 421, "unknown host: this hub answers only to its own names "
                                            "(see --allowed-host)\n")
            return
        if self._session is not None and not self._open(scope):
            login = self._login(scope)
            if login is not None:
                await _redirect_with_session(send, login, self._session)
                return
            if not self._authorised(scope):
                await _answer(scope, send, 401, "log in with the dashboard URL the hub printed at start "
                                                "(it carries ?token=...)\n")
                return
        await self.app(scope, receive, _with_security_headers(send) if kind == "http" else send)

    @staticmethod
    def _open(scope: Scope) -> bool:
        path = scope.get("path", "")
        return path in ("/health", "/ws") or path.startswith("/static/")

    def _login(self, scope: Scope) -> str | None:
        """For ``GET ...?token=<dashboard token>``: where to send the browser once it has its cookie."""
        if scope["type"] != "http" or scope.get("method") != "GET" or self._token is None:
            return None
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = next((v for k, v in query if k == "token"), None)
        if given is None or not hmac.compare_digest(given.encode(), self._token.encode()):
            return None
        rest = urlencode([(k, v) for k, v in query if k != "token"])
        path = scope.get("path", "/")
        return (path if path.startswith("/") and not path.startswith("//") else "/") + (f"?{rest}" if rest else "")

    def _authorised(self, scope: Scope) -> bool:
        assert self._session is not None and self._token is not None
        cookie = _cookie(scope, SESSION_COOKIE)
        if cookie is not None and hmac.compare_digest(cookie.encode(), self._session.encode()):
            return True
        bearer = _header(scope, b"authorization") or ""
        scheme, _, value = bearer.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), self._token.encode())


async def _answer(scope: Scope, send: Send, status: int, text: str) -> None:
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
               *SECURITY_HEADERS]
    prefix = "websocket.http.response" if scope["type"] == "websocket" else "http.response"
    await send({"type": f"{prefix}.start", "status": status, "headers": headers})
    await send({"type": f"{prefix}.body", "body": body})


async def _redirect_with_session(send: Send, location: str, session: str) -> None:
    cookie = f"{SESSION_COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/"
    await send({"type": "http.response.start", "status": 303, "headers": [
        (b"location", location.encode("latin-1", "replace")), (b"set-cookie", cookie.encode()),
        (b"content-length", b"0"), (b"cache-control", b"no-store"), *SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": b""})


def relative_location(value: bytes) -> bytes:
    """``http://host:port/path?q`` -> ``/path?q``: a redirect never repeats the Host it was asked for."""
    for scheme in (b"http://", b"https://"):
        if value[:len(scheme)].lower() == scheme:
            slash = value.find(b"/", len(scheme))
            path = value[slash:] if slash != -1 else b"/"
            return b"/" + path.lstrip(b"/")  # never "//host": that would name another site
    return value


def _with_security_headers(send: Send) -> Send:
    async def sending(message: dict[str, Any]) -> None:
        if message.get("type") == "http.response.start":
            headers = [(k, relative_location(v) if k.lower() == b"location" else v)
                       for k, v in message.get("headers", ())]
            present = {k.lower() for k, _ in headers}
            headers.extend((k, v) for k, v in SECURITY_HEADERS if k not in present)
            message = {**message, "headers": headers}
        await send(message)

    return sending
