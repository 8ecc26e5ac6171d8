"""Which end of the connection this is.

A module of its own, and one that is never compiled: a compiled function checks
the type of an argument whose class was compiled with it (raising ``TypeError``),
and ``Connection(role=...)`` must answer a wrong role with the
:class:`~wsproto_lite.LocalProtocolError` of its own check instead (see
``wsproto_lite/_compiled.py``).
"""

from __future__ import annotations

from enum import Enum

__all__ = ["Role"]


class Role(Enum):
    """Which end of the connection this is."""

    #: Sends the handshake request; masks its frames (RFC 6455 §5.3).
    CLIENT = "client"
    #: Answers the handshake; its frames are unmasked.
    SERVER = "server"
