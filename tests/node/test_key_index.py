"""Key index and scope rules, without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from node.key_index import KeyIndex, hash_key, model_allowed, new_key
from store import ApiKeyRecord


def _record(key: str, **fields: object) -> ApiKeyRecord:
    base: dict[str, object] = {
        "id": "k_" + key[-6:], "name": "n", "key_hash": hash_key(key), "prefix": key[:10],
        "providers": None, "models": None, "expires_at": None, "enabled": True,
        "created_at": datetime.now(UTC),
    }
    return ApiKeyRecord(**{**base, **fields})  # type: ignore[arg-type]


def test_new_keys_are_unique_and_long() -> None:
    keys = {new_key() for _ in range(1000)}
    assert len(keys) == 1000
    assert all(k.startswith("at-") and len(k) == 46 for k in keys)


def test_lookup_honours_enabled_and_expiry() -> None:
    live, off, old = new_key(), new_key(), new_key()
    index = KeyIndex([
        _record(live), _record(off, enabled=False),
        _record(old, expires_at=datetime.now(UTC) - timedelta(seconds=1)),
    ])
    assert index.lookup(live) is not None
    assert index.lookup(off) is None and index.lookup(old) is None
    assert index.lookup(live + "x") is None and index.lookup("") is None


def test_a_reload_that_raced_a_revocation_does_not_bring_the_key_back() -> None:
    key = new_key()
    record = _record(key)
    index = KeyIndex([record])
    generation = index.generation
    stale_read = [record]            # read from the database before the delete committed
    index.remove(record.id)          # the revocation notice lands meanwhile
    assert not index.replace_all(stale_read, if_generation=generation)
    assert index.lookup(key) is None
    assert index.replace_all([], if_generation=index.generation)


def test_scopes_need_both_dimensions() -> None:
    key = new_key()
    assert model_allowed(_record(key), "any", "thing")
    only_openai = _record(key, providers=("openai",))
    assert model_allowed(only_openai, "openai", "gpt-4o")
    assert not model_allowed(only_openai, "anthropic", "claude")
    both = _record(key, providers=("openai",), models=("openai/gpt-4o-mini", "anthropic/*"))
    assert model_allowed(both, "openai", "gpt-4o-mini")
    assert not model_allowed(both, "openai", "gpt-4o")
    assert not model_allowed(both, "anthropic", "claude")  # provider list says no
    wildcard = _record(key, models=("anthropic/*",))
    assert model_allowed(wildcard, "anthropic", "claude-haiku-4-5")
    assert not model_allowed(wildcard, "openai", "gpt-4o")
