"""WebSocket extensions: the interface and permessage-deflate (RFC 7692)."""

from .base import Extension, ExtensionSession, Params

__all__ = ["Extension", "ExtensionSession", "Params"]
