"""The frame reader: bytes of an OPEN connection in, events out (RFC 6455 §5).

:class:`FrameReader` owns everything on the way in once the handshake is
over: the inbound buffer and the position in it, the frame being read, the
frame size limit, the extensions' inbound half (with bounded output: the
"drain"), and the :class:`~wsproto_lite._messages.MessageAssembler` that
enforces UTF-8 and the message size. It raises
:class:`~wsproto_lite.RemoteProtocolError` for anything the peer got wrong;
the connection turns that into a close frame and an event, and queues the
automatic replies (pong, close echo).

Headers are decoded by :func:`~wsproto_lite._frames.decode_header` (the one
decoder). Two fast paths recognize the ordinary shapes of frame and take them
without the general path's bookkeeping: the loop of :func:`iter_events` goes over
consecutive small whole text/binary frames, and :meth:`FrameReader._fast_frame`
takes a data frame whose payload is all in the buffer. Both decline anything
unusual and leave it to the general path, which reaches the same verdict; a
property test compares the events and bytes with them off (``fast=False``)
and on.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Sequence
from typing import Final

from . import _events, _mask
from ._close_codes import CloseCode
from ._deflate import Inflater
from ._errors import RemoteProtocolError
from ._events import Close, Event
from ._frames import FIN, MASK_BIT, Opcode, decode_header, parse_close_payload
from ._messages import MessageAssembler, invalid_utf8
from .extensions.base import ExtensionSession

__all__ = ["FrameReader", "iter_events"]

# Module-level names are Final where they can be: a compiled build then reads
# them as constants instead of looking each up in the module's globals at every
# use. The masking functions and the parser's event builders come from modules
# that stay interpreted; they are bound here once.
_apply_mask_slice: Final = _mask.apply_mask_slice
_apply_mask_join: Final = _mask.apply_mask_join
_unmask_payloads: Final = _mask.unmask_payloads
_received_text: Final = _events._received_text
_received_binary: Final = _events._received_binary
_received_ping: Final = _events._received_ping
_received_pong: Final = _events._received_pong
_unpack_Q: Final = struct.Struct("!Q").unpack_from

_OPCODE_BY_VALUE: Final = {int(op): op for op in Opcode}
#: Output bound per extension call when no message limit applies (streaming).
_EXT_CHUNK: Final = 1 << 16
#: Gathered pieces of at least this size are kept as views of the input chunk
#: rather than copied: a view costs ~150 ns and 184 bytes, a copy of 1 KiB as much.
_GATHER_VIEW_MIN: Final = 1024


class FrameReader:
    """Parses the frames of one connection, one event at a time.

    :param client: whether this end is the client (it then expects unmasked
        frames; a server expects masked ones, RFC 6455 §5.1).
    :param stream: deliver messages in parts instead of whole.
    :param max_message_size: see :attr:`Connection.max_message_size
        <wsproto_lite.Connection.max_message_size>`.
    :param max_frame_size: see :attr:`Connection.max_frame_size
        <wsproto_lite.Connection.max_frame_size>`.
    """

    def __init__(
        self,
        *,
        client: bool,
        stream: bool,
        max_message_size: int | None,
        max_frame_size: int | None,
    ) -> None:
        #: The bytes received and not yet parsed start at ``buf[pos]``.
        self.buf: bytes = b""
        self.pos = 0
        #: Whether the peer's end of stream was reached.
        self.eof = False
        #: The fast paths are on (a test switches them off to compare).
        self.fast = True
        self._stream = stream
        self._mask_expected = 0 if client else MASK_BIT
        self._sessions: Sequence[ExtensionSession] = ()
        # The compiled inflater of a lone permessage-deflate session, called
        # instead of the session's methods (see set_sessions).
        self._inflater: Inflater | None = None
        self._rsv_allowed = 0
        self._assembler = MessageAssembler(stream, max_message_size)
        self._max_frame_size = max_frame_size
        self._fast_limit = 0
        self._update_fast_limit()
        # The frame being read (after its header).
        self._frame_active = False
        self._opcode = 0
        self._fin = False
        self._remaining = 0
        self._mask_key: bytes | None = None
        self._mask_offset = 0
        # The pieces of a binary frame arriving in several reads (see _enter_frame).
        self._gather: list[bytes | memoryview] | None = None
        # The message being read.
        self._in_message = False
        self._transforming = False  # the message in progress goes through extensions
        self._draining = False  # an extension still holds output for the message
        self._draining_final = False

    # -- configuration -------------------------------------------------------------

    @property
    def max_message_size(self) -> int | None:
        """The message size limit (owned by the assembler)."""
        return self._assembler.max_size

    @max_message_size.setter
    def max_message_size(self, value: int | None) -> None:
        self._assembler.max_size = value
        self._update_fast_limit()

    @property
    def max_frame_size(self) -> int | None:
        """The largest frame payload accepted; ``None``: only the message limit."""
        return self._max_frame_size

    @max_frame_size.setter
    def max_frame_size(self, value: int | None) -> None:
        self._max_frame_size = value
        self._update_fast_limit()

    def _update_fast_limit(self) -> None:
        # The fast paths take frames no larger than every limit.
        limits = [x for x in (self._assembler.max_size, self._max_frame_size) if x is not None]
        self._fast_limit = min(limits) if limits else 1 << 63

    def set_sessions(self, sessions: Sequence[ExtensionSession]) -> None:
        """Use the inbound half of the negotiated extensions."""
        self._sessions = sessions
        self._rsv_allowed = 0
        for session in sessions:
            self._rsv_allowed |= session.rsv_mask
        # permessage-deflate alone (the usual case): its session's inbound
        # methods only delegate to an Inflater (wsproto_lite._deflate), which
        # it offers as _core_inflater unless a subclass overrides them.
        # Calling it directly saves an interpreted call per frame and message.
        inflater = getattr(sessions[0], "_core_inflater", None) if len(sessions) == 1 else None
        self._inflater = inflater if isinstance(inflater, Inflater) else None

    # -- input ---------------------------------------------------------------------

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Append *data* to the unparsed input (not empty: that is :attr:`eof`)."""
        buf = self.buf
        if self.pos >= len(buf):
            self.buf = data if type(data) is bytes else bytes(data)
        else:
            self.buf = buf[self.pos :] + data
        self.pos = 0

    def needs_data(self) -> bool:
        """Whether :meth:`next_event` can give nothing more until more data is
        fed: every byte was parsed, and no extension holds output."""
        return self.pos >= len(self.buf) and not self._draining

    def discard(self) -> None:
        """Forget the unparsed input: nothing after a close frame or a failure counts
        (RFC 6455 §5.5.1, §7.1.7)."""
        self.buf = b""
        self.pos = 0
        self._gather = None

    # -- output --------------------------------------------------------------------

    def next_event(self) -> Event | None:
        """Parse until one event is ready or the buffer runs dry.

        Data messages come out of the assembler; a ping, a pong or a close
        frame comes out as its event (:class:`~wsproto_lite.Close` carries
        the peer's code, 1005 when it gave none). The connection answers
        pings and closes. Raises :class:`~wsproto_lite.RemoteProtocolError`
        when the peer broke the protocol.
        """
        event = self._next()
        if event is None and self.pos >= len(self.buf):
            # Everything was parsed: drop the consumed chunk now rather than at
            # the next feed(), so an idle connection holds no big input buffer
            # after a big message.
            self.buf = b""
            self.pos = 0
        return event

    def _next(self) -> Event | None:
        while True:
            if not self._frame_active and not self._draining and self.fast:
                pos = self.pos
                event = self._fast_frame()
                if event is not None:
                    return event
                if self.pos != pos:
                    continue  # the frame was taken (or entered) without an event yet
            if self._draining:
                event = self._drain_extensions(b"", self._draining_final)
                if event is not None:
                    return event
                if self._draining:
                    continue
                if not self._frame_active:
                    continue
            if not self._frame_active:
                if not self._read_header():
                    return None
                if self._remaining == 0 and not (self._opcode & 0x8):
                    # An empty data frame: no payload to wait for.
                    event = self._data_payload(b"")
                    if event is not None:
                        return event
                    continue
            buf = self.buf
            pos = self.pos
            avail = len(buf) - pos
            if self._opcode & 0x8:
                n = self._remaining
                if avail < n:
                    return None
                self.pos = pos + n
                if self._mask_key is not None:
                    payload = _apply_mask_slice(buf, pos, pos + n, self._mask_key)
                else:
                    payload = buf[pos : pos + n]
                self._frame_active = False
                return self._control_frame(payload)
            if avail == 0:
                return None
            n = self._remaining if self._remaining <= avail else avail
            self.pos = pos + n
            self._remaining -= n
            key = self._mask_key
            gather = self._gather
            if gather is not None:
                # Keep the piece as it is (a view, unless it is small enough
                # to copy for nothing) and unmask them all into one bytes
                # object once the frame is complete: one copy of the payload
                # instead of one per piece and another to join them.
                if n >= _GATHER_VIEW_MIN:
                    gather.append(memoryview(buf)[pos : pos + n])
                else:
                    gather.append(buf[pos : pos + n])
                if self._remaining:
                    return None  # (n was all there is)
                self._gather = None
                chunk = b"".join(gather) if key is None else _apply_mask_join(gather, key)
            elif key is not None:
                offset = self._mask_offset
                if offset:
                    key = key[offset:] + key[:offset]
                chunk = _apply_mask_slice(buf, pos, pos + n, key)
                self._mask_offset = (offset + n) & 3
            else:
                chunk = buf[pos : pos + n]
            event = self._data_payload(chunk)
            if event is not None:
                return event

    # -- the fast path for one frame -------------------------------------------------

    def _fast_frame(self) -> Event | None:
        """The common cases in one step: a whole data frame is in the buffer and
        nothing else is in progress.

        With no extension negotiated, an unfragmented text or binary frame
        becomes its event directly, and a fragment (the start or a
        continuation of a message) goes straight to the assembler, which
        returns the event when the message is complete. With extensions, an
        unfragmented message goes to them as on the general path (see
        :meth:`_extension_message`). The fast path took the frame when
        ``pos`` moved: a fragment that ends no message, or a message whose
        decompressed output is still being drained, returns ``None`` as well.
        An ordinary frame that is not all here yet is entered as the current
        frame (its header needs no second look) for the general path to read.

        Nothing is taken when anything is unusual (a control frame, RSV bits no
        extension claims, a continuation out of place, a wrong mask bit, a
        non-minimal length, a size over a limit): the general path then parses
        the same bytes and applies every rule. So this function decides
        nothing on its own except "this frame is ordinary". (Invalid text in
        a fragment fails in the assembler exactly as on the general path,
        which would feed it the same whole payload.)
        """
        buf = self.buf
        pos = self.pos
        avail = len(buf) - pos
        if avail < 2:
            return None
        b0 = buf[pos]
        opcode = b0 & 0x0F
        if opcode > 2 or (opcode == 0) != self._in_message or b0 & 0x70 & ~self._rsv_allowed:
            return None
        sessions = self._sessions
        if sessions and not (opcode and b0 & FIN):
            return None  # with extensions, only unfragmented messages
        b1 = buf[pos + 1]
        if (b1 & 0x80) != self._mask_expected:
            return None
        n = b1 & 0x7F
        if n < 126:
            header = 2
        elif n == 126:
            if avail < 4:
                return None
            n = (buf[pos + 2] << 8) | buf[pos + 3]
            if n < 126:
                return None
            header = 4
        else:
            if avail < 10:
                return None
            n = _unpack_Q(buf, pos + 2)[0]
            if n < 0x10000 or n >> 63:
                return None
            header = 10
        if n > self._fast_limit:
            return None
        assembler = self._assembler
        if opcode == 0:
            room = assembler.room()
            if room is not None and n > room:
                return None
        start = pos + header + (4 if self._mask_expected else 0)
        if start > len(buf):
            return None  # the masking key is not complete
        end = start + n
        if end > len(buf):
            if not sessions:  # (the extensions see the header on the general path)
                self._enter_frame(opcode, bool(b0 & FIN), n, start, self._mask_expected)
            return None
        if self._mask_expected:
            payload = _apply_mask_slice(buf, start, end, buf[start - 4 : start])
        else:
            payload = buf[start:end]
        self.pos = end
        if sessions:
            return self._extension_message(opcode, b0 & 0x70, payload)
        if b0 == 0x82:
            return _received_binary(payload)
        if b0 == 0x81:
            try:
                return _received_text(payload.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise invalid_utf8(exc.reason) from None
        # A fragment: what _read_header and _data_payload do for it.
        if opcode:
            self._in_message = True
            assembler.start(opcode == 1)
        if b0 & FIN:
            self._in_message = False
        elif not self._stream:
            # The continuations that follow, whole, are taken with it: one
            # feed (so one UTF-8 decode) per run of fragments, not per fragment.
            payload, final = _continuations(self, payload)
            if final:
                self._in_message = False
            elif not payload:
                return None
            return assembler.feed(payload, final)
        elif not payload:
            return None  # an empty fragment adds nothing (and ends nothing)
        return assembler.feed(payload, not self._in_message)

    def _extension_message(self, opcode: int, rsv: int, payload: bytes) -> Event | None:
        """A whole unfragmented message with extensions negotiated: what
        _read_header, _data_payload and _drain_extensions do for it.

        (The frame and message limits were checked against the frame's length;
        a transformed message is checked again once decompressed.)
        """
        inflater = self._inflater
        if inflater is not None:
            transforms = inflater.frame(opcode, rsv, True)
        else:
            transforms = False
            kind = _OPCODE_BY_VALUE[opcode]
            for session in self._sessions:
                if session.inbound_frame(kind, rsv & session.rsv_mask, starts_message=True):
                    transforms = True
        self._transforming = transforms
        self._assembler.start(opcode == 1)
        if transforms:
            self._in_message = True
            return self._drain_extensions(payload, True)
        return self._assembler.feed(payload, True)

    # -- the general path -------------------------------------------------------------

    def _read_header(self) -> bool:
        """Read and check the next frame header; False if it is incomplete."""
        header = decode_header(
            self.buf,
            self.pos,
            rsv_allowed=self._rsv_allowed,
            masked=self._mask_expected,
            in_message=self._in_message,
        )
        if header is None:
            return False
        opcode, fin, rsv, length, start = header
        if self._sessions:
            inflater = self._inflater
            if inflater is not None:
                transforms = inflater.frame(opcode, rsv, opcode in (1, 2))
            else:
                transforms = False
                for session in self._sessions:
                    if session.inbound_frame(
                        _OPCODE_BY_VALUE[opcode],
                        rsv & session.rsv_mask,
                        starts_message=opcode in (1, 2),
                    ):
                        transforms = True
            if opcode in (1, 2):
                self._transforming = transforms
        if not opcode & 0x8:
            limit = self._max_frame_size
            if limit is not None and length > limit:
                raise RemoteProtocolError(
                    f"frame of {length} bytes exceeds the {limit}-byte limit",
                    code=CloseCode.MESSAGE_TOO_BIG,
                )
            if opcode != 0 and not self._sessions:
                self._transforming = False
            if not self._transforming:
                # (A transformed message is measured once decoded, in the drain.)
                self._assembler.check_announced(length, continues=opcode == 0)
        self._enter_frame(opcode, fin, length, start, self._mask_expected)
        return True

    def _enter_frame(self, opcode: int, fin: bool, length: int, start: int, masked: int) -> None:
        """Make the frame whose header was checked (by _read_header, or by
        _fast_frame for an ordinary frame not yet complete) the current one.

        Its payload starts at *start*, after the masking key if *masked*.
        """
        buf = self.buf
        self.pos = start
        self._opcode = opcode
        self._fin = fin
        self._remaining = length
        self._mask_key = buf[start - 4 : start] if masked else None
        self._mask_offset = 0
        self._frame_active = True
        if opcode & 0x8:
            return
        if opcode:
            self._in_message = True
            self._assembler.start(opcode == 1)
        if start + length > len(buf) and not (
            self._stream or self._transforming or self._assembler.is_text
        ):
            # Binary payload that is not all here yet is gathered as it arrives
            # (see next_event). Only for whole binary messages: text is
            # validated as it arrives, and streamed or transformed pieces go
            # on at once.
            self._gather = []

    def _data_payload(self, chunk: bytes) -> Event | None:
        """Route a piece of a data frame's payload to the message assembler."""
        frame_done = self._remaining == 0
        final = frame_done and self._fin
        if frame_done:
            self._frame_active = False
        if self._transforming:
            return self._drain_extensions(chunk, final)
        if not chunk and not final:
            return None
        if final:
            self._in_message = False
        return self._assembler.feed(chunk, final)

    def _drain_extensions(self, chunk: bytes, final: bool) -> Event | None:
        """Feed *chunk* through the extensions with a bounded output size.

        Asking for at most one byte more than the message may still have is
        what keeps a decompression bomb from costing more than the limit.
        """
        room = self._assembler.room()
        if room is None:
            max_length = _EXT_CHUNK
        else:
            max_length = room + 1
            if self._stream and max_length > _EXT_CHUNK:
                max_length = _EXT_CHUNK
        inflater = self._inflater
        if inflater is not None:
            data = inflater.inflate(chunk, final, max_length)
        else:
            data = chunk
            for session in reversed(self._sessions):
                data = session.inbound_data(data, final, max_length)
        more = len(data) >= max_length
        self._assembler.check_decoded(len(data))
        self._draining = more
        self._draining_final = final
        done = final and not more
        if done:
            self._in_message = False
        if not data and not done:
            return None
        return self._assembler.feed(data, done)

    def _control_frame(self, payload: bytes) -> Event:
        opcode = self._opcode
        if opcode == 0x9:
            return _received_ping(payload)
        if opcode == 0xA:
            return _received_pong(payload)
        code, reason = parse_close_payload(payload)
        return Close(code, reason)


def iter_events(reader: FrameReader, next_event: Callable[[], Event | None]) -> Iterator[Event]:
    """The connection's event iterator: the fast loop, and *next_event* (the
    connection's general step) for everything else.

    The fast path for consecutive small, ordinary messages: whole text or
    binary frames with a 7-bit length, the right mask bit, no RSV bits and
    valid text, taken in a loop over the buffer without a call per frame
    (written out here rather than in a generator of its own, which would
    cost one per event). It stops at the first frame that is anything
    else, even invalid text, and leaves it to the general path (which
    reaches the same verdict or reports the error); and after a yield that
    let the application touch the parser (it called ``receive_data()`` or
    ``next_event()``: ``buf`` or ``pos`` moved).
    """
    while True:
        if (
            reader.fast
            and not reader._sessions
            and not reader._frame_active
            and not reader._in_message
        ):
            buf = reader.buf
            pos = reader.pos
            size = len(buf)
            masked = reader._mask_expected
            header = 6 if masked else 2
            while size - pos >= 2:
                b0 = buf[pos]
                if b0 != 0x81 and b0 != 0x82:  # FIN + TEXT or BINARY, no RSV bits
                    break
                b1 = buf[pos + 1]
                n = b1 & 0x7F
                if (b1 & 0x80) != masked or n > 125 or n > reader._fast_limit:
                    break
                start = pos + header
                end = start + n
                if end > size:
                    break
                if masked:
                    payload = _apply_mask_slice(buf, start, end, buf[start - 4 : start])
                else:
                    payload = buf[start:end]
                if b0 == 0x82:
                    message: Event = _received_binary(payload)
                else:
                    try:
                        message = _received_text(payload.decode("utf-8"))
                    except UnicodeDecodeError:
                        break
                reader.pos = pos = end
                yield message
                if reader.buf is not buf or reader.pos != end:
                    break
        event = next_event()
        if event is None:
            return
        yield event


def _continuations(reader: FrameReader, first: bytes) -> tuple[bytes, bool]:
    """After a non-final fragment (*first*, not yet fed to the assembler): take the
    continuations of the same message that follow it whole in the buffer, up to
    and including a final one; return the payloads joined, and whether the
    message ended. One feed, so one UTF-8 decode, per run instead of per fragment.

    Each is checked as ``_fast_frame`` checks a frame (an ordinary continuation:
    no RSV bits, the right mask bit, a minimal 7- or 16-bit length within the
    frame limit and the room the message has left); the run stops before
    anything else, which the next step reads as usual. Invalid UTF-8 anywhere in
    the run fails it with the same error, before anything after the run is read
    (RFC 6455 §8.1: fail fast). Not used when streaming (parts are events then).
    """
    buf = reader.buf
    pos = reader.pos
    size = len(buf)
    masked = reader._mask_expected
    key_size = 4 if masked else 0
    limit = reader._fast_limit
    room = reader._assembler.room()
    total = len(first)
    # Masked: where each payload lies (unmasked into one result at the end);
    # unmasked: the payloads.
    bounds: list[int] = []
    pieces: list[bytes] = []
    final = False
    while size - pos >= 2:
        b0 = buf[pos]
        b1 = buf[pos + 1]
        if (b0 != 0x00 and b0 != 0x80) or (b1 & 0x80) != masked:
            break  # not a continuation without RSV bits, or the wrong mask bit
        n = b1 & 0x7F
        if n < 126:
            start = pos + 2 + key_size
        elif n == 126 and size - pos >= 4:
            n = (buf[pos + 2] << 8) | buf[pos + 3]
            if n < 126:
                break
            start = pos + 4 + key_size
        else:
            break  # (a 64-bit length, or a 16-bit one not all here yet)
        end = start + n
        if n > limit or (room is not None and total + n > room) or end > size:
            break
        if masked:
            bounds.append(start)
            bounds.append(end)
        else:
            pieces.append(buf[start:end])
        total += n
        pos = end
        if b0 == 0x80:
            final = True
            break
    if pos == reader.pos:
        return first, False
    reader.pos = pos
    if masked:
        return _unmask_payloads(first, buf, bounds), final
    pieces.insert(0, first)
    return b"".join(pieces), final
