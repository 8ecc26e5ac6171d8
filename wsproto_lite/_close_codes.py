"""Close status codes and the rules for which are allowed on the wire (RFC 6455 §7.4)."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["CloseCode", "is_valid_on_wire"]


class CloseCode(IntEnum):
    """Close status codes defined by RFC 6455 §7.4.1 and the IANA registry.

    Codes 1005, 1006 and 1015 are *reporting* codes: they describe what happened
    locally and are never sent in a close frame.
    """

    #: 1000: the purpose for which the connection was established is fulfilled.
    NORMAL_CLOSURE = 1000
    #: 1001: an endpoint is going away (server shutdown, page navigation).
    GOING_AWAY = 1001
    #: 1002: the peer violated the protocol.
    PROTOCOL_ERROR = 1002
    #: 1003: a data type that cannot be accepted (e.g. binary to a text-only app).
    UNSUPPORTED_DATA = 1003
    #: 1005: reporting only: the close frame carried no status code.
    NO_STATUS_RCVD = 1005
    #: 1006: reporting only: the connection closed without a close frame.
    ABNORMAL_CLOSURE = 1006
    #: 1007: a message's data was inconsistent with its type (invalid UTF-8).
    INVALID_FRAME_PAYLOAD_DATA = 1007
    #: 1008: a message violated the endpoint's policy.
    POLICY_VIOLATION = 1008
    #: 1009: a message was too big to process.
    MESSAGE_TOO_BIG = 1009
    #: 1010: the client expected the server to negotiate an extension.
    MANDATORY_EXTENSION = 1010
    #: 1011: the server met an unexpected condition.
    INTERNAL_ERROR = 1011
    #: 1012: the service is restarting (IANA registry).
    SERVICE_RESTART = 1012
    #: 1013: try again later (IANA registry).
    TRY_AGAIN_LATER = 1013
    #: 1014: a gateway or proxy received an invalid response upstream (IANA registry).
    BAD_GATEWAY = 1014
    #: 1015: reporting only: the TLS handshake failed.
    TLS_HANDSHAKE = 1015


#: Codes below 3000 that may appear in a close frame (RFC 6455 §7.4.1, IANA).
_WIRE_CODES_BELOW_3000 = frozenset(
    {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}
)


#: Codes that report a normal end of the connection: 1000 (done), 1001 (going
#: away) and 1005 (the peer's close frame gave no code). The adapters raise
#: ``ConnectionClosedOK`` for them, the CLI exits 0.
NORMAL_CLOSE_CODES = frozenset(
    {CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY, CloseCode.NO_STATUS_RCVD}
)


def is_valid_on_wire(code: int) -> bool:
    """Return whether *code* may be sent or received in a close frame.

    RFC 6455 §7.4.1–7.4.2: 1000–1003 and 1007–1014 are defined; 3000–3999 are
    registered with IANA and 4000–4999 are private use. 1004 is reserved and
    1005/1006/1015 are reporting-only, so all three are refused, as is every code
    outside those ranges (0–999, 1016–2999 and 5000 and up).
    """
    return code in _WIRE_CODES_BELOW_3000 or 3000 <= code <= 4999
