"""The demo: the tutorial's WebSocket RPC server, on the asyncio adapter.

Run it with ``python -m wsproto_lite demo`` and open http://127.0.0.1:4000/.
See ``docs/demo.md`` for the protocol. Modules:

- :mod:`.server` — :class:`DemoServer`: the HTTP answers, the handshake
  checks, the messages and the methods;
- :mod:`.page` — the web page, with its Content-Security-Policy;
- :mod:`.hub` — :class:`Hub`: the state the connections share (who is
  connected and signed in, broadcasts), in memory by default;
- :mod:`.redis_hub`, :mod:`.shared` — :class:`RedisHub`: that state shared by
  several workers through Redis (``--redis``);
- :mod:`.workers` — the supervisor of ``--workers N``;
- :mod:`.session` — :class:`Session`: one connection;
- :mod:`.ordering` — which calls of a connection wait for which, and the order
  of replies without an id;
- :mod:`.rpc` — the message format: calls, replies, pings, notes, pushes,
  error codes;
- :mod:`.jwt` — HS256 JSON Web Tokens;
- :mod:`.auth` — users and salted password hashes;
- :mod:`.config` — :class:`DemoConfig`, the settings.
"""

from .auth import ConfigError, User, UserStore, hash_password, load_users, verify_password
from .config import SECRET_ENV, DemoConfig
from .hub import Hub, LocalHub
from .redis_hub import RedisHub
from .rpc import ErrorCode, RPCError
from .server import DemoServer, Session, run

__all__ = [
    "SECRET_ENV",
    "ConfigError",
    "DemoConfig",
    "DemoServer",
    "ErrorCode",
    "Hub",
    "LocalHub",
    "RPCError",
    "RedisHub",
    "Session",
    "User",
    "UserStore",
    "hash_password",
    "load_users",
    "run",
    "verify_password",
]
