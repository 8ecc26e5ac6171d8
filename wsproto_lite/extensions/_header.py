"""The ``Sec-WebSocket-Extensions`` header's syntax (RFC 6455 §9.1).

Shared by the opening handshake (which negotiates) and by applications and
frameworks that negotiate extensions themselves (handshake-less connections).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .._events import _TOKEN_RE
from .base import Params

__all__ = ["format_extension_header", "parse_extension_header"]


def _unquote(value: str) -> str:
    # RFC 7230 §3.2.6 quoted-string: drop the quotes, resolve backslash escapes.
    return re.sub(r"\\(.)", r"\1", value[1:-1])


def parse_extension_header(values: Iterable[str]) -> list[tuple[str, Params]]:
    """Parse ``Sec-WebSocket-Extensions`` values (RFC 6455 §9.1).

    Returns ``(name, params)`` per element, in order. Parameter values may be
    tokens or quoted strings (RFC 6455 §9.1 requires a quoted value to be a
    token once unquoted). Raises :class:`ValueError` on malformed input.
    """
    result: list[tuple[str, Params]] = []
    for value in values:
        # Split on commas outside quoted strings.
        for element in _split_outside_quotes(value, ","):
            element = element.strip()
            if not element:
                continue
            parts = [p.strip() for p in _split_outside_quotes(element, ";")]
            name = parts[0]
            if not _TOKEN_RE.fullmatch(name):
                raise ValueError(f"invalid extension name {name!r}")
            params: Params = []
            for part in parts[1:]:
                if "=" in part:
                    key, _, raw = part.partition("=")
                    key, raw = key.strip(), raw.strip()
                    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
                        raw = _unquote(raw)
                    if not _TOKEN_RE.fullmatch(raw):
                        raise ValueError(f"invalid value for extension parameter {key!r}")
                    val: str | None = raw
                else:
                    key, val = part, None
                if not _TOKEN_RE.fullmatch(key):
                    raise ValueError(f"invalid extension parameter {key!r}")
                params.append((key, val))
            result.append((name, params))
    return result


def _split_outside_quotes(value: str, sep: str) -> list[str]:
    items: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in value:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == sep and not quoted:
            items.append("".join(current))
            current = []
            continue
        current.append(ch)
    if quoted:
        raise ValueError("unterminated quoted string")
    items.append("".join(current))
    return items


def format_extension_header(name: str, params: Params) -> str:
    """Format one ``Sec-WebSocket-Extensions`` element: ``name; a; b=1``."""
    parts = [name]
    for key, val in params:
        parts.append(key if val is None else f"{key}={val}")
    return "; ".join(parts)
