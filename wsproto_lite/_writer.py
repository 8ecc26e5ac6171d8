"""The frame writer: events of an OPEN connection out, as frames (RFC 6455 §5).

:class:`FrameWriter` turns data messages (whole or in parts) and control
frames into bytes: the opcode of each fragment, the extensions' outbound half
(RSV bits and payload transformation, RFC 7692), masking for a client
(RFC 6455 §5.3). The connection checks the state first and queues the bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from . import _frames
from ._deflate import Deflater
from ._errors import LocalProtocolError
from ._frames import Opcode, serialize_frame
from ._prepared import PreparedMessage
from .extensions.base import ExtensionSession

__all__ = ["FrameWriter"]

# (Final: a compiled build reads these as constants, see _reader.py.)
_CONTINUATION: Final = Opcode.CONTINUATION
_TEXT: Final = Opcode.TEXT
_BINARY: Final = Opcode.BINARY
_pack_BB: Final = _frames._pack_BB


class FrameWriter:
    """Frames the outbound messages of one connection.

    :param client: whether this end is the client (its frames are masked).
    """

    __slots__ = (
        "_ask", "_deflater", "_mask", "_message", "_rsv", "_sessions", "_shared", "_transform",
    )  # fmt: skip

    def __init__(self, client: bool) -> None:
        self._mask = client
        self._sessions: Sequence[ExtensionSession] = ()
        # The compiled deflater of a lone permessage-deflate session, called
        # instead of the session's methods (see set_sessions).
        self._deflater: Deflater | None = None
        # The sessions asked about each shared frame (those whose transform is
        # not optional), and whether a shared frame may go without asking.
        self._ask: Sequence[ExtensionSession] = ()
        self._shared = not client
        self._message: Opcode | None = None  # a fragmented message being sent
        self._rsv = 0
        self._transform = False

    def set_sessions(self, sessions: Sequence[ExtensionSession]) -> None:
        """Use the outbound half of the negotiated extensions."""
        self._sessions = sessions
        # As the reader does with the inbound half (FrameReader.set_sessions).
        deflater = getattr(sessions[0], "_core_deflater", None) if len(sessions) == 1 else None
        self._deflater = deflater if isinstance(deflater, Deflater) else None
        self._ask = [s for s in sessions if not s.optional_transform]
        self._shared = not self._mask and not self._ask

    def message(self, text: bool, data: bytes, final: bool, compress: bool) -> bytes:
        """The frame of a text or binary message (or of a part of one:
        ``final=False``); *data* is its payload as bytes.

        Raises :class:`~wsproto_lite.LocalProtocolError` for a part of another
        kind than the fragmented message in progress (RFC 6455 §5.4).
        """
        if final and self._message is None and not self._mask and not self._sessions:
            n = len(data)
            if n < 126:
                # The common case: a server's small whole message, no extension.
                # What serialize_frame returns for it (tests/test_frames.py
                # compares the two), without the call: a sixth of the send path.
                return _pack_BB(0x81 if text else 0x82, n) + data
        kind = _TEXT if text else _BINARY
        if self._message is None:
            opcode = kind
            rsv = 0
            transform = False
            if self._sessions:
                size_hint = len(data) if final else None
                deflater = self._deflater
                if deflater is not None:
                    rsv = deflater.message(kind, size_hint, compress)
                else:
                    for session in self._sessions:
                        rsv |= session.outbound_message(kind, size_hint, compress)
                transform = rsv != 0
            if not final:
                self._message = kind
                self._rsv = rsv
                self._transform = transform
        else:
            if kind is not self._message:
                raise LocalProtocolError(
                    f"a fragmented {self._message.name.lower()} message is in progress;"
                    " finish it (final=True) before sending another kind of message"
                )
            opcode = _CONTINUATION
            rsv = 0
            transform = self._transform
            if final:
                self._message = None
        if transform:
            deflater = self._deflater
            if deflater is not None:
                data = deflater.deflate(data, final)
            else:
                for session in self._sessions:
                    data = session.outbound_data(data, final)
        return serialize_frame(opcode, data, fin=final, rsv=rsv, mask=self._mask)

    def prepared(self, prepared: PreparedMessage) -> bytes:
        """The shared frame of *prepared*, where it may go as it is.

        Raises :class:`~wsproto_lite.LocalProtocolError` where it may not: on a
        client's connection, whose frames are masked (RFC 6455 §5.3); in the
        middle of a fragmented message (§5.4); where a negotiated extension
        insists on transforming the message even when asked not to (never
        permessage-deflate: RFC 7692 §6 lets any message go uncompressed).
        """
        if self._shared and self._message is None:
            return prepared.frame  # (a server's connection, no session to ask: the usual case)
        if self._mask:
            raise LocalProtocolError(
                "a prepared message is unmasked, and a client masks every frame"
                " (RFC 6455 §5.3): use send()"
            )
        if self._message is not None:
            raise LocalProtocolError(
                f"a fragmented {self._message.name.lower()} message is in progress;"
                " finish it (final=True) before sending another message (RFC 6455 §5.4)"
            )
        for session in self._ask:
            if session.outbound_message(prepared.opcode, prepared.size, False):
                raise LocalProtocolError(
                    f"the negotiated extension {type(session).__name__} transforms every"
                    " message, which a prepared frame cannot be: use send()"
                )
        return prepared.frame

    def control(self, opcode: int, payload: bytes) -> bytes:
        """The frame of a ping, a pong or a close (never fragmented, never transformed)."""
        return serialize_frame(opcode, payload, mask=self._mask)

    def close(self, code: int, reason: str) -> bytes:
        """The close frame for *code* and *reason* (RFC 6455 §5.5.1)."""
        payload = code.to_bytes(2, "big") + reason.encode("utf-8")
        return serialize_frame(Opcode.CLOSE, payload, mask=self._mask)
