"""The demo's web page: its HTML, its strict Content-Security-Policy and headers."""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import re
from collections.abc import Iterable
from importlib import resources

from .._events import Reject

__all__ = ["host_port", "load_page", "text_response"]


def _csp_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _loopback_sources(port: int | None) -> list[str]:
    # The tutorial's snippets connect to ws://localhost:PORT whatever the page's
    # address: allow the loopback names of that port. (Not [::1]: CSP has no
    # syntax for IPv6 literals, and browsers report the source as invalid.)
    if port is None:
        return []
    return [f"ws://{host}:{port}" for host in ("localhost", "127.0.0.1")]


@functools.lru_cache(maxsize=1)
def _template() -> str:
    return resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")


def load_page(
    credentials: tuple[str, str] | None = None, port: int | None = None
) -> tuple[bytes, list[tuple[str, str]]]:
    """The HTML page and its response headers.

    :param credentials: a login and password the sign-in form is filled with
        (the public demo user); ``None`` leaves it empty.
    :param port: the port the page was asked for: its console may also connect
        to ``ws://localhost:PORT`` and ``ws://127.0.0.1:PORT``, as the
        tutorial's snippets do.

    The page's one inline ``<script>`` and ``<style>`` are allowed by hash in a
    strict Content-Security-Policy: nothing else runs, nothing is loaded from
    elsewhere, and the page may only connect back to the server it came from.
    """
    text = _template()
    login, password = credentials if credentials is not None else ("", "")
    if credentials is not None:
        hint = (
            f"The demo's user is <code>{html.escape(login)}</code> with the password"
            f" <code>{html.escape(password)}</code>."
        )
    else:
        hint = "Sign in with a login from the server's users file."
    # Only markup changes: the inline script and style (hashed below) stay as they are.
    text = (
        text.replace("@LOGIN@", html.escape(login))
        .replace("@PASSWORD@", html.escape(password))
        .replace("@CREDENTIALS@", hint)
    )
    scripts = re.findall(r"<script>(.*?)</script>", text, re.S)
    styles = re.findall(r"<style>(.*?)</style>", text, re.S)
    csp = "; ".join(
        [
            "default-src 'none'",
            "script-src " + " ".join(map(_csp_hash, scripts)),
            "style-src " + " ".join(map(_csp_hash, styles)),
            " ".join(["connect-src 'self'", *_loopback_sources(port)]),
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


def text_response(status: int, text: str, *extra: tuple[str, str]) -> Reject:
    """A short plain-text answer (an error) with *status*."""
    headers = [("Content-Type", "text/plain; charset=utf-8"), *extra]
    return Reject(status, headers, text.encode("utf-8") + b"\n")


def host_port(headers: Iterable[tuple[str, str]]) -> int | None:
    """The port of the ``Host`` header (80 when it names none), or ``None`` if unreadable."""
    host = dict(headers).get("host", "")
    match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[^:\[\]]+)(?::(\d{1,5}))?", host)
    if match is None:
        return None
    port = int(match.group(2) or 80)
    return port if 0 < port < 65536 else None
