"""The demo's message protocol: JSON calls, replies, pings and pushes.

Transport-free: this module turns message payloads into :class:`Request`,
:class:`Ping` or :class:`Note` objects (or :class:`RPCError`) and results into
reply texts. The shapes::

    → {"id": 1, "method": "auth", "args": ["admin", "secret"]}    a call
    ← {"id": 1, "result": {...}}
    ← {"id": 1, "error": {"code": -32602, "message": "..."}}
    → {"method": "getUsers"}                                        a call without an id
    ← {"id": null, "result": [...]}
    → {"ping": "Hello World"}                                       a ping
    ← {"pong": "Hello World"}
    → {"message": "Hello World"}                                    a note: printed, no reply
    ← {"event": "broadcast", "from": "admin", "text": "..."}        a push: no id

A JSON object with a ``method`` is a call. Without one, an object with a
``ping`` member is a ping, an object with any of :data:`CALL_MEMBERS` is a
call that lacks its method (an error), and any other object is a *note*, which
the server prints and does not answer (the tutorial's step 4).

The error codes follow JSON-RPC 2.0 (§5.1) where it has one; the demo's own
codes sit in the range JSON-RPC leaves to servers (-32000 to -32099). As in
JSON-RPC, a reply's ``"id": null`` means the message had no usable id; the
server (:mod:`.ordering`) sends such replies in the order of the messages they
answer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Union

__all__ = [
    "CALL_MEMBERS",
    "MAX_ID_LENGTH",
    "ErrorCode",
    "Message",
    "Note",
    "Param",
    "Ping",
    "RPCError",
    "Request",
    "RequestId",
    "check_args",
    "error_reply",
    "parse_message",
    "parse_request",
    "pong_reply",
    "push",
    "result_reply",
]

#: A call's id: echoed in the reply; ``None`` when the call had none.
RequestId = Union[int, str, None]  # noqa: UP007 (a runtime alias on Python 3.10)

#: The longest string id accepted.
MAX_ID_LENGTH = 128

#: Members that make an object without ``method`` a call that lacks its method
#: (answered with ``INVALID_REQUEST``) rather than a note.
CALL_MEMBERS = ("id", "args", "params", "jsonrpc")


class ErrorCode(IntEnum):
    """The ``code`` of an error reply."""

    #: The message is not valid JSON (JSON-RPC).
    PARSE_ERROR = -32700
    #: Valid JSON, but not a message the server takes: not an object, a call without
    #: a method, a bad id, a binary message… (JSON-RPC).
    INVALID_REQUEST = -32600
    #: No method of that name (JSON-RPC).
    METHOD_NOT_FOUND = -32601
    #: Wrong number or types of arguments, or a value out of range (JSON-RPC).
    INVALID_PARAMS = -32602
    #: A bug on the server side (JSON-RPC).
    INTERNAL_ERROR = -32603
    #: The method needs an authenticated connection (``auth`` or ``authToken`` first).
    UNAUTHORIZED = -32001
    #: ``auth``: the login or the password is wrong.
    INVALID_CREDENTIALS = -32002
    #: ``authToken``: the token is malformed, badly signed or expired.
    INVALID_TOKEN = -32003
    #: Too many calls of this connection are still running; retry when replies arrive.
    TOO_MANY_CALLS = -32004


class RPCError(Exception):
    """A call failed: becomes an error reply.

    :param code: the error code.
    :param message: a short explanation, for people.
    :param id: the id of the call, when known.
    """

    def __init__(self, code: ErrorCode, message: str, id: RequestId = None) -> None:
        super().__init__(message)
        #: The error code.
        self.code = code
        #: The explanation.
        self.message = message
        #: The id of the failed call (``None`` if it had none or could not be read).
        self.id = id


@dataclass(frozen=True)
class Request:
    """A well-formed call.

    :param id: the id to echo in the reply.
    :param method: the method name.
    :param args: the positional arguments.
    """

    id: RequestId
    method: str
    args: tuple[Any, ...]


def _valid_id(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**53) < value < 2**53  # exact in JavaScript
    return isinstance(value, str) and len(value) <= MAX_ID_LENGTH


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


@dataclass(frozen=True)
class Ping:
    """``{"ping": value}``: answered at once with ``{"pong": value}`` (the tutorial's step 5).

    :param id: the id to echo in the reply (``None``: the reply has no id).
    :param value: any JSON value, sent back as is.
    """

    id: RequestId
    value: Any


@dataclass(frozen=True)
class Note:
    """A JSON object that is not a call: the server prints it and does not answer
    (the tutorial's step 4, ``{"message": "Hello World"}``).

    :param text: the message as received.
    """

    text: str


#: What :func:`parse_message` returns.
Message = Union[Request, Ping, Note]  # noqa: UP007 (a runtime alias on Python 3.10)


def parse_message(payload: str | bytes) -> Message:
    """Read one message: a call, a ping or a note; raise :class:`RPCError` when it
    is none of them (see the module docstring for the rules).

    A binary (``bytes``) payload is refused: messages are JSON *text*. ``id``
    is optional (an integer or a string of at most :data:`MAX_ID_LENGTH`
    characters; ``null`` is the same as no id), ``args`` is optional and must
    be an array. Unknown members are ignored (``"jsonrpc": "2.0"`` is welcome).
    """
    if not isinstance(payload, str):
        raise RPCError(
            ErrorCode.INVALID_REQUEST, "binary messages are not accepted: send JSON as text"
        )
    try:
        # NaN and Infinity are not JSON (RFC 8259 §6), though Python accepts them.
        data = json.loads(payload, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise RPCError(ErrorCode.PARSE_ERROR, f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RPCError(ErrorCode.INVALID_REQUEST, "a message must be a JSON object")
    if "method" not in data and "ping" not in data and not any(k in data for k in CALL_MEMBERS):
        return Note(payload)
    raw_id = data.get("id")
    if not _valid_id(raw_id) and raw_id is not None:
        raise RPCError(
            ErrorCode.INVALID_REQUEST,
            f"'id' must be an integer or a string of at most {MAX_ID_LENGTH} characters",
        )
    request_id: RequestId = raw_id
    if "method" not in data and "ping" in data:
        return Ping(request_id, data["ping"])
    method = data.get("method")
    if not isinstance(method, str) or not method:
        raise RPCError(ErrorCode.INVALID_REQUEST, "'method' must be a non-empty string", request_id)
    args = data.get("args", [])
    if not isinstance(args, list):
        raise RPCError(ErrorCode.INVALID_REQUEST, "'args' must be an array", request_id)
    return Request(request_id, method, tuple(args))


def parse_request(payload: str | bytes) -> Request:
    """Read one call: like :func:`parse_message`, but a ping or a note is an
    ``INVALID_REQUEST`` error too."""
    message = parse_message(payload)
    if not isinstance(message, Request):
        raise RPCError(
            ErrorCode.INVALID_REQUEST,
            "'method' must be a non-empty string",
            message.id if isinstance(message, Ping) else None,
        )
    return message


@dataclass(frozen=True)
class Param:
    """One positional parameter of a method.

    :param name: its name, for error messages.
    :param kind: the accepted JSON type: ``str``, ``int`` (integers only) or
        ``float`` (any number). Booleans are never numbers here.
    """

    name: str
    kind: type

    def describe(self) -> str:
        """The JSON type, as people say it."""
        return {str: "a string", int: "an integer", float: "a number"}.get(
            self.kind, self.kind.__name__
        )

    def accepts(self, value: object) -> bool:
        """Whether *value* has the right JSON type."""
        if isinstance(value, bool):
            return False
        if self.kind is float:
            return isinstance(value, (int, float))
        return isinstance(value, self.kind)


def check_args(request: Request, params: Sequence[Param]) -> None:
    """Raise ``INVALID_PARAMS`` unless ``request.args`` fits *params* in number and types."""
    names = ", ".join(p.name for p in params)
    if len(request.args) != len(params):
        expected = f"{len(params)} argument{'s' if len(params) != 1 else ''}"
        raise RPCError(
            ErrorCode.INVALID_PARAMS,
            f"{request.method}({names}) takes {expected}, got {len(request.args)}",
            request.id,
        )
    for position, (param, value) in enumerate(zip(params, request.args, strict=True), 1):
        if not param.accepts(value):
            raise RPCError(
                ErrorCode.INVALID_PARAMS,
                f"{request.method}: argument {position} ({param.name}) must be"
                f" {param.describe()}, got {_json_type(value)}",
                request.id,
            )


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def result_reply(request_id: RequestId, result: Any) -> str:
    """The reply text of a successful call."""
    return _dumps({"id": request_id, "result": result})


def error_reply(error: RPCError) -> str:
    """The reply text of a failed call."""
    return _dumps({"id": error.id, "error": {"code": int(error.code), "message": error.message}})


def pong_reply(ping: Ping) -> str:
    """The reply text to a ping: ``{"pong": value}``, with the ping's ``id`` if it had one."""
    reply: dict[str, Any] = {} if ping.id is None else {"id": ping.id}
    reply["pong"] = ping.value
    return _dumps(reply)


def push(event: str, **fields: Any) -> str:
    """The text of a server push: ``{"event": event, **fields}`` (no ``id``)."""
    return _dumps({"event": event, **fields})
