"""Users and passwords for the demo: salted, slow hashes compared in constant time.

Passwords are never kept in memory in clear once loaded: each is hashed with
scrypt (RFC 7914) and a random 16-byte salt, and a login attempt hashes the
candidate the same way and compares the results with :func:`hmac.compare_digest`.
An unknown login costs the same hash as a known one, so timing does not tell
which logins exist. PBKDF2-HMAC-SHA-256 hashes are accepted too, for Pythons
whose OpenSSL lacks scrypt.

The users file is JSON: a list of users, or an object with the list under
``"users"``::

    [
        {"login": "admin", "password": "secret", "name": "Administrator"},
        {"login": "ops", "password_hash": "scrypt$16384$8$1$<salt>$<hash>"}
    ]

    {"users": [{"login": "ann", "password": "pw"}]}

``python -m wsproto_lite hash-password`` prints a ``password_hash`` value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEFAULT_USERS",
    "ConfigError",
    "User",
    "UserStore",
    "hash_password",
    "load_users",
    "verify_password",
]

# scrypt cost: 16 MiB of memory and ~50 ms per hash on a laptop (RFC 7914 §2
# suggests N = 2**14 for interactive logins).
_SCRYPT_N = 1 << 14
_SCRYPT_R = 8
_SCRYPT_P = 1
_PBKDF2_ITERATIONS = 200_000
_SALT_BYTES = 16
_HASH_BYTES = 32
# Refuse parameters that would take more memory than this (a typo in a file
# must not exhaust the machine).
_MAX_SCRYPT_MEMORY = 64 << 20
_MAX_PBKDF2_ITERATIONS = 10_000_000
_MAX_LOGIN_LENGTH = 64


class ConfigError(ValueError):
    """The users configuration (or a password hash in it) is invalid."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ConfigError("bad base64 in password hash") from None


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password, salt=salt, n=n, r=r, p=p, dklen=_HASH_BYTES, maxmem=_MAX_SCRYPT_MEMORY + (1 << 20)
    )


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """Hash *password* for storage: ``scrypt$N$r$p$salt$hash`` (base64 fields).

    :param password: the password in clear.
    :param salt: the salt; a fresh random one by default (give one only in tests).
    """
    salt = secrets.token_bytes(_SALT_BYTES) if salt is None else salt
    secret = password.encode("utf-8")
    if hasattr(hashlib, "scrypt"):
        digest = _scrypt(secret, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
        params = f"{_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}"
        return f"scrypt${params}${_b64(salt)}${_b64(digest)}"
    digest = hashlib.pbkdf2_hmac("sha256", secret, salt, _PBKDF2_ITERATIONS)  # pragma: no cover
    return f"pbkdf2_sha256${_PBKDF2_ITERATIONS}${_b64(salt)}${_b64(digest)}"  # pragma: no cover


def _int_field(text: str, low: int, high: int) -> int:
    if not text.isdigit():
        raise ConfigError(f"bad number {text!r} in password hash")
    value = int(text)
    if not low <= value <= high:
        raise ConfigError(f"password hash parameter {value} is out of range")
    return value


def _check_hash(encoded: str) -> None:
    """Raise :class:`ConfigError` unless *encoded* is a hash :func:`verify_password` reads."""
    if not isinstance(encoded, str):
        raise ConfigError("a password hash must be a string")
    fields = encoded.split("$")
    if fields[0] == "scrypt" and len(fields) == 6:
        n = _int_field(fields[1], 2, 1 << 20)
        r = _int_field(fields[2], 1, 64)
        _int_field(fields[3], 1, 16)
        if n & (n - 1):
            raise ConfigError("scrypt N must be a power of two")
        if 128 * n * r > _MAX_SCRYPT_MEMORY:
            raise ConfigError("scrypt parameters need too much memory")
        if not hasattr(hashlib, "scrypt"):  # pragma: no cover
            raise ConfigError("this Python has no hashlib.scrypt; use a pbkdf2_sha256 hash")
    elif fields[0] == "pbkdf2_sha256" and len(fields) == 4:
        _int_field(fields[1], 1, _MAX_PBKDF2_ITERATIONS)
    else:
        raise ConfigError(
            "a password hash must look like scrypt$N$r$p$salt$hash"
            " or pbkdf2_sha256$iterations$salt$hash"
        )
    if not _unb64(fields[-2]) or len(_unb64(fields[-1])) < 16:
        raise ConfigError("the salt or the hash in a password hash is too short")


def verify_password(password: str, encoded: str) -> bool:
    """Whether *password* matches the stored hash *encoded* (constant-time comparison)."""
    _check_hash(encoded)
    fields = encoded.split("$")
    salt, expected = _unb64(fields[-2]), _unb64(fields[-1])
    secret = password.encode("utf-8", "surrogatepass")
    if fields[0] == "scrypt":
        n, r, p = int(fields[1]), int(fields[2]), int(fields[3])
        actual = hashlib.scrypt(
            secret,
            salt=salt,
            n=n,
            r=r,
            p=p,
            dklen=len(expected),
            maxmem=_MAX_SCRYPT_MEMORY + (1 << 20),
        )
    else:
        actual = hashlib.pbkdf2_hmac("sha256", secret, salt, int(fields[1]), len(expected))
    return hmac.compare_digest(actual, expected)


@dataclass(frozen=True)
class User:
    """A demo user.

    :param login: the login name.
    :param password_hash: the stored hash (see :func:`hash_password`).
    :param name: a display name.
    """

    login: str
    password_hash: str
    name: str = ""


#: The tutorial's user: login ``admin``, password ``secret``.
DEFAULT_USERS: tuple[Mapping[str, str], ...] = (
    {"login": "admin", "password": "secret", "name": "Administrator"},
)


def _check_login(login: object) -> str:
    if not isinstance(login, str) or not login.strip():
        raise ConfigError("every user needs a non-empty string 'login'")
    if len(login) > _MAX_LOGIN_LENGTH or not login.isprintable():
        raise ConfigError(f"login {login[:80]!r} is too long or has control characters")
    return login


def _user_from_entry(entry: object, position: int) -> User:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"user #{position} is not a JSON object")
    unknown = set(entry) - {"login", "password", "password_hash", "name"}
    if unknown:
        raise ConfigError(f"user #{position} has unknown keys: {', '.join(sorted(unknown))}")
    login = _check_login(entry.get("login"))
    name = entry.get("name", "")
    if not isinstance(name, str):
        raise ConfigError(f"user {login!r}: 'name' must be a string")
    has_password, has_hash = "password" in entry, "password_hash" in entry
    if has_password == has_hash:
        raise ConfigError(f"user {login!r} needs exactly one of 'password' or 'password_hash'")
    if has_hash:
        encoded = entry["password_hash"]
        _check_hash(encoded)
    else:
        password = entry["password"]
        if not isinstance(password, str) or not password:
            raise ConfigError(f"user {login!r}: 'password' must be a non-empty string")
        encoded = hash_password(password)
    return User(login=login, password_hash=encoded, name=name)


