"""The permessage-deflate extension (RFC 7692).

:class:`PerMessageDeflate` is the configuration (shared by every connection,
either role); a successful negotiation gives each connection a
:class:`PerMessageDeflateSession` holding one compressor (for what this end
sends) and one decompressor (for what it receives).

Payload transformation
    A compressed message is one raw DEFLATE stream (``zlib`` with negative
    ``wbits``), flushed with ``Z_SYNC_FLUSH`` so that it ends with an empty
    stored block, whose last four bytes ``00 00 ff ff`` are removed before
    sending (RFC 7692 §7.2.1) and appended again before the receiver's final
    flush (§7.2.2). Only the first frame of a compressed message has RSV1 set
    (§6). Each non-final piece the application sends is flushed too, so that
    it leaves at once (a few bytes per piece; §7.2.3.5 shows such a message).
    An empty final piece becomes the single byte ``00`` (§7.2.3.6).

Decompression bombs
    :meth:`PerMessageDeflateSession.inbound_data` never returns more than the
    ``max_length`` the core asks for: input that would expand further stays in
    zlib's ``unconsumed_tail`` until the core asks again, so a 100 KB frame of
    compressed zeros costs at most ``max_length`` bytes of output at a time.

A window of 8 bits (256 bytes)
    zlib cannot *compress* raw DEFLATE with an 8-bit window: ``compressobj(wbits=-8)``
    raises (zlib ≥ 1.2.9; older versions silently used 9). When the peer's
    decompressor is limited to 8 bits (``server_max_window_bits=8`` granted to
    us as a server, ``client_max_window_bits=8`` imposed on us as a client), we
    compress with a 9-bit window. That is correct, not merely tolerated: zlib's
    deflate never emits a distance beyond ``w_size - MIN_LOOKAHEAD`` (its
    ``MAX_DIST``: 512 − 262 = 250 bytes for a 9-bit window), which fits a
    256-byte window. Because that is a property of zlib's implementation rather
    than of its API, the first session that needs it checks it once per
    compression level and memory level (``_window_9_fits_8``: compress
    data that tempts matches 257–500 bytes back, decode it through a 256-byte
    window with a tiny output buffer). If the linked zlib fails the check, that
    session sends every message uncompressed, which RFC 7692 always allows
    (§6: RSV1 is set per message). *Decompressing* with an 8-bit window works
    in zlib, so an 8-bit window for what we receive is used as negotiated.

Memory per connection (zlib's own figures)
    The compressor holds about ``(1 << (wbits + 2)) + (1 << (mem_level + 9))``
    bytes of buffers (256 KiB with the defaults, ``wbits=15`` and ``mem_level=8``;
    3 KiB with ``wbits=9, mem_level=1``) plus about 6 KiB of zlib's own state.
    The decompressor holds ``1 << wbits`` bytes of window plus about 7 KiB:
    about 39 KiB at ``wbits=15``. Both are created
    on first use. With context takeover (the default) they live as long as the
    connection; with ``*_no_context_takeover`` they are dropped after each
    message, so an idle connection holds neither (at the price of setting up a
    compressor for every message, and of compressing each message alone).
    ``release_contexts`` drops them after each message too, but keeps context
    takeover: it keeps the last ``1 << wbits`` bytes of plain text each way
    and primes the next context with them (zlib's preset dictionary,
    ``zdict``), which gives that context the same history as the one it
    replaces. A connection between messages then holds those two windows
    only.

Messages that end with a ``BFINAL`` block (§7.2.3.4)
    Some peers end each message's DEFLATE stream. Whatever follows the final
    block in the same message (normally an empty stored block) is decoded by a
    fresh decompressor, and the decompressor is replaced after such a message,
    so the next message starts a new stream (zlib cannot carry the window of a
    finished stream over to the next one).
"""

from __future__ import annotations

import functools
import hashlib
import re
import zlib
from dataclasses import dataclass

from .._deflate import Deflater, Inflater
from .._errors import LocalProtocolError, RemoteProtocolError
from .._frames import RSV1, Opcode
from .base import Extension, ExtensionSession, Params

__all__ = ["PerMessageDeflate", "PerMessageDeflateSession"]

