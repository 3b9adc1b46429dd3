"""API tokens: `Authorization: token <api_key>:<api_secret>`, as Frappe accepts them.

Secrets are stored only as keyed hashes (`tabUser.api_secret_hash`: HMAC-SHA256 under a random
per-secret salt) and compared in constant time; a wrong key and a wrong secret are indistinguishable
to the caller. A slow password hash buys nothing here: secrets are 128-bit random (issue_credentials),
so there is nothing to guess, and the check runs on every request (scrypt cost about 54 ms of CPU).
Hashes of the earlier scrypt scheme are still accepted, and replaced by the fast one on first use.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import sqlalchemy as sa

from dartwing.dartwing_core.background_jobs.errors import AuthenticationError

from .. import tables
from ..runtime import StandaloneRuntime

SCHEME = "hmac-sha256"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # the earlier scheme, verified only to upgrade its hashes


def _digest(scheme: str, secret: str, salt: bytes) -> bytes | None:
    if scheme == SCHEME:
        return hmac.new(salt, secret.encode(), hashlib.sha256).digest()
    if scheme == "scrypt":
        return hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)
    return None


def hash_secret(secret: str, salt: bytes | None = None, scheme: str = SCHEME) -> str:
    salt = salt or secrets.token_bytes(16)
    return f"{scheme}${salt.hex()}${_digest(scheme, secret, salt).hex()}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
        candidate = _digest(scheme, secret, bytes.fromhex(salt_hex))
    except ValueError:
        return False
    return candidate is not None and hmac.compare_digest(candidate.hex(), digest_hex)


_DUMMY_HASH = hash_secret("dummy")  # checked for an unknown key, so it costs what a real check costs


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
    api_key, api_secret = parse_token(header, scheme=scheme)
    u = tables.user
    try:
        row = rt.execute(
            sa.select(u.c.name, u.c.enabled, u.c.api_secret_hash).where(u.c.api_key == api_key)
        ).first()
    finally:
        rt.rollback()
    if row is None:
        verify_secret(api_secret, _DUMMY_HASH)
        raise AuthenticationError("Invalid API key or secret")
    stored = row["api_secret_hash"]
    if not stored or not verify_secret(api_secret, stored) or not row["enabled"]:
        raise AuthenticationError("Invalid API key or secret")
    if not stored.startswith(SCHEME + "$"):
        _upgrade(rt, row["name"], stored, api_secret)
    return row["name"]


def _upgrade(rt: StandaloneRuntime, user: str, stored: str, api_secret: str) -> None:
    """Replace an earlier scheme's hash by the fast one; compare-and-set, so a rotation wins."""
    u = tables.user
    try:
        rt.execute(
            sa.update(u)
            .where(u.c.name == user, u.c.api_secret_hash == stored)
            .values(api_secret_hash=hash_secret(api_secret))
        )
        rt.commit()
    finally:
        rt.rollback()
