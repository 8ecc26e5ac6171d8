"""The per-message work of permessage-deflate (RFC 7692 §7.2): inflating what
arrives, deflating what leaves.

:class:`~wsproto_lite.extensions.permessage_deflate.PerMessageDeflateSession`
is public and may be subclassed, so it stays interpreted; it keeps the
negotiated parameters and delegates each message's work to an
:class:`Inflater` and a :class:`Deflater` from this module, which the
compiled build compiles with the rest of the core. When a session's inbound
methods are that class's own, the frame reader calls its :class:`Inflater`
directly (:attr:`PerMessageDeflateSession._core_inflater
<wsproto_lite.extensions.permessage_deflate.PerMessageDeflateSession>`),
without an interpreted call per message. The rules (RSV1, the
``00 00 ff ff`` tail, bounded output, a stream ended with ``BFINAL``) are
described in the extension's module docstring, and so is
``release_contexts``: with it both halves drop their zlib object after each
message and keep the last window of plain text instead, which primes the
next one as zlib's preset dictionary (``zdict``).
"""

from __future__ import annotations

import zlib
from typing import Final

from ._close_codes import CloseCode
from ._errors import RemoteProtocolError

__all__ = ["Deflater", "Inflater"]

#: RSV1, the "Per-Message Compressed" bit (RFC 7692 §6), in the frame's first byte.
_RSV1: Final = 0x40
#: The tail that a sync flush leaves and that RFC 7692 §7.2.1 strips.
TAIL: Final = b"\x00\x00\xff\xff"
#: An empty stored block without that tail: what an empty message becomes (§7.2.3.6).
EMPTY_BLOCK: Final = b"\x00"
_SYNC_FLUSH: Final = zlib.Z_SYNC_FLUSH
_DEFLATED: Final = zlib.DEFLATED
_decompressobj: Final = zlib.decompressobj
_compressobj: Final = zlib.compressobj
_ZlibError: Final = zlib.error


class Inflater:
    """The receiving half of one permessage-deflate session.

    :param wbits: the window the peer compresses with (8–15).
    :param no_context_takeover: the peer starts every message afresh; the
        decompressor is then dropped after each message.
    :param release_contexts: drop the decompressor after each message anyway,
        keeping the last ``1 << wbits`` bytes received in :attr:`history`
        (under context takeover only: without it there is no history).
    """

    def __init__(self, wbits: int, no_context_takeover: bool, release_contexts: bool) -> None:
        self.wbits = wbits
        self.no_context_takeover = no_context_takeover
        #: Whether :attr:`history` is kept and the decompressor dropped between messages.
        self.release = release_contexts and not no_context_takeover
        #: Created on first use; ``None`` between messages without context
        #: takeover, and with :attr:`release`.
        self.decompressor: zlib._Decompress | None = None
        #: With :attr:`release`, the last window of what the peer's stream
        #: decoded to: the history its next message may refer to (RFC 1951
        #: §3.2, across messages under context takeover, RFC 7692 §7.1.1),
        #: given to the next decompressor as its preset dictionary.
        self.history = b""
        self._window = 1 << wbits
        # The message in progress: input zlib has not consumed yet (output bound
        # reached), whether the tail was appended, whether the peer ended the stream.
        self._unconsumed = b""
        self._tail_fed = False
        self._stream_ended = False

    def frame(self, opcode: int, rsv: int, starts_message: bool) -> bool:
        """Check RSV1 on a received frame; ``True`` when it starts a compressed message.

        RSV1 on a control frame or on a continuation frame fails the
        connection with 1002 (RFC 7692 §6.1).
        """
        if not rsv & _RSV1:
            return False
        if opcode >= 0x8:
            raise RemoteProtocolError(
                "RSV1 set on a control frame (RFC 7692 §6.1)", code=CloseCode.PROTOCOL_ERROR
            )
        if not starts_message:
            raise RemoteProtocolError(
                "RSV1 set on a continuation frame (RFC 7692 §6.1)",
                code=CloseCode.PROTOCOL_ERROR,
            )
        self._unconsumed = b""
        self._tail_fed = False
        return True

    def inflate(self, data: bytes, final: bool, max_length: int) -> bytes:
        """Decompress the next piece of a compressed message, at most *max_length* bytes.

        Input that would produce more stays pending until the next call
        (with ``data=b""``). Once *final*, the ``00 00 ff ff`` tail is
        appended, exactly once (§7.2.2). A result shorter than *max_length*
        with *final* set ends the message. Invalid DEFLATE data fails the
        connection with 1007.
        """
        if max_length < 1:
            raise ValueError("max_length must be at least 1")
        decompressor = self.decompressor
        if decompressor is None:
            if self.history:
                # Primed with what the peer's window holds (release_contexts).
                decompressor = _decompressobj(-self.wbits, zdict=self.history)
            else:
                decompressor = _decompressobj(-self.wbits)
            self.decompressor = decompressor
        if self._unconsumed:
            data = self._unconsumed + data
            self._unconsumed = b""
        if final and not self._tail_fed:
            # The tail goes after the last input (§7.2.2); appended here, zlib
            # decodes both in one call instead of a second call for 4 bytes.
            # (Whatever stays pending below keeps it at its end.)
            data += TAIL
            self._tail_fed = True
        try:
            out = decompressor.decompress(data, max_length)
            if decompressor.eof:
                out = self._past_stream_end(out, max_length)
            elif len(out) == max_length:
                # Output bound reached; the rest waits for the next call.
                # (Short of the bound, zlib consumed all the input, the tail
                # too if final: nothing is pending.)
                self._unconsumed = decompressor.unconsumed_tail
        except _ZlibError as exc:
            raise RemoteProtocolError(
                f"invalid compressed data: {exc}", code=CloseCode.INVALID_FRAME_PAYLOAD_DATA
            ) from None
        if self.release and out:
            self.history = _last(self.history, out, self._window)
        if final and len(out) < max_length:
            self._end_message()
        return out

    def _past_stream_end(self, out: bytes, max_length: int) -> bytes:
        """The peer ended the DEFLATE stream (BFINAL, §7.2.3.4): decode what
        follows (normally an empty stored block) with a fresh decompressor.

        (``unused_data`` holds all input past the end, ``unconsumed_tail`` included.)
        """
        parts = [out]
        remaining = max_length - len(out)
        decompressor = self.decompressor
        assert decompressor is not None
        while decompressor.eof:
            data = decompressor.unused_data
            # A new stream: no history (nor a preset dictionary).
            decompressor = self.decompressor = _decompressobj(-self.wbits)
            self._stream_ended = True
            if remaining == 0:
                self._unconsumed = data
                break
            chunk = decompressor.decompress(data, remaining)
            remaining -= len(chunk)
            parts.append(chunk)
            if remaining == 0 and not decompressor.eof:
                self._unconsumed = decompressor.unconsumed_tail
        return b"".join(parts)

    def _end_message(self) -> None:
        if self.no_context_takeover or self._stream_ended or self.release:
            # §7.1.1: without context takeover the next message starts with an
            # empty window; dropping the decompressor also frees its memory.
            # (zlib cannot go on after a stream's end: a new one is needed.
            # With release, history keeps the window instead.)
            self.decompressor = None
        if self._stream_ended:
            # The peer ended its stream (BFINAL): its next message starts a
            # new one, with no history.
            self.history = b""
        self._unconsumed = b""
        self._tail_fed = False
        self._stream_ended = False


