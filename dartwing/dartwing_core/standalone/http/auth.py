"""API tokens: `Authorization: token <api_key>:<api_secret>`, as Frappe accepts them.

Secrets are stored only as salted scrypt hashes (`tabUser.api_secret_hash`) and compared in
constant time; a wrong key and a wrong secret are indistinguishable to the caller.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import sqlalchemy as sa

from dartwing.dartwing_core.background_jobs.errors import AuthenticationError

from .. import tables
from ..runtime import StandaloneRuntime

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_DUMMY_HASH = None  # computed lazily: verifying against it keeps unknown-key timing like a real check


def hash_secret(secret: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(secret.encode(), salt=bytes.fromhex(salt_hex), **_SCRYPT)
    return hmac.compare_digest(candidate.hex(), digest_hex)


def issue_credentials(rt: StandaloneRuntime, user: str) -> tuple[str, str]:
    """New api_key and api_secret for an existing user (replacing any old pair); caller commits."""
    api_key, api_secret = secrets.token_hex(8), secrets.token_hex(16)
    u = tables.user
    updated = rt.execute(
        sa.update(u).where(u.c.name == user).values(api_key=api_key, api_secret_hash=hash_secret(api_secret))
    ).rowcount
    if updated != 1:
        raise LookupError(f"no user {user!r}")
    return api_key, api_secret


def parse_token(header: str | None, *, scheme: str = "token") -> tuple[str, str]:
    """(api_key, api_secret) from `<scheme> key:secret`; AuthenticationError otherwise."""
    if not header:
        raise AuthenticationError("Authorization header required: token <api_key>:<api_secret>")
    given_scheme, _, credentials = header.strip().partition(" ")
    api_key, sep, api_secret = credentials.strip().partition(":")
    if given_scheme.lower() != scheme or not sep or not api_key or not api_secret:
        raise AuthenticationError(f"Authorization must be '{scheme} <api_key>:<api_secret>'")
    return api_key, api_secret


def authenticate(rt: StandaloneRuntime, header: str | None, *, scheme: str = "token") -> str:
    """The user the header's token belongs to; AuthenticationError for anything else."""
    global _DUMMY_HASH
    api_key, api_secret = parse_token(header, scheme=scheme)
    u = tables.user
    try:
        row = rt.execute(
            sa.select(u.c.name, u.c.enabled, u.c.api_secret_hash).where(u.c.api_key == api_key)
        ).first()
    finally:
        rt.rollback()
    if row is None:
        _DUMMY_HASH = _DUMMY_HASH or hash_secret("dummy")
        verify_secret(api_secret, _DUMMY_HASH)
        raise AuthenticationError("Invalid API key or secret")
    if (
        not row["api_secret_hash"]
        or not verify_secret(api_secret, row["api_secret_hash"])
        or not row["enabled"]
    ):
        raise AuthenticationError("Invalid API key or secret")
    return row["name"]
