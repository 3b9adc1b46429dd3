"""Canonical JSON: the same meaning hashes the same, and nothing is hashed by repr."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from decimal import Decimal

import pytest

from dartwing.dartwing_core.background_jobs.errors import InvalidInputError
from dartwing.dartwing_core.background_jobs.hashing import canonical_json, parameters_hash


def test_key_order_does_not_matter():
    assert canonical_json({"b": 1, "a": {"y": 2, "x": 3}}) == canonical_json({"a": {"x": 3, "y": 2}, "b": 1})


def test_types_are_spelled_one_way():
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    value = {
        "when": datetime(2026, 1, 2, 3, 4, 5),
        "day": date(2026, 1, 2),
        "t": time(1, 2),
        "amount": Decimal("1.50"),
        "id": u,
        "tags": {"b", "a"},
    }
    assert canonical_json(value) == (
        '{"amount":"1.5","day":"2026-01-02","id":"12345678-1234-5678-1234-567812345678",'
        '"t":"01:02:00","tags":["a","b"],"when":"2026-01-02T03:04:05"}'
    )
    assert canonical_json({"amount": Decimal("1.5")}) == canonical_json({"amount": Decimal("1.500")})


def test_hash_depends_on_type_org_and_params():
    params = canonical_json({"a": 1})
    base = parameters_hash("echo", "Org A", params)
    assert base == parameters_hash("echo", "Org A", canonical_json({"a": 1}))
    assert base != parameters_hash("echo", "Org B", params)
    assert base != parameters_hash("noop", "Org A", params)
    assert base != parameters_hash("echo", "Org A", canonical_json({"a": 2}))
    assert len(base) == 64


@pytest.mark.parametrize("bad", [{"x": object()}, {"x": float("nan")}, {"x": b"bytes"}])
def test_unserialisable_values_are_rejected(bad):
    with pytest.raises(InvalidInputError):
        canonical_json(bad)