_SERVER_NO_CONTEXT_TAKEOVER = "server_no_context_takeover"
_CLIENT_NO_CONTEXT_TAKEOVER = "client_no_context_takeover"
_SERVER_MAX_WINDOW_BITS = "server_max_window_bits"
_CLIENT_MAX_WINDOW_BITS = "client_max_window_bits"
_KNOWN = frozenset(
    (
        _SERVER_NO_CONTEXT_TAKEOVER,
        _CLIENT_NO_CONTEXT_TAKEOVER,
        _SERVER_MAX_WINDOW_BITS,
        _CLIENT_MAX_WINDOW_BITS,
    )
)
#: RFC 7692 §7.1.2: "a decimal integer value without leading zeroes between 8
#: to 15, inclusive". ASCII digits only.
_WINDOW_BITS_RE = re.compile(r"8|9|1[0-5]")


class _InvalidParams(ValueError):
    """An offer or response that RFC 7692 §7 says to decline or to fail on."""


@dataclass(frozen=True)
class _Parsed:
    """The four parameters of one offer or response, checked (RFC 7692 §7.1)."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = None
    #: Whether ``client_max_window_bits`` appeared at all (bare is allowed in offers).
    has_client_max_window_bits: bool = False
    client_max_window_bits: int | None = None


def _parse(params: Params, *, response: bool) -> _Parsed:
    """Check *params* against RFC 7692 §7 and return them; raise :class:`_InvalidParams`.

    Unknown or repeated parameters and invalid values are refused (§7: a
    server declines such an offer, a client fails on such a response).
    Parameter names are compared case-insensitively (RFC 9110 §5.6.6).
    """
    seen: dict[str, str | None] = {}
    for raw_name, value in params:
        name = raw_name.lower()
        if name not in _KNOWN:
            raise _InvalidParams(f"unknown parameter {raw_name!r}")
        if name in seen:
            raise _InvalidParams(f"parameter {raw_name!r} appears twice")
        seen[name] = value
    for name in (_SERVER_NO_CONTEXT_TAKEOVER, _CLIENT_NO_CONTEXT_TAKEOVER):
        # §7.1.1.1 / §7.1.1.2: "This extension parameter has no value."
        if seen.get(name) is not None:
            raise _InvalidParams(f"{name} takes no value")
    server_bits = None
    if _SERVER_MAX_WINDOW_BITS in seen:
        # §7.1.2.1: a value is required in the offer and in the response.
        server_bits = _window_bits(_SERVER_MAX_WINDOW_BITS, seen[_SERVER_MAX_WINDOW_BITS])
    client_bits = None
    if _CLIENT_MAX_WINDOW_BITS in seen:
        value = seen[_CLIENT_MAX_WINDOW_BITS]
        # §7.1.2.2: the value is optional in an offer, required in a response.
        if value is not None or response:
            client_bits = _window_bits(_CLIENT_MAX_WINDOW_BITS, value)
    return _Parsed(
        server_no_context_takeover=_SERVER_NO_CONTEXT_TAKEOVER in seen,
        client_no_context_takeover=_CLIENT_NO_CONTEXT_TAKEOVER in seen,
        server_max_window_bits=server_bits,
        has_client_max_window_bits=_CLIENT_MAX_WINDOW_BITS in seen,
        client_max_window_bits=client_bits,
    )


def _window_bits(name: str, value: str | None) -> int:
    if value is None or not _WINDOW_BITS_RE.fullmatch(value):
        raise _InvalidParams(f"{name} needs a value from 8 to 15, got {value!r}")
    return int(value)


def _check_window_bits(name: str, value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 8 <= value <= 15:
        raise LocalProtocolError(f"{name} must be None or an integer from 8 to 15, not {value!r}")


@functools.cache
def _window_9_fits_8(level: int, mem_level: int) -> bool:
    """Whether zlib's 9-bit raw deflate output decodes through a 256-byte window.

    Compresses (with a shared window across sync flushes, as context takeover
    does) blocks of pseudo-random bytes repeated at periods of 257–500 bytes,
    which a compressor would love to match, and decodes them with
    ``wbits=-8`` and an output bound of 64 bytes, so that every back-reference
    must come from inflate's 256-byte window (zlib's inflate also accepts a
    reference into output produced by the same call). See the module docstring.
    """
    compressor = zlib.compressobj(level, zlib.DEFLATED, -9, mem_level)
    plain = []
    compressed = []
    for period in (257, 263, 300, 384, 500):
        block = hashlib.shake_128(b"wsproto_lite %d" % period).digest(period) * 4
        plain.append(block)
        compressed.append(compressor.compress(block) + compressor.flush(zlib.Z_SYNC_FLUSH))
    decompressor = zlib.decompressobj(-8)
    data = b"".join(compressed)
    out = []
    try:
        while True:
            chunk = decompressor.decompress(data, 64)
            out.append(chunk)
            data = decompressor.unconsumed_tail
            if not data and len(chunk) < 64:
                break
    except zlib.error:
        return False
    return b"".join(out) == b"".join(plain)


class PerMessageDeflateSession(ExtensionSession):
    """The negotiated permessage-deflate state of one connection.

    Built by :meth:`PerMessageDeflate.accept` or :meth:`PerMessageDeflate.finalize`
    from the agreed parameters, seen from this end: *outbound* is what we
    compress (the server's parameters on a server, the client's on a client),
    *inbound* what we decompress.

    :param outbound_max_window_bits: the window the peer can decompress (8–15).
    :param outbound_no_context_takeover: start every sent message afresh.
    :param inbound_max_window_bits: the window the peer compresses with (8–15).
    :param inbound_no_context_takeover: the peer starts every message afresh.
    :param compress_level: zlib level, -1 to 9.
    :param mem_level: zlib memory level, 1 to 9.
    :param min_size: whole messages shorter than this are sent uncompressed.
    :param release_contexts: drop zlib's contexts after each message, keeping
        only the last window of plain text to prime the next ones (see
        :class:`PerMessageDeflate`).
    """

    rsv_mask = RSV1
    #: Any message may go uncompressed (RFC 7692 §6): ``outbound_message()``
    #: returns 0 whenever it is asked not to compress.
    optional_transform = True

    def __init__(
        self,
        *,
        outbound_max_window_bits: int = 15,
        outbound_no_context_takeover: bool = False,
        inbound_max_window_bits: int = 15,
        inbound_no_context_takeover: bool = False,
        compress_level: int = 6,
        mem_level: int = 8,
        min_size: int = 0,
        release_contexts: bool = False,
    ) -> None:
        #: The agreed window for what we send, in bits.
        self.outbound_max_window_bits = outbound_max_window_bits
        #: Whether every message we send starts with an empty window.
        self.outbound_no_context_takeover = outbound_no_context_takeover
        #: The agreed window for what we receive, in bits.
        self.inbound_max_window_bits = inbound_max_window_bits
        #: Whether every message we receive starts with an empty window.
        self.inbound_no_context_takeover = inbound_no_context_takeover
        # The per-message work, compiled with the core (wsproto_lite._deflate).
        self._inflater = Inflater(
            inbound_max_window_bits, inbound_no_context_takeover, release_contexts
        )
        self._deflater = Deflater(
            compress_level,
            # zlib cannot compress raw DEFLATE with an 8-bit window; 9 fits
            # (module docstring), if the linked zlib passes the check.
            max(outbound_max_window_bits, 9),
            mem_level,
            outbound_no_context_takeover,
            min_size,
            outbound_max_window_bits > 8 or _window_9_fits_8(compress_level, mem_level),
            release_contexts,
        )
        # What the frame reader and writer call instead of this session's
        # methods (saving an interpreted call per frame and message) when they
        # are this class's own, not a subclass's.
        cls = type(self)
        own = PerMessageDeflateSession
        self._core_inflater: Inflater | None = (
            self._inflater
            if cls.inbound_frame is own.inbound_frame and cls.inbound_data is own.inbound_data
            else None
        )
        self._core_deflater: Deflater | None = (
            self._deflater
            if cls.outbound_message is own.outbound_message
            and cls.outbound_data is own.outbound_data
            else None
        )

    def __repr__(self) -> str:
        return (
            f"<PerMessageDeflateSession outbound: {self.outbound_max_window_bits} bits"
            f"{', no context takeover' if self.outbound_no_context_takeover else ''};"
            f" inbound: {self.inbound_max_window_bits} bits"
            f"{', no context takeover' if self.inbound_no_context_takeover else ''}>"
        )

    # -- receiving --------------------------------------------------------------

    def inbound_frame(self, opcode: Opcode, rsv: int, *, starts_message: bool) -> bool:
        """Check RSV1 ("Per-Message Compressed", RFC 7692 §6) on a received frame.

        Returns ``True`` for the first frame of a compressed data message.
        RSV1 on a control frame or on a continuation frame fails the
        connection with 1002 (§6.1: "An endpoint MUST NOT set the 'Per-Message
        Compressed' bit of control frames and non-first fragments").
        """
        return self._inflater.frame(opcode, rsv, starts_message)

    def inbound_data(self, data: bytes, final: bool, max_length: int) -> bytes:
        """Decompress the next piece of a compressed message, at most *max_length* bytes.

        Input that would produce more stays pending until the core calls again
        (with ``data=b""``). Once *final* and all input is consumed, the
        ``00 00 ff ff`` tail is appended, exactly once (RFC 7692 §7.2.2). A
        result shorter than *max_length* with *final* set ends the message;
        without context takeover, or with ``release_contexts``, the
        decompressor is then dropped. Invalid DEFLATE data fails the
        connection with 1007 (RFC 6455 §7.4.1: data "not consistent with the
        type of the message"; RFC 7692 names no code).
        """
        return self._inflater.inflate(data, final, max_length)

    # -- sending ----------------------------------------------------------------

    def outbound_message(self, opcode: Opcode, size_hint: int | None, transform: bool) -> int:
        """Decide whether to compress the message about to be sent; RSV1 if so.

        Not compressed: control frames (never compressed, §6.1), messages sent
        with ``compress=False``, whole messages shorter than ``min_size``, and
        everything when the 8-bit window check failed (module docstring).
        """
        return self._deflater.message(opcode, size_hint, transform)

    def outbound_data(self, data: bytes, final: bool) -> bytes:
        """Compress the next piece of a message that :meth:`outbound_message` accepted.

        Every piece is sync-flushed; the final one loses the ``00 00 ff ff``
        tail (RFC 7692 §7.2.1). Without context takeover (§7.1.1), or with
        ``release_contexts``, the compressor is dropped after the message.
        """
        return self._deflater.deflate(data, final)


class PerMessageDeflate(Extension):
    """permessage-deflate (RFC 7692 §7), for a client or a server.

    :param server_no_context_takeover: the server starts every message with an
        empty window (§7.1.1.1). Less memory between messages, less compression.
    :param client_no_context_takeover: the same for the client (§7.1.1.2).
    :param server_max_window_bits: the largest window (8–15 bits) the server
        compresses with (§7.1.2.1); ``None`` for no limit (15).
    :param client_max_window_bits: the same for the client (§7.1.2.2).
    :param compress_level: zlib compression level, -1 (zlib's default, 6) to 9.
    :param mem_level: zlib memory level, 1 to 9 (compressor memory, see the
        module docstring).
    :param min_size: whole messages shorter than this many bytes are sent
        uncompressed. The default, 32, skips messages where DEFLATE's framing
        (a few bytes) eats any gain and the zlib call is pure cost; 0 compresses
        everything. Messages sent in fragments are always compressed (their
        size is unknown up front).
    :param release_contexts: drop zlib's compressor and decompressor after each
        message and keep only the last window of plain text each way (at most
        ``2 ** bits`` bytes: 4 KiB each at 12 bits); the next message builds
        its context again, primed with that text as zlib's preset dictionary.
        The bytes on the wire keep context takeover and the same compression
        (the history a new context starts from is exactly the peer's window),
        while a connection between two messages holds at most two windows
        instead of zlib's contexts (about 45 KiB at 12 bits and ``mem_level``
        5, 300 KiB with zlib's defaults). The price is CPU: setting the
        context up again costs about 4 µs per message sent and 0.6 µs per
        message received at 12 bits (``benchmarks/deflate_memory.py``). Off
        by default; the adapters' servers turn it on (``compression=True``),
        since many connections there spend most of their time between
        messages.

    As a **client**, the parameters become one offer (§7.1): each ``True``
    flag is sent bare, each window size with its value, and
    ``client_max_window_bits`` is sent bare when not set, telling the server
    it may pick our window (§7.1.2.2). :meth:`finalize` then checks the answer:

    ==============================  ============================================
    in the response                 accepted when
    ==============================  ============================================
    ``server_no_context_takeover``  bare; **required** if we offered it (§7.1.1.1)
    ``client_no_context_takeover``  bare (§7.1.1.2)
    ``server_max_window_bits=B``    8 ≤ B ≤ 15; B ≤ ours and **required** if we
                                    set ``server_max_window_bits`` (§7.1.2.1)
    ``client_max_window_bits=B``    8 ≤ B ≤ 15 with a value; B ≤ ours if we set
                                    ``client_max_window_bits`` (§7.1.2.2)
    anything else                   never: unknown, repeated, or badly valued
                                    parameters raise ``RemoteProtocolError`` (§7)
    ==============================  ============================================

    As a **server**, :meth:`accept` takes the first of the client's offers that
    is valid (unknown, repeated or badly valued parameters decline that offer,
    §7) and answers it as follows, ``M`` being the offer's value and ``N`` ours:

    ==============================  ===============  ===========  ================================
    parameter                       in the offer     our setting  in the response
    ==============================  ===============  ===========  ================================
    ``server_no_context_takeover``  present          any          present (MUST, §7.1.1.1)
    ..                              absent           ``True``     present (MAY, §7.1.1.1)
    ..                              absent           ``False``    absent
    ``client_no_context_takeover``  present          any          present (echoes the hint)
    ..                              absent           ``True``     present (MAY, §7.1.1.2)
    ..                              absent           ``False``    absent
    ``server_max_window_bits``      ``=M``           ``None``     ``=M`` (§7.1.2.1)
    ..                              ``=M``           ``N``        ``=min(M, N)``
    ..                              absent           ``N``        ``=N`` (MAY, §7.1.2.1)
    ..                              absent           ``None``     absent (15 bits)
    ``client_max_window_bits``      bare             ``None``     absent (15 bits)
    ..                              bare             ``N``        ``=N`` (§7.1.2.2)
    ..                              ``=M``           ``None``     ``=M``
    ..                              ``=M``           ``N``        ``=min(M, N)``
    ..                              absent           any          absent: MUST NOT (§7.1.2.2);
                                                                  the client may use 15 bits
    ==============================  ===============  ===========  ================================

    Every valid offer is accepted: a server can always honour a smaller window
    (an 8-bit window for what we send is handled as the module docstring says).
    Our ``client_max_window_bits`` is a preference, not a requirement: a client
    that does not offer the parameter is still accepted, and decompressed with
    a 15-bit window.
    """

    name = "permessage-deflate"

    def __init__(
        self,
        *,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        client_max_window_bits: int | None = None,
        compress_level: int = 6,
        mem_level: int = 8,
        min_size: int = 32,
        release_contexts: bool = False,
    ) -> None:
        for flag, value in (
            ("server_no_context_takeover", server_no_context_takeover),
            ("client_no_context_takeover", client_no_context_takeover),
            ("release_contexts", release_contexts),
        ):
            if not isinstance(value, bool):
                raise LocalProtocolError(f"{flag} must be True or False, not {value!r}")
        _check_window_bits("server_max_window_bits", server_max_window_bits)
        _check_window_bits("client_max_window_bits", client_max_window_bits)
        if isinstance(compress_level, bool) or not isinstance(compress_level, int):
            raise LocalProtocolError(f"compress_level must be an integer, not {compress_level!r}")
        if not -1 <= compress_level <= 9:
            raise LocalProtocolError(f"compress_level must be from -1 to 9, not {compress_level}")
        if isinstance(mem_level, bool) or not isinstance(mem_level, int) or not 1 <= mem_level <= 9:
            raise LocalProtocolError(f"mem_level must be an integer from 1 to 9, not {mem_level!r}")
        if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 0:
            raise LocalProtocolError(f"min_size must be an integer ≥ 0, not {min_size!r}")
        #: Whether the server starts every message with an empty window (§7.1.1.1).
        self.server_no_context_takeover = server_no_context_takeover
        #: Whether the client starts every message with an empty window (§7.1.1.2).
        self.client_no_context_takeover = client_no_context_takeover
        #: The server's largest window in bits, ``None`` for 15 (§7.1.2.1).
        self.server_max_window_bits = server_max_window_bits
        #: The client's largest window in bits, ``None`` for 15 (§7.1.2.2).
        self.client_max_window_bits = client_max_window_bits
        #: zlib compression level.
        self.compress_level = compress_level
        #: zlib memory level.
        self.mem_level = mem_level
        #: Whole messages shorter than this are sent uncompressed.
        self.min_size = min_size
        #: Whether zlib's contexts are dropped between messages (the window is kept).
        self.release_contexts = release_contexts

    def __repr__(self) -> str:
        return (
            "PerMessageDeflate("
            f"server_no_context_takeover={self.server_no_context_takeover}, "
            f"client_no_context_takeover={self.client_no_context_takeover}, "
            f"server_max_window_bits={self.server_max_window_bits}, "
            f"client_max_window_bits={self.client_max_window_bits}, "
            f"compress_level={self.compress_level}, mem_level={self.mem_level}, "
            f"min_size={self.min_size}, release_contexts={self.release_contexts})"
        )

    def _session(
        self, *, outbound: tuple[int | None, bool], inbound: tuple[int | None, bool]
    ) -> PerMessageDeflateSession:
        return PerMessageDeflateSession(
            outbound_max_window_bits=outbound[0] or 15,
            outbound_no_context_takeover=outbound[1],
            inbound_max_window_bits=inbound[0] or 15,
            inbound_no_context_takeover=inbound[1],
            compress_level=self.compress_level,
            mem_level=self.mem_level,
            min_size=self.min_size,
            release_contexts=self.release_contexts,
        )

    # -- client -------------------------------------------------------------------

    def offer(self) -> list[Params]:
        """Client side: one offer built from the parameters (RFC 7692 §7.1)."""
        params: Params = []
        if self.server_no_context_takeover:
            params.append((_SERVER_NO_CONTEXT_TAKEOVER, None))
        if self.client_no_context_takeover:
            params.append((_CLIENT_NO_CONTEXT_TAKEOVER, None))
        if self.server_max_window_bits is not None:
            params.append((_SERVER_MAX_WINDOW_BITS, str(self.server_max_window_bits)))
        # §7.1.2.2: bare means "any window the server picks is fine with us".
        bits = self.client_max_window_bits
        params.append((_CLIENT_MAX_WINDOW_BITS, None if bits is None else str(bits)))
        return [params]

    def finalize(self, params: Params) -> PerMessageDeflateSession:
        """Client side: check the server's answer (table in the class docstring).

        Raises :class:`~wsproto_lite.RemoteProtocolError` when the answer
        is invalid or does not honour the offer (RFC 7692 §7).
        """
        try:
            got = _parse(params, response=True)
        except _InvalidParams as exc:
            raise RemoteProtocolError(f"invalid permessage-deflate response: {exc}") from None
        if self.server_no_context_takeover and not got.server_no_context_takeover:
            # §7.1.1.1: a server accepting the parameter MUST include it.
            raise RemoteProtocolError(
                "the server accepted permessage-deflate without server_no_context_takeover"
            )
        server_bits = got.server_max_window_bits
        if self.server_max_window_bits is not None and (
            server_bits is None or server_bits > self.server_max_window_bits
        ):
            # §7.1.2.1: the server accepts by answering "the same or smaller value".
            raise RemoteProtocolError(
                f"the server answered server_max_window_bits={server_bits} to an offer"
                f" of {self.server_max_window_bits}"
            )
        client_bits = got.client_max_window_bits
        if client_bits is not None and self.client_max_window_bits is not None:
            if client_bits > self.client_max_window_bits:
                # §7.1.2.2: "a value equal to or smaller than the received value".
                raise RemoteProtocolError(
                    f"the server answered client_max_window_bits={client_bits} to an offer"
                    f" of {self.client_max_window_bits}"
                )
        elif client_bits is None:
            client_bits = self.client_max_window_bits
        return self._session(
            # §7.1.1.2: offering client_no_context_takeover is a promise to keep.
            outbound=(
                client_bits,
                got.client_no_context_takeover or self.client_no_context_takeover,
            ),
            inbound=(server_bits, got.server_no_context_takeover),
        )

    # -- server -------------------------------------------------------------------

    def accept(self, offers: list[Params]) -> tuple[Params, PerMessageDeflateSession] | None:
        """Server side: answer the first valid offer (table in the class docstring).

        Invalid offers are skipped, not errors (RFC 7692 §7); ``None`` when
        none is valid.
        """
        for params in offers:
            try:
                offer = _parse(params, response=False)
            except _InvalidParams:
                continue
            return self._answer(offer)
        return None

    def _answer(self, offer: _Parsed) -> tuple[Params, PerMessageDeflateSession]:
        server_nct = offer.server_no_context_takeover or self.server_no_context_takeover
        client_nct = offer.client_no_context_takeover or self.client_no_context_takeover
        server_bits = _smallest(offer.server_max_window_bits, self.server_max_window_bits)
        client_bits = None
        if offer.has_client_max_window_bits:
            client_bits = _smallest(offer.client_max_window_bits, self.client_max_window_bits)
        response: Params = []
        if server_nct:
            response.append((_SERVER_NO_CONTEXT_TAKEOVER, None))
        if client_nct:
            response.append((_CLIENT_NO_CONTEXT_TAKEOVER, None))
        if server_bits is not None:
            response.append((_SERVER_MAX_WINDOW_BITS, str(server_bits)))
        if client_bits is not None:
            response.append((_CLIENT_MAX_WINDOW_BITS, str(client_bits)))
        session = self._session(
            outbound=(server_bits, server_nct), inbound=(client_bits, client_nct)
        )
        return response, session


def _smallest(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
