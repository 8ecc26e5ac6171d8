"""WebSocket extensions: the interface, the header syntax, and permessage-deflate (RFC 7692)."""

from ._header import format_extension_header, parse_extension_header
from .base import Extension, ExtensionSession, Params

__all__ = [
    "Extension",
    "ExtensionSession",
    "Params",
    "format_extension_header",
    "parse_extension_header",
]