class Deflater:
    """The sending half of one permessage-deflate session.

    :param level: zlib compression level, -1 to 9.
    :param wbits: the window to compress with (9–15: see the extension's
        module docstring for an 8-bit window).
    :param mem_level: zlib memory level, 1 to 9.
    :param no_context_takeover: start every message afresh; the compressor is
        then dropped after each message.
    :param min_size: whole messages shorter than this are sent uncompressed.
    :param enabled: ``False`` sends every message uncompressed (an 8-bit
        window that zlib cannot honour: see the extension's module docstring).
    :param release_contexts: drop the compressor after each message anyway,
        keeping the last ``1 << wbits`` bytes sent in :attr:`history`
        (under context takeover only: without it there is no history).
    """

    def __init__(
        self,
        level: int,
        wbits: int,
        mem_level: int,
        no_context_takeover: bool,
        min_size: int,
        enabled: bool,
        release_contexts: bool,
    ) -> None:
        self.level = level
        self.wbits = wbits
        self.mem_level = mem_level
        self.no_context_takeover = no_context_takeover
        self.min_size = min_size
        self.enabled = enabled
        #: Whether :attr:`history` is kept and the compressor dropped between messages.
        self.release = release_contexts and not no_context_takeover
        #: Created on first use; ``None`` between messages without context
        #: takeover, and with :attr:`release`.
        self.compressor: zlib._Compress | None = None
        #: With :attr:`release`, the last window of what was sent: what the
        #: peer's decompressor holds as its history, given to the next
        #: compressor as its preset dictionary, so that it finds the same
        #: matches as the compressor it replaces (zlib never reaches back
        #: further than its window: the extension's module docstring).
        self.history = b""
        self._window = 1 << wbits

    def message(self, opcode: int, size_hint: int | None, transform: bool) -> int:
        """RSV1 when the message about to be sent is to be compressed, else 0.

        Not compressed: control frames (never compressed, §6.1), messages sent
        with ``compress=False`` (*transform*), whole messages shorter than
        ``min_size``, and everything when not :attr:`enabled`.
        """
        if (opcode != 0x1 and opcode != 0x2) or not transform or not self.enabled:
            return 0
        if size_hint is not None and size_hint < self.min_size:
            return 0
        return _RSV1

    def deflate(self, data: bytes, final: bool) -> bytes:
        """Compress the next piece of a message.

        Every piece is sync-flushed; the final one loses the ``00 00 ff ff``
        tail (§7.2.1).
        """
        compressor = self.compressor
        if compressor is None:
            if self.history:
                # Primed with what the peer's window holds (release_contexts).
                compressor = _compressobj(
                    self.level, _DEFLATED, -self.wbits, self.mem_level, zdict=self.history
                )
            else:
                compressor = _compressobj(self.level, _DEFLATED, -self.wbits, self.mem_level)
            self.compressor = compressor
        if self.release and data:
            self.history = _last(self.history, data, self._window)
        if not final:
            if not data:
                return b""
            return _flushed(compressor, data)
        out = _flushed(compressor, data)
        if self.no_context_takeover or self.release:
            # (With release, history keeps the window instead.)
            self.compressor = None
        if out.endswith(TAIL):
            out = out[:-4]
        # §7.2.1 step 2 / §7.2.3.6: a flush that produced nothing still needs its
        # empty stored block (the stream is byte-aligned after the last flush).
        return out or EMPTY_BLOCK


def _flushed(compressor: zlib._Compress, data: bytes) -> bytes:
    """*data* compressed and sync-flushed."""
    head = compressor.compress(data)
    # zlib usually keeps a small message's output until the flush: then no copy.
    if head:
        return head + compressor.flush(_SYNC_FLUSH)
    return compressor.flush(_SYNC_FLUSH)


def _last(history: bytes, data: bytes, window: int) -> bytes:
    """The last *window* bytes of *history* followed by *data*."""
    if len(data) >= window:
        return data[-window:]
    return (history + data)[-window:]
