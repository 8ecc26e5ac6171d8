"""The demo server: the tutorial's RPC service on the asyncio adapter.

Built only on the public API (:func:`wsproto_lite.adapters.asyncio.serve`).
One :class:`DemoServer` holds the connected clients (the tutorial's
``clients``), the users and the token key; each connection gets a
:class:`Session`. Every call runs in its own task, so a slow call never holds
up the next message, nor any other client; replies carry the call's ``id``
and may come back in any order.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from .._events import Accept, Handshake, HTTPRequest, Reject
from ..adapters.asyncio import ConnectionClosed, Server, WebSocket, serve
from . import jwt
from .config import DemoConfig
from .rpc import (
    ErrorCode,
    Param,
    Request,
    RPCError,
    check_args,
    error_reply,
    parse_request,
    push,
    result_reply,
)

__all__ = ["PAGE_PATHS", "WEBSOCKET_PATHS", "DemoServer", "Session", "load_page", "run"]

#: Paths where a plain ``GET`` returns the page.
PAGE_PATHS = ("/", "/index.html")
#: Paths where WebSocket handshakes are accepted.
WEBSOCKET_PATHS = ("/", "/ws")
#: The issuer claim of the demo's tokens.
TOKEN_ISSUER = "wsproto_lite demo"

logger = logging.getLogger("wsproto_lite.demo")
_session_ids = itertools.count(1)


def _csp_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def load_page() -> tuple[bytes, list[tuple[str, str]]]:
    """The HTML page and its response headers.

    The page's one inline ``<script>`` and ``<style>`` are allowed by hash in a
    strict Content-Security-Policy: nothing else runs, nothing is loaded from
    elsewhere, and the page may only connect back to the server it came from.
    """
    text = resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")
    scripts = re.findall(r"<script>(.*?)</script>", text, re.S)
    styles = re.findall(r"<style>(.*?)</style>", text, re.S)
    csp = "; ".join(
        [
            "default-src 'none'",
            "script-src " + " ".join(map(_csp_hash, scripts)),
            "style-src " + " ".join(map(_csp_hash, styles)),
            "connect-src 'self'",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    headers = [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Cache-Control", "no-store"),
        ("Content-Security-Policy", csp),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
    ]
    return text.encode("utf-8"), headers


def _text_response(status: int, text: str, *extra: tuple[str, str]) -> Reject:
    headers = [("Content-Type", "text/plain; charset=utf-8"), *extra]
    return Reject(status, headers, text.encode("utf-8") + b"\n")


def _format_address(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host = f"[{address[0]}]" if ":" in str(address[0]) else str(address[0])
        return f"{host}:{address[1]}"
    return str(address)


class Session:
    """One connected client (an element of :attr:`DemoServer.clients`).

    :param ws: its connection.
    """

    def __init__(self, ws: WebSocket) -> None:
        #: A number identifying the client in logs and in ``whoami``.
        self.id = next(_session_ids)
        #: The connection.
        self.ws = ws
        #: ``host:port`` of the peer.
        self.remote = _format_address(ws.remote_address)
        #: The authenticated login, if any (see :attr:`authenticated`).
        self.login: str | None = None
        #: When the authentication lapses (the token's ``exp``).
        self.expires = 0.0
        #: Failed ``auth`` calls so far.
        self.failed_logins = 0
        #: The calls running now.
        self.tasks: set[asyncio.Task[None]] = set()

    @property
    def authenticated(self) -> bool:
        """Whether a login succeeded and its token has not expired since."""
        return self.login is not None and time.time() < self.expires

    def __repr__(self) -> str:
        return f"<Session #{self.id} {self.remote} login={self.login!r}>"


MethodFunc = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class _Method:
    func: MethodFunc
    params: tuple[Param, ...]
    requires_auth: bool


class DemoServer:
    """The tutorial's WebSocket RPC server, done properly.

    :param config: the settings (default: :class:`DemoConfig` defaults).
    """

    def __init__(self, config: DemoConfig | None = None) -> None:
        #: The settings.
        self.config = config if config is not None else DemoConfig()
        #: The connected clients (the tutorial's ``clients``).
        self.clients: set[Session] = set()
        self._page, self._page_headers = load_page()
        self._methods: dict[str, _Method] = {
            "auth": _Method(
                self.auth, (Param("login", str), Param("password", str)), requires_auth=False
            ),
            "authToken": _Method(self.auth_token, (Param("token", str),), requires_auth=False),
            "whoami": _Method(self.whoami, (), requires_auth=False),
            "getUsers": _Method(self.get_users, (), requires_auth=True),
            "broadcast": _Method(self.broadcast, (Param("text", str),), requires_auth=True),
            "sleep": _Method(self.sleep, (Param("ms", float),), requires_auth=False),
        }

    @property
    def method_names(self) -> list[str]:
        """The names of the methods clients may call."""
        return list(self._methods)

    # -- serving ----------------------------------------------------------------

    def serve(self, host: str | None = "127.0.0.1", port: int = 4000, **kwargs: Any) -> Server:
        """The adapter's server for this demo: ``async with demo.serve(...) as server``.

        Keyword arguments go to :func:`wsproto_lite.adapters.asyncio.serve`.
        """
        kwargs.setdefault("compression", self.config.compression)
        kwargs.setdefault("max_message_size", self.config.max_message_size)
        return serve(self.handler, host, port, process_request=self.process_request, **kwargs)

    def process_request(self, request: Handshake | HTTPRequest) -> Accept | Reject | None:
        """Serve the page on ``GET /``, and vet WebSocket handshakes.

        Plain requests elsewhere get the default ``426 Upgrade Required``;
        handshakes are accepted on :data:`WEBSOCKET_PATHS` only (``404``
        elsewhere) and, when :attr:`DemoConfig.allowed_origins` is set, only
        from those origins (``403``).
        """
        path = urlsplit(request.target).path
        if isinstance(request, HTTPRequest):
            logger.info("HTTP %s %s", request.method, request.target)
            if path not in PAGE_PATHS:
                return None  # 426 Upgrade Required
            if request.method != "GET":
                return _text_response(405, "Method Not Allowed", ("Allow", "GET"))
            return Reject(200, self._page_headers, self._page)
        origin = request.origin
        logger.info("handshake: GET %s (Origin: %s)", request.target, origin or "none")
        for name, value in request.headers:
            logger.debug("  %s: %s", name, value)
        if path not in WEBSOCKET_PATHS:
            return _text_response(404, "Not Found: connect to /ws")
        allowed = self.config.allowed_origins
        if allowed and origin is not None and origin not in allowed:
            logger.warning("handshake refused: origin %s is not allowed", origin)
            return _text_response(403, "Forbidden: this origin is not allowed")
        return None  # the default: accept

    async def handler(self, ws: WebSocket) -> None:
        """Serve one connection: read calls, run each in its own task."""
        session = Session(ws)
        self.clients.add(session)
        request = ws.request
        agent = dict(request.headers).get("user-agent", "-") if request else "-"
        logger.info(
            "client #%d connected from %s (%s); %d connected",
            session.id,
            session.remote,
            agent,
            len(self.clients),
        )
        try:
            async for message in ws:
                await self._on_message(session, message)
        except ConnectionClosed:
            pass
        finally:
            self.clients.discard(session)
            for task in list(session.tasks):
                task.cancel()
            logger.info(
                "client #%d disconnected (%s %s); %d connected",
                session.id,
                ws.close_code,
                ws.close_reason,
                len(self.clients),
            )

    async def _on_message(self, session: Session, message: str | bytes) -> None:
        try:
            request = parse_request(message)
        except RPCError as exc:
            logger.debug("client #%d: bad message: %s", session.id, exc.message)
            await self._send(session, error_reply(exc))
            return
        if len(session.tasks) >= self.config.max_pending_calls:
            error = RPCError(
                ErrorCode.TOO_MANY_CALLS,
                f"at most {self.config.max_pending_calls} calls may run at once",
                request.id,
            )
            await self._send(session, error_reply(error))
            return
        task = asyncio.get_running_loop().create_task(self._call(session, request))
        session.tasks.add(task)
        task.add_done_callback(session.tasks.discard)

    async def _call(self, session: Session, request: Request) -> None:
        logger.debug("client #%d: call #%s %s", session.id, request.id, request.method)
        try:
            method = self._methods.get(request.method)
            if method is None:
                raise RPCError(
                    ErrorCode.METHOD_NOT_FOUND,
                    f"unknown method {request.method[:64]!r}; methods: {', '.join(self._methods)}",
                )
            check_args(request, method.params)
            if method.requires_auth and not session.authenticated:
                expired = session.login is not None
                raise RPCError(
                    ErrorCode.UNAUTHORIZED,
                    f"{request.method} requires authentication"
                    + (": the token has expired" if expired else "; call auth first"),
                )
            result = await method.func(session, *request.args)
            reply = result_reply(request.id, result)
        except RPCError as exc:
            exc.id = request.id
            reply = error_reply(exc)
        except Exception:
            logger.exception("client #%d: %s failed", session.id, request.method)
            reply = error_reply(RPCError(ErrorCode.INTERNAL_ERROR, "internal error", request.id))
        await self._send(session, reply)
        if session.failed_logins >= self.config.max_failed_logins:
            logger.warning("client #%d: too many failed logins; closing", session.id)
            await session.ws.close(1008, "too many failed logins")

    async def _send(self, session: Session, text: str) -> bool:
        try:
            await session.ws.send(text)
        except ConnectionClosed:
            return False
        return True

    # -- tokens -----------------------------------------------------------------

    def issue_token(self, login: str, now: float | None = None) -> tuple[str, int]:
        """A signed token for *login* and its expiry time (seconds since the epoch)."""
        issued = int(time.time() if now is None else now)
        expires = issued + max(1, int(self.config.token_ttl))
        claims = {
            "sub": login,
            "iss": TOKEN_ISSUER,
            "iat": issued,
            "exp": expires,
            "jti": secrets.token_urlsafe(12),
        }
        return jwt.encode(claims, self.config.secret), expires

    def verify_token(self, token: str, now: float | None = None) -> tuple[str, float]:
        """The login and expiry a token grants; :class:`~.jwt.InvalidToken` if none."""
        claims = jwt.decode(token, self.config.secret, now=now)
        login = claims.get("sub")
        if claims.get("iss") != TOKEN_ISSUER or not isinstance(login, str):
            raise jwt.InvalidToken("not a token of this server")
        if self.config.user_store.get(login) is None:
            raise jwt.InvalidToken("the token's user no longer exists")
        return login, float(claims["exp"])

    # -- methods ----------------------------------------------------------------

    async def auth(self, session: Session, login: str, password: str) -> dict[str, Any]:
        """``auth(login, password)``: check the password, return a token.

        Slow on purpose (:attr:`DemoConfig.auth_delay`, then a scrypt hash in a
        thread), like the tutorial's; other calls and clients go on meanwhile.
        """
        await asyncio.sleep(self.config.auth_delay)
        users = self.config.user_store
        user = await asyncio.to_thread(users.authenticate, login, password)
        if user is None:
            session.failed_logins += 1
            logger.info("client #%d: failed login", session.id)
            raise RPCError(ErrorCode.INVALID_CREDENTIALS, "wrong login or password")
        token, expires = self.issue_token(user.login)
        session.login, session.expires = user.login, float(expires)
        logger.info("client #%d: authenticated as %s", session.id, user.login)
        return {"login": user.login, "name": user.name, "token": token, "expires": expires}

    async def auth_token(self, session: Session, token: str) -> dict[str, Any]:
        """``authToken(token)``: authenticate with a token from an earlier ``auth``."""
        try:
            login, expires = self.verify_token(token)
        except jwt.InvalidToken as exc:
            raise RPCError(ErrorCode.INVALID_TOKEN, f"invalid token: {exc}") from None
        session.login, session.expires = login, expires
        user = self.config.user_store.get(login)
        logger.info("client #%d: authenticated as %s (token)", session.id, login)
        return {"login": login, "name": user.name if user else "", "expires": int(expires)}

    async def whoami(self, session: Session) -> dict[str, Any]:
        """``whoami()``: this connection's identity."""
        authenticated = session.authenticated
        return {
            "client": session.id,
            "remote": session.remote,
            "authenticated": authenticated,
            "login": session.login if authenticated else None,
            "expires": int(session.expires) if authenticated else None,
        }

    async def get_users(self, session: Session) -> list[dict[str, Any]]:
        """``getUsers()``: the known users, with how many connections each has open."""
        online: dict[str, int] = {}
        for client in self.clients:
            if client.authenticated and client.login is not None:
                online[client.login] = online.get(client.login, 0) + 1
        return [
            {"login": user.login, "name": user.name, "online": online.get(user.login, 0)}
            for user in self.config.user_store
        ]

    async def broadcast(self, session: Session, text: str) -> dict[str, int]:
        """``broadcast(text)``: push *text* to every authenticated client (the caller too)."""
        limit = self.config.max_broadcast_length
        if len(text) > limit:
            raise RPCError(ErrorCode.INVALID_PARAMS, f"text is longer than {limit} characters")
        message = push("broadcast", **{"from": session.login, "text": text})
        recipients = [client for client in self.clients if client.authenticated]
        # Concurrently: a client that reads slowly must not hold up the others.
        sent = await asyncio.gather(*(self._send(client, message) for client in recipients))
        return {"delivered": sum(sent)}

    async def sleep(self, session: Session, ms: float) -> dict[str, float]:
        """``sleep(ms)``: wait *ms* milliseconds (at most :attr:`DemoConfig.max_sleep_ms`)."""
        if not 0 <= ms <= self.config.max_sleep_ms:
            raise RPCError(
                ErrorCode.INVALID_PARAMS, f"ms must be between 0 and {self.config.max_sleep_ms}"
            )
        await asyncio.sleep(ms / 1000)
        return {"slept": ms}


async def run(
    config: DemoConfig | None = None,
    host: str | None = "127.0.0.1",
    port: int = 4000,
    *,
    on_listening: Callable[[Server], None] | None = None,
    **kwargs: Any,
) -> None:
    """Run the demo until cancelled.

    :param on_listening: called once the server listens (e.g. to print the URL).
    :param kwargs: passed to :func:`wsproto_lite.adapters.asyncio.serve`.
    """
    demo = DemoServer(config)
    async with demo.serve(host, port, **kwargs) as server:
        if on_listening is not None:
            on_listening(server)
        await server.serve_forever()
