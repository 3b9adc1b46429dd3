"""API secrets: a fast keyed hash for new ones, and earlier scrypt hashes accepted then upgraded."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from conftest import ALICE, BOB

from dartwing.dartwing_core.background_jobs.errors import AuthenticationError
from dartwing.dartwing_core.standalone import tables
from dartwing.dartwing_core.standalone.http.auth import authenticate, hash_secret, issue_credentials


def stored_hash(rt, user: str) -> str:
    u = tables.user
    value = rt.execute(sa.select(u.c.api_secret_hash).where(u.c.name == user)).scalar()
    rt.rollback()
    return value


def test_new_secrets_are_stored_as_a_keyed_hash_and_checked(rt):
    key, secret = issue_credentials(rt, ALICE)
    rt.commit()
    scheme, salt, digest = stored_hash(rt, ALICE).split("$")
    assert scheme == "hmac-sha256" and len(bytes.fromhex(salt)) == 16 and len(bytes.fromhex(digest)) == 32
    assert secret not in stored_hash(rt, ALICE)
    assert authenticate(rt, f"token {key}:{secret}") == ALICE
    with pytest.raises(AuthenticationError):
        authenticate(
            rt, f"token {key}:{secret[:-1]}0" if secret[-1] != "0" else f"token {key}:{secret[:-1]}1"
        )
    with pytest.raises(AuthenticationError):
        authenticate(rt, f"token unknown:{secret}")


def test_an_earlier_scrypt_hash_is_accepted_and_upgraded(rt):
    key, secret = issue_credentials(rt, BOB)
    legacy = hash_secret(secret, scheme="scrypt")
    u = tables.user
    rt.execute(sa.update(u).where(u.c.name == BOB).values(api_secret_hash=legacy))
    rt.commit()
    with pytest.raises(AuthenticationError):
        authenticate(rt, f"token {key}:{'0' * 32}")
    assert stored_hash(rt, BOB) == legacy  # a wrong secret upgrades nothing
    assert authenticate(rt, f"token {key}:{secret}") == BOB
    assert stored_hash(rt, BOB).startswith("hmac-sha256$")
    assert authenticate(rt, f"token {key}:{secret}") == BOB  # the same secret, now on the fast hash
