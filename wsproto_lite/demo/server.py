"""The demo server: the tutorial's RPC service on the asyncio adapter.

Built only on the public API (:func:`wsproto_lite.adapters.asyncio.serve`).
One :class:`DemoServer` holds the settings, the users and the token key; the
state the connections share (the tutorial's ``clients``, who is online,
broadcasts) lives behind a :class:`~.hub.Hub`; each connection gets a
:class:`~.session.Session`. Every call runs in its own task, so a slow call
never holds up the next message, nor any other client; the order rules of
:mod:`.ordering` say which calls wait for which and in what order replies
without an id come back.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Set
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .._events import Accept, Handshake, HTTPRequest, Reject
from ..adapters.asyncio import ConnectionClosed, Server, WebSocket, serve
from . import jwt
from .config import DemoConfig
from .hub import Hub, LocalHub
from .ordering import ReplySlot, Turn
from .page import host_port, load_page, text_response
from .rpc import (
    ErrorCode,
    Note,
    Param,
    Ping,
    Request,
    RequestId,
    RPCError,
    check_args,
    error_reply,
    parse_message,
    pong_reply,
    push,
    result_reply,
)
from .session import Session

__all__ = ["PAGE_PATHS", "WEBSOCKET_PATHS", "DemoServer", "Session", "load_page", "run"]

#: Paths where a plain ``GET`` (or ``HEAD``) returns the page.
PAGE_PATHS = ("/", "/index.html")
#: Paths where WebSocket handshakes are accepted.
WEBSOCKET_PATHS = ("/", "/ws")
#: The issuer claim of the demo's tokens.
TOKEN_ISSUER = "wsproto_lite demo"
#: Request headers whose values the log does not show.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
#: The longest text of a received message (a note or a ping) the log shows.
LOG_TEXT_LIMIT = 200

logger = logging.getLogger("wsproto_lite.demo")


def printable(text: str, limit: int = LOG_TEXT_LIMIT) -> str:
    """*text* for a log line: control characters escaped, cut after *limit* characters."""
    shown = "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text[:limit])
    if len(text) > limit:
        shown += f"… ({len(text) - limit} more characters)"
    return shown


def format_headers(headers: Iterable[tuple[str, str]]) -> str:
    """Request headers, one ``name: value`` a line (the tutorial's ``headers`` event);
    the values of :data:`SECRET_HEADERS` are not shown."""
    lines = []
    for name, value in headers:
        shown = f"({len(value)} characters, not shown)" if name in SECRET_HEADERS else value
        lines.append(f"    {printable(name)}: {printable(shown, 1000)}")
    return "\n".join(lines)


def _close_text(code: int | None, reason: str) -> str:
    return f"{code} {printable(reason)}".rstrip()


MethodFunc = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class _Method:
    func: MethodFunc
    params: tuple[Param, ...]
    requires_auth: bool
    #: Changes who the connection is signed in as: a barrier among its calls.
    signs_in: bool = False


class DemoServer:
    """The tutorial's WebSocket RPC server, done properly.

    :param config: the settings (default: :class:`DemoConfig` defaults).
    :param hub: where the state shared by the connections lives (default: a
        :class:`~.hub.LocalHub`, in this process's memory).
    """

    def __init__(self, config: DemoConfig | None = None, hub: Hub | None = None) -> None:
        #: The settings.
        self.config = config if config is not None else DemoConfig()
        #: The state shared by the connections.
        self.hub = hub if hub is not None else LocalHub()
        self._credentials = self.config.user_store.public_credentials
        self._methods: dict[str, _Method] = {
            "auth": _Method(
                self.auth,
                (Param("login", str), Param("password", str)),
                requires_auth=False,
                signs_in=True,
            ),
            "authToken": _Method(
                self.auth_token, (Param("token", str),), requires_auth=False, signs_in=True
            ),
            "whoami": _Method(self.whoami, (), requires_auth=False),
            "getUsers": _Method(self.get_users, (), requires_auth=True),
            "broadcast": _Method(self.broadcast, (Param("text", str),), requires_auth=True),
            "sleep": _Method(self.sleep, (Param("ms", float),), requires_auth=False),
        }

    @property
    def clients(self) -> Set[Session]:
        """The connected clients of this process (the tutorial's ``clients``)."""
        return self.hub.clients

    # -- serving ----------------------------------------------------------------

    def serve(
        self, host: str | None = "127.0.0.1", port: int | None = 4000, **kwargs: Any
    ) -> Server:
        """The adapter's server for this demo: ``async with demo.serve(...) as server``.

        Keyword arguments go to :func:`wsproto_lite.adapters.asyncio.serve`.
        """
        kwargs.setdefault("compression", self.config.compression)
        kwargs.setdefault("max_message_size", self.config.max_message_size)
        return serve(self.handler, host, port, process_request=self.process_request, **kwargs)

    def process_request(self, request: Handshake | HTTPRequest) -> Accept | Reject | None:
        """Serve the page on ``GET /`` (and ``HEAD /``), and vet WebSocket handshakes.

        Plain requests elsewhere get the default ``426 Upgrade Required``; other
        methods on the page get ``405``. A handshake's request headers are
        logged (the tutorial's ``headers`` event); handshakes are accepted on
        :data:`WEBSOCKET_PATHS` only (``404`` elsewhere) and, when
        :attr:`DemoConfig.allowed_origins` is set, only from those origins
        (``403``).
        """
        path = urlsplit(request.target).path
        if isinstance(request, HTTPRequest):
            logger.info("HTTP %s %s", request.method, printable(request.target))
            if path not in PAGE_PATHS:
                return None  # 426 Upgrade Required
            if request.method not in ("GET", "HEAD"):
                return text_response(405, "Method Not Allowed", ("Allow", "GET, HEAD"))
            # The core sends no body in answer to HEAD (RFC 9110 §9.3.2), and the
            # same headers as for GET, Content-Length included.
            page, headers = load_page(self._credentials, host_port(request.headers))
            return Reject(200, headers, page)
        origin = request.origin
        logger.info(
            "handshake request GET %s, headers:\n%s",
            printable(request.target),
            format_headers(request.headers),
        )
        if path not in WEBSOCKET_PATHS:
            return text_response(404, f"Not Found: connect to {' or '.join(WEBSOCKET_PATHS)}")
        allowed = self.config.allowed_origins
        if allowed and origin is not None and origin not in allowed:
            logger.warning("handshake refused: origin %s is not allowed", printable(origin))
            return text_response(403, "Forbidden: this origin is not allowed")
        return None  # the default: accept

    async def handler(self, ws: WebSocket) -> None:
        """Serve one connection: read messages, run each call in its own task."""
        session = Session(ws, self.config.max_unsent_replies)
        count = await self.hub.join(session)
        logger.info("client #%d connected from %s; %d connected", session.id, session.remote, count)
        try:
            async for message in ws:
                await self._on_message(session, message)
        except ConnectionClosed:
            pass
        finally:
            for task in list(session.tasks):
                task.cancel()
            count = await self.hub.leave(session)
            logger.info(
                "client #%d disconnected (%s); %d connected",
                session.id,
                _close_text(ws.close_code, ws.close_reason),
                count,
            )

    async def _reply(self, session: Session, request_id: RequestId, text: str) -> None:
        """Send a reply now: in turn with the other id-less replies if it has no id."""
        if request_id is None:
            await session.replies.wait_for_room()
            await session.replies.deliver(session.replies.reserve(), text)
        else:
            await session.send(text)

    async def _on_message(self, session: Session, payload: str | bytes) -> None:
        try:
            message = parse_message(payload)
        except RPCError as exc:
            logger.debug("client #%d: bad message: %s", session.id, exc.message)
            await self._reply(session, exc.id, error_reply(exc))
            return
        if isinstance(message, Note):
            # The tutorial's step 4: the server's terminal shows what was sent.
            logger.info("client #%d: message %s", session.id, printable(message.text))
            return
        if isinstance(message, Ping):
            logger.info("client #%d: ping %s", session.id, printable(str(payload)))
            await self._reply(session, message.id, pong_reply(message))
            return
        if len(session.tasks) >= self.config.max_pending_calls:
            error = RPCError(
                ErrorCode.TOO_MANY_CALLS,
                f"at most {self.config.max_pending_calls} calls may run at once",
                message.id,
            )
            await self._reply(session, message.id, error_reply(error))
            return
        slot = None
        if message.id is None:
            await session.replies.wait_for_room()
            slot = session.replies.reserve()
        method = self._methods.get(message.method)
        turn = session.turns.take(barrier=method is not None and method.signs_in)
        task = asyncio.get_running_loop().create_task(self._call(session, message, turn, slot))
        session.tasks.add(task)
        task.add_done_callback(session.tasks.discard)

    async def _call(
        self, session: Session, request: Request, turn: Turn, slot: ReplySlot | None
    ) -> None:
        logger.debug(
            "client #%d: call %s (id %s)", session.id, printable(request.method, 64), request.id
        )
        try:
            async with turn:  # wait for the calls this one depends on
                reply = await self._run(session, request)
        except BaseException:
            if slot is not None:
                session.replies.cancel(slot)
            raise
        if slot is None:
            await session.send(reply)
        else:
            await session.replies.deliver(slot, reply)
        if session.failed_logins >= self.config.max_failed_logins:
            logger.warning("client #%d: too many failed logins; closing", session.id)
            await session.ws.close(1008, "too many failed logins")

    async def _run(self, session: Session, request: Request) -> str:
        """Check and run one call; its reply text."""
        try:
            method = self._methods.get(request.method)
            if method is None:
                raise RPCError(
                    ErrorCode.METHOD_NOT_FOUND,
                    f"unknown method {request.method[:64]!r}; methods: {', '.join(self._methods)}",
                )
            check_args(request, method.params)
            # Read before the first await: see ordering.Turn.
            if method.requires_auth and not session.authenticated:
                expired = session.login is not None
                raise RPCError(
                    ErrorCode.UNAUTHORIZED,
                    f"{request.method} requires authentication"
                    + (": the token has expired" if expired else "; call auth first"),
                )
            result = await method.func(session, *request.args)
            return result_reply(request.id, result)
        except RPCError as exc:
            exc.id = request.id
            return error_reply(exc)
        except Exception:
            logger.exception("client #%d: %s failed", session.id, request.method)
            return error_reply(RPCError(ErrorCode.INTERNAL_ERROR, "internal error", request.id))

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
        thread), like the tutorial's; other clients go on meanwhile, and so do
        this client's earlier calls, but its later calls wait for the answer
        (see :mod:`.ordering`).
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
        await self.hub.signed_in(session)
        logger.info("client #%d: authenticated as %s", session.id, user.login)
        return {"login": user.login, "name": user.name, "token": token, "expires": expires}

    async def auth_token(self, session: Session, token: str) -> dict[str, Any]:
        """``authToken(token)``: authenticate with a token from an earlier ``auth``."""
        try:
            login, expires = self.verify_token(token)
        except jwt.InvalidToken as exc:
            raise RPCError(ErrorCode.INVALID_TOKEN, f"invalid token: {exc}") from None
        session.login, session.expires = login, expires
        await self.hub.signed_in(session)
        user = self.config.user_store.get(login)
        logger.info("client #%d: authenticated as %s (token)", session.id, login)
        return {"login": login, "name": user.name if user else "", "expires": int(expires)}

    async def whoami(self, session: Session) -> dict[str, Any]:
        """``whoami()``: this connection's identity."""
        authenticated = session.authenticated
        return {
            "client": session.id,
            "worker": self.hub.worker_id,
            "remote": session.remote,
            "authenticated": authenticated,
            "login": session.login if authenticated else None,
            "expires": int(session.expires) if authenticated else None,
        }

    async def get_users(self, session: Session) -> list[dict[str, Any]]:
        """``getUsers()``: the known users, with how many connections each has open."""
        online = await self.hub.online()
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
        return {"delivered": await self.hub.broadcast(message)}

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
    port: int | None = 4000,
    *,
    on_listening: Callable[[Server], None] | None = None,
    hub: Hub | None = None,
    **kwargs: Any,
) -> None:
    """Run the demo until cancelled.

    :param on_listening: called once the server listens (e.g. to print the URL).
    :param hub: where the state shared by the connections lives (default: a
        :class:`~.hub.LocalHub`); it is started before the server listens and
        closed after the server has shut down.
    :param kwargs: passed to :func:`wsproto_lite.adapters.asyncio.serve`
        (``reuse_port=True``, or ``sock=`` with *host* and *port* ``None``).
    """
    demo = DemoServer(config, hub)
    await demo.hub.start()
    try:
        async with demo.serve(host, port, **kwargs) as server:
            if on_listening is not None:
                on_listening(server)
            await server.serve_forever()
    finally:
        await demo.hub.close()
