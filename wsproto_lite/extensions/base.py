"""The extension interface (RFC 6455 §9).

An extension has two halves:

* :class:`Extension` is the *configuration*: a shareable, stateless object the
  application passes to :class:`~wsproto_lite.Connection` (one instance may serve
  every connection of a server). It takes part in the opening handshake: the
  client side makes offers and checks the server's answer, the server side picks
  an offer. A successful negotiation returns:
* an :class:`ExtensionSession`, the per-connection state that transforms frames
  (a compressor and a decompressor for permessage-deflate).

Parameters travel as :data:`Params`: a list of ``(name, value)`` pairs in the
order they appeared, ``value`` being ``None`` for a bare parameter. Duplicates
are kept so that an extension can refuse them (RFC 7692 §7 requires it).

The core owns framing. It refuses RSV bits that no negotiated session claims
(``rsv_mask``), asks the session about every frame that sets one of its bits,
and routes the payload of messages the session transforms through
:meth:`ExtensionSession.inbound_data` / :meth:`ExtensionSession.outbound_data`.
A session signals a peer violation by raising
:class:`~wsproto_lite.RemoteProtocolError` with the close code to use
(1002 for a framing violation, 1007 for undecodable data, 1009 for too much).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from .._frames import Opcode

__all__ = ["Extension", "ExtensionSession", "Params"]

#: Extension parameters: ``(name, value)`` pairs, ``value`` ``None`` when bare.
Params = list[tuple[str, str | None]]


class ExtensionSession(ABC):
    """The negotiated, per-connection state of one extension."""

    #: The RSV bits this session may set, as in the frame's first byte
    #: (``0x40`` for RSV1, ``0x20`` for RSV2, ``0x10`` for RSV3).
    rsv_mask: int = 0

    #: ``True`` declares that :meth:`outbound_message` returns ``0`` whenever
    #: its *transform* argument is ``False``: a message may always go
    #: untransformed (as RFC 7692 §6 allows for permessage-deflate). A shared
    #: frame (:class:`~wsproto_lite.PreparedMessage`) is then sent without
    #: asking the session about each message. ``False`` (the default): the
    #: session is asked every time, and may refuse the shared frame.
    optional_transform: bool = False

    @abstractmethod
    def inbound_frame(self, opcode: Opcode, rsv: int, *, starts_message: bool) -> bool:
        """Check the RSV bits of a received frame and say whether to transform it.

        Called for every received frame once at least one negotiated session is
        active. *rsv* holds only this session's bits. For a frame that starts a
        data message (*starts_message*), return ``True`` when the whole message
        goes through :meth:`inbound_data`. The return value is ignored for
        control and continuation frames. Raise
        :class:`~wsproto_lite.RemoteProtocolError` (code 1002) when the
        bits are not allowed on this frame.
        """

    @abstractmethod
    def inbound_data(self, data: bytes, final: bool, max_length: int) -> bytes:
        """Transform received payload of a message this session transforms.

        *data* is the next piece of the message's payload (unmasked; may be
        empty), *final* is true when no payload follows in this message. Return
        at most *max_length* bytes. When the result is exactly *max_length*
        bytes long, more output may be pending: the core calls again with
        ``data=b""`` and the same *final* until a call returns fewer bytes. This
        is what keeps a decompression bomb from ever holding more than
        *max_length* bytes of memory.
        """

    @abstractmethod
    def outbound_message(self, opcode: Opcode, size_hint: int | None, transform: bool) -> int:
        """Start sending a data message and return the RSV bits of its first frame.

        *size_hint* is the message's payload length when it is sent whole,
        ``None`` when it is sent in fragments. *transform* is ``False`` when the
        application asked not to transform this message (``send(...,
        compress=False)``). Return ``0`` to send the message untransformed, in
        which case :meth:`outbound_data` is not called for it.
        """

    @abstractmethod
    def outbound_data(self, data: bytes, final: bool) -> bytes:
        """Transform the next piece of an outgoing message's payload."""


class Extension(ABC):
    """The configuration of an extension, used during the opening handshake."""

    #: The extension's token in ``Sec-WebSocket-Extensions``.
    name: str = ""

    @abstractmethod
    def offer(self) -> list[Params]:
        """Client side: the offers to send, most preferred first.

        Each offer becomes one element ``name; p1; p2=v`` of the request's
        ``Sec-WebSocket-Extensions`` header.
        """

    @abstractmethod
    def accept(self, offers: list[Params]) -> tuple[Params, ExtensionSession] | None:
        """Server side: choose among the client's offers of this extension.

        *offers* are the parameter lists of every element of the request that
        names this extension, in the client's order. Return the parameters of
        the response and the session for this connection, or ``None`` to decline.
        Invalid offers are declined (not an error): RFC 7692 §5.
        """

    @abstractmethod
    def finalize(self, params: Params) -> ExtensionSession:
        """Client side: the server accepted with *params*; return the session.

        Raise :class:`~wsproto_lite.RemoteProtocolError` when the answer
        is invalid or grants what was not offered; the client then fails the
        connection (RFC 6455 §4.1, RFC 7692 §5).
        """
