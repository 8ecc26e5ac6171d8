"""Tests of wsproto_lite._close_codes (RFC 6455 §7.4) and wsproto_lite._errors."""

from __future__ import annotations

import pytest

from wsproto_lite import CloseCode, LocalProtocolError, ProtocolError, RemoteProtocolError
from wsproto_lite._close_codes import is_valid_on_wire


@pytest.mark.parametrize(
    ("member", "value"),
    [
        (CloseCode.NORMAL_CLOSURE, 1000),
        (CloseCode.GOING_AWAY, 1001),
        (CloseCode.PROTOCOL_ERROR, 1002),
        (CloseCode.UNSUPPORTED_DATA, 1003),
        (CloseCode.NO_STATUS_RCVD, 1005),
        (CloseCode.ABNORMAL_CLOSURE, 1006),
        (CloseCode.INVALID_FRAME_PAYLOAD_DATA, 1007),
        (CloseCode.POLICY_VIOLATION, 1008),
        (CloseCode.MESSAGE_TOO_BIG, 1009),
        (CloseCode.MANDATORY_EXTENSION, 1010),
        (CloseCode.INTERNAL_ERROR, 1011),
        (CloseCode.SERVICE_RESTART, 1012),
        (CloseCode.TRY_AGAIN_LATER, 1013),
        (CloseCode.BAD_GATEWAY, 1014),
        (CloseCode.TLS_HANDSHAKE, 1015),
    ],
)
def test_close_code_values(member: CloseCode, value: int) -> None:
    assert member == value
    assert CloseCode(value) is member


def test_1004_is_reserved_and_not_a_member() -> None:
    with pytest.raises(ValueError):
        CloseCode(1004)


def reference(code: int) -> bool:
    """RFC 6455 §7.4: which codes may appear in a close frame."""
    if code in (1004, 1005, 1006, 1015):
        return False  # reserved, or reporting-only
    if 1000 <= code <= 1014:
        return True  # defined by the RFC and the IANA registry
    return 3000 <= code <= 4999  # registered / private use


def test_is_valid_on_wire_for_every_two_byte_code() -> None:
    for code in range(0, 1 << 16):
        assert is_valid_on_wire(code) is reference(code), code


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        (0, False),
        (999, False),
        (1000, True),
        (1003, True),
        (1004, False),
        (1005, False),
        (1006, False),
        (1007, True),
        (1011, True),
        (1014, True),
        (1015, False),
        (1016, False),
        (2999, False),
        (3000, True),
        (4999, True),
        (5000, False),
        (65535, False),
        (-1, False),
        (1 << 20, False),
    ],
)
def test_is_valid_on_wire_boundaries(code: int, valid: bool) -> None:
    assert is_valid_on_wire(code) is valid


def test_reporting_codes_are_members_but_not_wire_codes() -> None:
    for member in (CloseCode.NO_STATUS_RCVD, CloseCode.ABNORMAL_CLOSURE, CloseCode.TLS_HANDSHAKE):
        assert not is_valid_on_wire(member)


# -- errors ----------------------------------------------------------------------------------------


def test_error_hierarchy() -> None:
    assert issubclass(LocalProtocolError, ProtocolError)
    assert issubclass(RemoteProtocolError, ProtocolError)
    assert issubclass(ProtocolError, Exception)
    assert not issubclass(LocalProtocolError, RemoteProtocolError)


def test_error_fields() -> None:
    err = ProtocolError("boom", code=1008, status=403)
    assert (err.message, err.code, err.status, str(err)) == ("boom", 1008, 403, "boom")
    local = LocalProtocolError("misuse")
    assert (local.code, local.status) == (None, None)
    remote = RemoteProtocolError("bad frame")
    assert remote.code == 1002 and remote.status is None
    assert RemoteProtocolError("too big", code=1009).code == 1009
    assert RemoteProtocolError("bad request", code=None, status=400).status == 400


def test_normal_close_codes() -> None:
    from wsproto_lite._close_codes import NORMAL_CLOSE_CODES

    assert set(NORMAL_CLOSE_CODES) == {1000, 1001, 1005}
