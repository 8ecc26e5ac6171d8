"""The demo server's settings, with safe defaults."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

from .auth import UserStore
from .jwt import MIN_KEY_LENGTH

__all__ = ["SECRET_ENV", "DemoConfig", "secret_from_env"]

#: The environment variable holding the token signing secret.
SECRET_ENV = "WSPROTO_LITE_DEMO_SECRET"


def secret_from_env(environ: dict[str, str] | None = None) -> tuple[bytes, bool]:
    """The signing secret and whether it came from :data:`SECRET_ENV`.

    Without the variable, a random 32-byte secret is generated: tokens then stop
    working when the server restarts. A secret shorter than 32 bytes is refused
    with :class:`ValueError` (RFC 7518 §3.2).
    """
    env = os.environ if environ is None else environ
    value = env.get(SECRET_ENV)
    if not value:
        return secrets.token_bytes(MIN_KEY_LENGTH), False
    key = value.encode("utf-8")
    if len(key) < MIN_KEY_LENGTH:
        raise ValueError(
            f"{SECRET_ENV} must be at least {MIN_KEY_LENGTH} bytes"
            " (generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return key, True


@dataclass
class DemoConfig:
    """Everything the demo server needs.

    :param users: who may log in (default: the tutorial's ``admin`` / ``secret``).
    :param secret: the HS256 key tokens are signed with (default: from
        :data:`SECRET_ENV`, else random).
    :param token_ttl: seconds a token stays valid.
    :param auth_delay: seconds ``auth`` waits before answering, like the
        tutorial's ``sleep`` (it also slows down password guessing).
    :param max_message_size: the largest message accepted, in bytes (after
        decompression); a bigger one closes the connection with 1009.
    :param max_sleep_ms: the longest ``sleep`` allowed.
    :param max_pending_calls: calls one connection may have running (or waiting
        for their turn) at once; more are answered with ``TOO_MANY_CALLS``.
    :param max_unsent_replies: replies without an id that may wait for their
        turn (they go out in order); beyond that the server stops reading from
        the connection until one is sent.
    :param max_failed_logins: failed ``auth`` calls after which the connection
        is closed (1008).
    :param max_broadcast_length: the longest ``broadcast`` text, in characters.
    :param allowed_origins: when not empty, browsers from other origins are
        refused (403); clients that send no ``Origin`` are always let in.
    :param compression: negotiate permessage-deflate.
    """

    users: UserStore | None = None
    secret: bytes = b""
    token_ttl: float = 3600.0
    auth_delay: float = 0.5
    max_message_size: int = 64 * 1024
    max_sleep_ms: int = 10_000
    max_pending_calls: int = 16
    max_unsent_replies: int = 32
    max_failed_logins: int = 5
    max_broadcast_length: int = 1000
    allowed_origins: tuple[str, ...] = field(default_factory=tuple)
    compression: bool = True

    def __post_init__(self) -> None:
        if self.users is None:
            self.users = UserStore.default()
        if not self.secret:
            self.secret, _ = secret_from_env()
        if len(self.secret) < MIN_KEY_LENGTH:
            raise ValueError(f"the secret must be at least {MIN_KEY_LENGTH} bytes")
        if self.max_message_size < 1:
            raise ValueError("max_message_size must be at least 1 byte")
        if self.max_pending_calls < 1 or self.max_unsent_replies < 1:
            raise ValueError("max_pending_calls and max_unsent_replies must be at least 1")

    @property
    def user_store(self) -> UserStore:
        """The users (never ``None`` after construction)."""
        assert self.users is not None
        return self.users
