"""The options every adapter's ``connect()`` and ``serve()`` take: declared once.

:class:`Options` names them and says what each means (the same in every
adapter); :data:`DEFAULTS` gives their defaults; :class:`Settings` is what
the session works with, once they are checked.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from ..extensions.base import Extension
from ..extensions.permessage_deflate import PerMessageDeflate

__all__ = ["DEFAULTS", "SERVER_DEFLATE", "Logger", "Options", "Settings"]

Logger = logging.Logger | logging.LoggerAdapter[Any]

#: What ``compression=True`` gives a server: 12-bit windows both ways (the
#: client's only if it offered ``client_max_window_bits``, RFC 7692 §7.1.2.2)
#: and zlib's ``mem_level`` 5, about 50 KiB per busy connection instead of
#: about 300 KiB with zlib's defaults, for about 9 % more bytes on the wire
#: (``benchmarks/deflate_memory.py``; docs/guides/compression.md); and
#: ``release_contexts``: between two messages a connection keeps two 4 KiB
#: windows of text instead of zlib's contexts, for a few µs per message.
SERVER_DEFLATE = PerMessageDeflate(
    server_max_window_bits=12, client_max_window_bits=12, mem_level=5, release_contexts=True
)


class Options(TypedDict, total=False):
    """The options of ``connect()`` and ``serve()`` in every adapter, by keyword.

    Each has the same default and the same meaning in the asyncio, trio and
    blocking adapters::

        serve(handler, "127.0.0.1", 8765, open_timeout=5, max_message_size=64 * 1024)

    Values out of range raise :class:`ValueError`, unknown names
    :class:`TypeError`.
    """

    compression: bool
    """Offer (client) or accept (server) permessage-deflate (RFC 7692); ``True``
    by default. A server negotiates 12-bit windows and ``mem_level=5`` and
    releases zlib's contexts between messages (``release_contexts``), a
    client offers zlib's defaults; pass ``compression=False`` and your own
    :class:`~wsproto_lite.extensions.permessage_deflate.PerMessageDeflate` in
    *extensions* to choose."""

    extensions: Sequence[Extension] | None
    """Further :class:`~wsproto_lite.extensions.Extension` s to negotiate."""

    open_timeout: float | None
    """Seconds for the opening handshake (10): a client's TCP connection, TLS
    and handshake together (:class:`TimeoutError` beyond); a server gives a
    client this long for TLS and its request. ``None``: no limit."""

    close_timeout: float | None
    """Seconds the closing handshake may take before the transport is closed
    anyway (10); also how long a peer may take nothing at all while more than
    *write_limit* bytes wait for it (then the connection fails with 1011), and
    how long a server's shutdown waits for its handlers. ``None``: no limit."""

    ping_interval: float | None
    """Seconds between keepalive pings (20); ``None``: none."""

    ping_timeout: float | None
    """Seconds a keepalive ping waits for its pong before the connection is
    failed with 1011 (20); ``None``: for ever."""

    max_message_size: int | None
    """The largest message accepted, after decompression (1 MiB; 1009 beyond);
    ``None``: no limit."""

    max_queue: int | None
    """How much received data may wait for an application that does not read
    (16): one message, then at most ``max_queue`` × 64 KiB of bytes not parsed
    yet, after which reading stops; ``None``: no limit."""

    write_limit: int
    """Bytes waiting to be written above which sends wait, ``broadcast()``
    skips the connection and pongs are held back (64 KiB)."""

    logger: Logger | None
    """Where to log; by default ``logging.getLogger("wsproto_lite.ADAPTER.SIDE")``
    (``"wsproto_lite.asyncio.server"``…)."""


#: The default of every option of :class:`Options`.
DEFAULTS: Options = {
    "compression": True,
    "extensions": None,
    "open_timeout": 10.0,
    "close_timeout": 10.0,
    "ping_interval": 20.0,
    "ping_timeout": 20.0,
    "max_message_size": 1 << 20,
    "max_queue": 16,
    "write_limit": 1 << 16,
    "logger": None,
}


@dataclass(frozen=True)
class Settings:
    """The options of ``connect()`` or ``serve()``, checked, with defaults applied."""

    extensions: tuple[Extension, ...]
    max_message_size: int | None
    open_timeout: float | None
    close_timeout: float | None
    ping_interval: float | None
    ping_timeout: float | None
    max_queue: int | None
    write_limit: int
    logger: Logger
    #: Server: the subprotocols it speaks, preferred first.
    subprotocols: tuple[str, ...] = ()

    @staticmethod
    def split(keywords: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """*keywords* as (the :class:`Options` among them, the others)."""
        options = {key: value for key, value in keywords.items() if key in DEFAULTS}
        return options, {key: value for key, value in keywords.items() if key not in DEFAULTS}

    @classmethod
    def create(
        cls,
        name: str,
        options: Mapping[str, Any],
        subprotocols: Sequence[str] | None = None,
    ) -> Settings:
        """Check the :class:`Options` given to ``connect()`` or ``serve()``.

        *name* (``"asyncio.client"``…) names the default logger, and tells
        whether the options are a server's (its compression, and the
        *subprotocols* it speaks).

        :raises TypeError: an option does not exist.
        :raises ValueError: an option is out of range.
        """
        unknown = sorted(set(options) - set(DEFAULTS))
        if unknown:
            function = "serve" if name.endswith("server") else "connect"
            raise TypeError(f"{function}() got an unexpected keyword argument {unknown[0]!r}")
        values: dict[str, Any] = {**DEFAULTS, **options}

        def number(key: str, least: int = 0, kind: Any = (int, float)) -> Any:
            value = values[key]
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, kind) or value < least
            ):
                raise ValueError(f"{key} must be None or at least {least}, not {value!r}")
            return value

        extensions = list(values["extensions"] or ())
        server = name.endswith("server")
        if values["compression"] and all(e.name != PerMessageDeflate.name for e in extensions):
            extensions.append(SERVER_DEFLATE if server else PerMessageDeflate())
        if values["write_limit"] is None:
            raise ValueError("write_limit must be a number of bytes, not None")
        interval = number("ping_interval")
        if interval == 0:
            raise ValueError("ping_interval must be more than 0 seconds, or None")
        return cls(
            tuple(extensions),
            number("max_message_size", kind=int),
            number("open_timeout"),
            number("close_timeout"),
            interval,
            number("ping_timeout"),
            number("max_queue", 1, int),
            number("write_limit", kind=int),
            values["logger"] or logging.getLogger(f"wsproto_lite.{name}"),
            tuple(subprotocols or ()) if server else (),
        )
