"""JSON Web Tokens signed with HMAC-SHA-256 (``HS256``), nothing more.

Just what the demo needs, written from RFC 7519 (JWT), RFC 7515 (JWS compact
serialization) and RFC 7518 §3.2 (HS256), with the checks that JWT libraries
learned the hard way:

- the algorithm is fixed by the verifier, never taken from the token: a header
  saying ``"alg": "none"`` (or anything but ``HS256``) is refused;
- the signature is checked, in constant time, before the payload is parsed;
- every part must be canonical base64url without padding (RFC 7515 §2), so a
  token has exactly one valid spelling;
- ``exp`` is required, and a token is refused *at* its expiry time, not only
  after it (RFC 7519 §4.1.4); ``nbf`` is honoured when present;
- keys shorter than the hash output (32 bytes) are refused (RFC 7518 §3.2).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from typing import Any

__all__ = [
    "ALGORITHM",
    "MAX_TOKEN_LENGTH",
    "MIN_KEY_LENGTH",
    "ExpiredToken",
    "InvalidToken",
    "b64url_decode",
    "b64url_encode",
    "decode",
    "encode",
]

#: The only algorithm produced and accepted.
ALGORITHM = "HS256"
#: The shortest key accepted, in bytes: the size of the SHA-256 output (RFC 7518 §3.2).
MIN_KEY_LENGTH = 32
#: Longer tokens are refused before any work is done on them.
MAX_TOKEN_LENGTH = 4096

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_HEADER = {"alg": ALGORITHM, "typ": "JWT"}


class InvalidToken(ValueError):
    """The token is not a valid, correctly signed, current HS256 JWT.

    The message says why; it is safe to show to the token's holder.
    """


class ExpiredToken(InvalidToken):
    """The token was valid but its ``exp`` time has passed."""


def b64url_encode(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode canonical base64url without padding; raise :class:`InvalidToken` otherwise."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise InvalidToken("malformed token: bad base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):  # pragma: no cover - excluded by the checks above
        raise InvalidToken("malformed token: bad base64url") from None
    # Unused low bits of the last character must be zero: one spelling per token.
    if b64url_encode(data) != text:
        raise InvalidToken("malformed token: non-canonical base64url")
    return data


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes):
        raise TypeError("the key must be bytes")
    if len(key) < MIN_KEY_LENGTH:
        raise ValueError(f"an HS256 key must be at least {MIN_KEY_LENGTH} bytes (RFC 7518 §3.2)")


def _sign(signing_input: bytes, key: bytes) -> bytes:
    return hmac.new(key, signing_input, hashlib.sha256).digest()


def _json_segment(data: Mapping[str, Any]) -> str:
    text = json.dumps(dict(data), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return b64url_encode(text.encode("utf-8"))


def encode(claims: Mapping[str, Any], key: bytes) -> str:
    """Sign *claims* (a JSON-serializable mapping) into a compact JWT.

    :param claims: the payload; it must contain ``exp`` (seconds since the epoch).
    :param key: the HMAC key, at least :data:`MIN_KEY_LENGTH` bytes.
    """
    _check_key(key)
    if not _is_number(claims.get("exp")):
        raise ValueError("claims must contain a numeric 'exp'")
    signing_input = f"{_json_segment(_HEADER)}.{_json_segment(claims)}"
    signature = _sign(signing_input.encode("ascii"), key)
    return f"{signing_input}.{b64url_encode(signature)}"


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _json_object(segment: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(b64url_decode(segment).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, InvalidToken):
            raise
        raise InvalidToken(f"malformed token: the {what} is not JSON") from None
    if not isinstance(value, dict):
        raise InvalidToken(f"malformed token: the {what} is not a JSON object")
    return value


def decode(
    token: str,
    key: bytes,
    *,
    now: float | None = None,
    leeway: float = 0.0,
) -> dict[str, Any]:
    """Verify *token* and return its claims.

    :param token: a compact JWT (``header.payload.signature``).
    :param key: the HMAC key it must be signed with.
    :param now: the current time in seconds since the epoch (default: ``time.time()``).
    :param leeway: seconds of clock skew tolerated on ``exp`` and ``nbf``.
    :raises ExpiredToken: the signature is good but ``exp`` has passed.
    :raises InvalidToken: anything else is wrong (format, algorithm, signature,
        missing ``exp``, ``nbf`` in the future).
    """
    _check_key(key)
    if not isinstance(token, str):
        raise InvalidToken("malformed token: not a string")
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("malformed token: too long")
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("malformed token: expected three dot-separated parts")
    if not all(_B64URL.fullmatch(part) for part in parts):
        raise InvalidToken("malformed token: bad base64url")
    header_segment, payload_segment, signature_segment = parts
    header = _json_object(header_segment, "header")
    # RFC 8725 §3.1: the verifier decides the algorithm; "none" and the rest are refused.
    if header.get("alg") != ALGORITHM:
        raise InvalidToken(f"unsupported algorithm {header.get('alg')!r}; only HS256 is accepted")
    if "crit" in header:
        raise InvalidToken("unsupported critical header parameters")
    signature = b64url_decode(signature_segment)
    expected = _sign(f"{header_segment}.{payload_segment}".encode("ascii"), key)
    if not hmac.compare_digest(signature, expected):
        raise InvalidToken("bad signature")
    claims = _json_object(payload_segment, "payload")
    current = time.time() if now is None else now
    exp = claims.get("exp")
    if not _is_number(exp):
        raise InvalidToken("the token has no valid 'exp' claim")
    assert isinstance(exp, (int, float))
    if current >= exp + leeway:
        raise ExpiredToken("the token has expired")
    nbf = claims.get("nbf")
    if nbf is not None:
        if not _is_number(nbf):
            raise InvalidToken("the token's 'nbf' claim is not a number")
        if current + leeway < nbf:
            raise InvalidToken("the token is not valid yet")
    return claims
