"""A data message framed once, to be sent on many server connections.

A server's frames are not masked (RFC 6455 §5.1), so without an extension the
bytes of a whole message do not depend on the connection that carries them:
a broadcast can encode the text and build the frame once, then hand the same
``bytes`` object to every connection with
:meth:`Connection.send_prepared <wsproto_lite.Connection.send_prepared>`.

Extensions: the prepared frame has its RSV bits clear, so it is sent
untransformed. For permessage-deflate that is always allowed: a message is
compressed only when its first frame sets RSV1 (RFC 7692 §6), an uncompressed
message does not enter either side's LZ77 window, so the peer decodes it and
the compression contexts of both ends stay in step. Compressing per
connection is the adapter's ``broadcast(..., compress=True)``, at the cost of
one zlib run per connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._errors import LocalProtocolError
from ._events import BinaryMessage, TextMessage
from ._frames import Opcode, serialize_frame

__all__ = ["PreparedMessage"]


@dataclass(frozen=True, slots=True, init=False)
class PreparedMessage:
    """A whole text or binary message, framed once for any server connection.

    ::

        prepared = PreparedMessage(TextMessage("news"))
        for conn in connections:            # server connections, OPEN
            conn.send_prepared(prepared)     # the same bytes object, queued

    :param message: a whole :class:`~wsproto_lite.TextMessage` or
        :class:`~wsproto_lite.BinaryMessage` (``final=True``).
    :raises LocalProtocolError: *message* is not a data message, is a part
        (``final=False``), or is text that UTF-8 cannot encode (a lone
        surrogate).
    """

    #: The message as given.
    message: TextMessage | BinaryMessage
    #: :attr:`Opcode.TEXT <wsproto_lite.Opcode.TEXT>` or ``BINARY``.
    opcode: Opcode
    #: The payload's length in bytes (the UTF-8 encoding for text).
    size: int
    #: The whole frame as a server sends it: FIN set, RSV bits clear, unmasked,
    #: the shortest length encoding (RFC 6455 §5.2).
    frame: bytes = field(repr=False)

    def __init__(self, message: TextMessage | BinaryMessage) -> None:
        if isinstance(message, TextMessage):
            try:
                payload = message.data.encode("utf-8")
            except UnicodeEncodeError:
                raise LocalProtocolError(
                    "TextMessage.data must be valid text: it contains a lone surrogate,"
                    " which UTF-8 cannot encode (RFC 6455 §5.6)"
                ) from None
            opcode = Opcode.TEXT
        elif isinstance(message, BinaryMessage):
            payload = message.data
            opcode = Opcode.BINARY
        else:
            raise LocalProtocolError(
                "PreparedMessage takes a TextMessage or BinaryMessage,"
                f" not {type(message).__name__}"
            )
        if not message.final:
            raise LocalProtocolError(
                "only a whole message (final=True) can be prepared; send the parts of a"
                " fragmented message with Connection.send()"
            )
        object.__setattr__(self, "message", message)
        object.__setattr__(self, "opcode", opcode)
        object.__setattr__(self, "size", len(payload))
        object.__setattr__(self, "frame", serialize_frame(opcode, payload))
