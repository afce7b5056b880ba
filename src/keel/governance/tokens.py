"""API tokens: ``keel_<id>_<secret>``, shown once at creation and stored as a salted hash of the secret.

A token is looked up by its id and its secret checked with PBKDF2-HMAC-SHA256 and a constant-time comparison. The
secret is 256 random bits, so a modest iteration count is enough (stretching protects guessable passwords, not
random keys) and keeps a cold check around a millisecond.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import insert, select, update

from keel.errors import InvalidInput, NotFound, Unauthenticated
from keel.governance.roles import Level, check_level
from keel.governance.tables import api_tokens, users
from keel.governance.users import check_name, get_user
from keel.store import Database

__all__ = ["IssuedToken", "TokenInfo", "VerifiedToken", "create_token", "hash_secret", "list_tokens",
           "parse_duration", "parse_token", "revoke_token", "verify_secret", "verify_token"]

_FORMAT = re.compile(r"keel_([0-9a-f]{16})_([A-Za-z0-9_-]{20,128})")
_ITERATIONS = 20_000
_T = api_tokens.c


@dataclass(frozen=True)
class TokenInfo:
    """What is stored about a token (never its secret)."""

    id: str
    user: str
    name: str
    scope: Level
    created_at: int
    expires_at: int | None
    revoked_at: int | None


@dataclass(frozen=True)
class IssuedToken:
    """A new token: ``token`` is the only time the secret is seen."""

    token: str
    info: TokenInfo


@dataclass(frozen=True)
class VerifiedToken:
    """A token that checked out: who holds it, whether they are a server admin, its scope and expiry."""

    user: str
    admin: bool
    scope: Level
    expires_at: int | None


def hash_secret(secret: str, salt: bytes | None = None, iterations: int = _ITERATIONS) -> str:
    """``pbkdf2_sha256$ITERATIONS$SALT$HASH`` for ``secret`` (a fresh random salt unless given)."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${salt.hex()}${digest.hex()}"


def verify_secret(secret: str, stored: str) -> bool:
    """True when ``secret`` matches the stored hash (constant-time)."""
    try:
        scheme, iterations, salt, digest = stored.split("$")
        if scheme != "pbkdf2_sha256":
            return False
        candidate = hashlib.pbkdf2_hmac("sha256", secret.encode(), bytes.fromhex(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(candidate.hex(), digest)


def parse_token(token: str) -> tuple[str, str]:
    """``(id, secret)`` of a well-formed token, else :class:`Unauthenticated` (the token is never echoed)."""
    match = _FORMAT.fullmatch(token.strip())
    if match is None:
        raise Unauthenticated("invalid token: expected keel_<id>_<secret> as created by `keel tokens create`")
    return match.group(1), match.group(2)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value: str) -> int:
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w`` as seconds, else :class:`InvalidInput`."""
    match = re.fullmatch(r"(\d+)\s*([smhdw])", value.strip())
    if match is None or int(match.group(1)) <= 0:
        raise InvalidInput(f"expires: {value!r} is not a duration; use e.g. 30d, 12h, 90m or 45s", field="expires")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _now() -> int:
    return int(time.time() * 1000)


def create_token(db: Database, user: str, name: str = "default", *, scope: str = "admin",
                 expires_in_s: float | None = None) -> IssuedToken:
    """Issue a token for ``user`` acting at most at level ``scope``; it expires after ``expires_in_s`` if given."""
    check_name(name, "name")
    level = check_level(scope)
    if get_user(db, user).disabled:
        raise InvalidInput(f"user {user!r} is disabled; enable it before issuing tokens", field="user")
    token_id, secret, now = secrets.token_hex(8), secrets.token_urlsafe(32), _now()
    expires = None if expires_in_s is None else now + int(expires_in_s * 1000)
    info = TokenInfo(token_id, user, name, level, now, expires, None)
    with db.write() as conn:
        conn.execute(insert(api_tokens).values(id=token_id, user=user, name=name, secret_hash=hash_secret(secret),
                                               scope=level, created_at=now, expires_at=expires))
    return IssuedToken(f"keel_{token_id}_{secret}", info)


def list_tokens(db: Database, user: str | None = None) -> list[TokenInfo]:
    """Tokens (of ``user``, or all), newest first; revoked ones included with ``revoked_at`` set."""
    query = select(_T.id, _T.user, _T.name, _T.scope, _T.created_at, _T.expires_at, _T.revoked_at)
    if user is not None:
        query = query.where(_T.user == user)
    with db.read() as conn:
        rows = conn.execute(query.order_by(_T.created_at.desc(), _T.id)).all()
    return [TokenInfo(*row) for row in rows]


def revoke_token(db: Database, token_id: str) -> None:
    """Revoke token ``token_id`` (its id, or the whole token); it stops working at once."""
    if token_id.startswith("keel_"):
        token_id = token_id.split("_")[1]
    with db.write() as conn:
        found = conn.execute(update(api_tokens).where(_T.id == token_id, _T.revoked_at.is_(None))
                             .values(revoked_at=_now())).rowcount
    if not found:
        raise NotFound(f"token {token_id!r} not found or already revoked; see `keel tokens list`", field="token")


def verify_token(db: Database, token: str) -> VerifiedToken:
    """The holder of ``token``, or :class:`Unauthenticated` when it is unknown, wrong, expired, revoked or its user
    is disabled."""
    token_id, secret = parse_token(token)
    with db.read() as conn:
        row = conn.execute(select(_T.secret_hash, _T.scope, _T.expires_at, _T.revoked_at, users.c.name,
                                  users.c.admin, users.c.disabled)
                           .join(users, users.c.name == _T.user).where(_T.id == token_id)).first()
    if row is None or not verify_secret(secret, row.secret_hash):
        raise Unauthenticated(f"invalid token (id {token_id}): unknown or wrong secret")
    if row.revoked_at is not None:
        raise Unauthenticated(f"token {token_id} was revoked; create a new one with `keel tokens create`")
    if row.expires_at is not None and row.expires_at <= _now():
        raise Unauthenticated(f"token {token_id} expired; create a new one with `keel tokens create`")
    if row.disabled:
        raise Unauthenticated(f"user {row.name!r} is disabled")
    return VerifiedToken(row.name, bool(row.admin), check_level(row.scope), row.expires_at)