class UserStore:
    """The known users, and the login check.

    :param users: the users; logins must be unique.
    """

    def __init__(self, users: Iterable[User]) -> None:
        #: A login and password anyone may know, that the demo's page fills in and
        #: shows: the tutorial's ``admin`` / ``secret`` for :meth:`default`,
        #: ``None`` otherwise.
        self.public_credentials: tuple[str, str] | None = None
        self._users: dict[str, User] = {}
        for user in users:
            if user.login in self._users:
                raise ConfigError(f"duplicate login {user.login!r}")
            self._users[user.login] = user
        # Hashed against when the login is unknown, so that the answer takes
        # as long as for a known login with a wrong password.
        self._dummy_hash = hash_password(secrets.token_urlsafe(16))

    @classmethod
    def from_entries(cls, entries: Iterable[object]) -> UserStore:
        """Build a store from JSON-like entries (``login``, ``password`` or ``password_hash``)."""
        return cls(_user_from_entry(entry, i) for i, entry in enumerate(entries, 1))

    @classmethod
    def default(cls) -> UserStore:
        """The tutorial's single user, ``admin`` / ``secret`` (its :attr:`public_credentials`)."""
        store = cls.from_entries(DEFAULT_USERS)
        first = DEFAULT_USERS[0]
        store.public_credentials = (first["login"], first["password"])
        return store

    def __len__(self) -> int:
        return len(self._users)

    def __iter__(self) -> Iterator[User]:
        return iter(self._users.values())

    def get(self, login: str) -> User | None:
        """The user called *login*, if any."""
        return self._users.get(login)

    def authenticate(self, login: str, password: str) -> User | None:
        """The user if *login* and *password* match, else ``None``.

        CPU-bound (one scrypt hash, tens of milliseconds): call it from a thread
        in an event loop. Unknown logins take the same time as wrong passwords.
        """
        user = self._users.get(login)
        ok = verify_password(password, user.password_hash if user else self._dummy_hash)
        return user if ok and user is not None else None


def load_users(path: str | os.PathLike[str]) -> UserStore:
    """Read a users file (see the module docstring); raise :class:`ConfigError` if invalid.

    The file holds a JSON list of users, or an object ``{"users": [...]}``.
    """
    where = os.fspath(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {where}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{where} is not valid JSON: {exc}") from None
    if isinstance(data, dict) and "users" in data:  # other members are ignored, as before
        data = data["users"]
    if not isinstance(data, list):
        raise ConfigError(
            f'{where} must hold a JSON list of users, or an object {{"users": [...]}}'
            ' (each user: {"login": ..., "password" or "password_hash": ...})'
        )
    if not data:
        raise ConfigError(f"{where} lists no users")
    return UserStore.from_entries(data)
