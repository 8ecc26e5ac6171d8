"""Reassembly of fragmented messages, incremental UTF-8 validation, the
message size limit.

RFC 6455 §5.4 (fragmentation) and §8.1 (text must be valid UTF-8, and an
endpoint fails the connection with 1007 as soon as it sees invalid data);
§10.4 (an endpoint limits the size of what it accepts: 1009 beyond).
"""

from __future__ import annotations

from codecs import utf_8_decode

from ._close_codes import CloseCode
from ._errors import RemoteProtocolError
from ._events import BinaryMessage, Message, _received_binary, _received_text

__all__ = ["MessageAssembler"]


def invalid_utf8(detail: str = "") -> RemoteProtocolError:
    """The error for text that is not UTF-8 (RFC 6455 §8.1 → 1007)."""
    reason = "invalid UTF-8 in a text message"
    return RemoteProtocolError(
        f"{reason}: {detail}" if detail else reason, code=CloseCode.INVALID_FRAME_PAYLOAD_DATA
    )


class MessageAssembler:
    """Collects the payload of one data message at a time.

    The connection calls :meth:`start` at the first frame of a message and
    :meth:`feed` with every piece of (unmasked, decoded-by-extensions) payload.
    Whole-message mode returns one event at the end; streaming mode returns an
    event per non-empty piece. Text is validated as it arrives, so invalid
    UTF-8 fails the connection at the first bad byte even mid-frame.
    """

    __slots__ = ("_parts", "_pending", "_stream", "is_text", "max_size", "size")

    def __init__(self, stream: bool, max_size: int | None) -> None:
        self._stream = stream
        #: The largest message accepted, in bytes (after extensions); ``None``: no limit.
        self.max_size = max_size
        self._parts: list[bytes] | list[str] = []
        # Text: the bytes of a character cut at the end of the last piece.
        self._pending = b""
        #: Whether the message in progress is text.
        self.is_text = False
        #: Bytes of payload received so far for the message in progress
        #: (after extensions, i.e. decompressed).
        self.size = 0

    def check_announced(self, length: int, *, continues: bool) -> None:
        """Fail with 1009 when a frame header announces *length* more bytes than
        the limit leaves (for the message in progress if *continues*, else for
        a new one): the limit applies before any of the payload is read."""
        limit = self.max_size
        if limit is not None:
            total = (self.size if continues else 0) + length
            if total > limit:
                raise RemoteProtocolError(
                    f"message of at least {total} bytes exceeds the {limit}-byte limit",
                    code=CloseCode.MESSAGE_TOO_BIG,
                )

    def check_decoded(self, length: int) -> None:
        """Fail with 1009 when *length* more bytes out of an extension (data
        whose size no header announced) take the message over the limit."""
        limit = self.max_size
        total = self.size + length
        if limit is not None and total > limit:
            # Worded as for an announced size: the peer sent a message that big,
            # whether or not it knows compression was negotiated.
            raise RemoteProtocolError(
                f"message of at least {total} bytes exceeds the {limit}-byte limit",
                code=CloseCode.MESSAGE_TOO_BIG,
            )

    def room(self) -> int | None:
        """How many more bytes the message in progress may have (``None``: no limit)."""
        limit = self.max_size
        return None if limit is None else limit - self.size

    def start(self, is_text: bool) -> None:
        """Begin a new message."""
        self.is_text = is_text
        self.size = 0
        self._parts = []
        self._pending = b""

    def feed(self, data: bytes, final: bool) -> Message | None:
        """Add a piece of payload; return an event when there is one to deliver."""
        if final and not self.size and not self._stream and type(data) is bytes:
            # The whole message in one piece (e.g. out of the decompressor):
            # one decode, nothing to keep or join.
            self.size = len(data)
            if not self.is_text:
                return _received_binary(data)
            try:
                return _received_text(data.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise invalid_utf8(exc.reason) from None
        self.size += len(data)
        if self.is_text:
            # What codecs' incremental UTF-8 decoder does, without its object
            # and getstate() call per piece: decode, and keep the bytes of a
            # character cut at the end (at most 3) for the next piece.
            if self._pending:
                data = self._pending + data
            try:
                text, used = utf_8_decode(data, "strict", final)
            except UnicodeDecodeError as exc:
                raise invalid_utf8(exc.reason) from None
            if used < len(data):  # only when not final
                pending = self._pending = data[used:]
                # CPython's decoder waits for a third byte after ED A0..BF, which
                # can only start a UTF-16 surrogate (invalid in UTF-8): fail now.
                if len(pending) >= 2 and pending[0] == 0xED and pending[1] >= 0xA0:
                    raise invalid_utf8("a UTF-16 surrogate")
            else:
                self._pending = b""
            if self._stream:
                if text or final:
                    return _received_text(text, final)
                return None
            self._parts.append(text)  # type: ignore[arg-type]
            if final:
                joined = "".join(self._parts)  # type: ignore[arg-type]
                self._parts = []
                return _received_text(joined)
            return None
        if self._stream:
            # The connection never feeds an empty, non-final binary piece. An
            # extension's output is checked (and copied to bytes) by the event.
            return BinaryMessage(data, final)
        self._parts.append(data)  # type: ignore[arg-type]
        if final:
            # Always bytes: join() copies anything else.
            joined_b = b"".join(self._parts)  # type: ignore[arg-type]
            self._parts = []
            return _received_binary(joined_b)
        return None
