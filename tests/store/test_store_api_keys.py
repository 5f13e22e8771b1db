"""Stored API key rows: the policy round trip, and rows that cannot brick a node (extreme
times, unreadable rows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from structlog.testing import capture_logs

from store import ApiKeyRecord, Store, StoreError
from store.errors import BadRecord
from store.usage import EARLIEST, LATEST

from .conftest import Opener, StoreFactory, raw_sql

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NEVER = 253402300799.999999  # 9999-12-31T23:59:59.999999Z as stored seconds


def api_key(key_id: str, **changes: object) -> ApiKeyRecord:
    values: dict[str, object] = {"id": key_id, "name": "ci", "key_hash": key_id.ljust(64, "0"),
                                 "prefix": "atk-123456", "providers": ("openai",),
                                 "models": None, "expires_at": None, "enabled": True,
                                 "created_at": NOW}
    values.update(changes)
    return ApiKeyRecord(**values)  # type: ignore[arg-type]


async def test_times_beyond_datetime_read_back_clamped(opener: Opener,
                                                      sql_config_for: StoreFactory) -> None:
    config = sql_config_for()
    store = await opener(config)
    for key_id in ("k_never", "k_far", "k_past"):
        await store.create_api_key(api_key(key_id))
    await raw_sql(config, "api_keys",
                  f"UPDATE {{table}} SET expires_at = {NEVER} WHERE id = 'k_never'",
                  "UPDATE {table} SET expires_at = 1e300, created_at = 1e300 WHERE id = 'k_far'",
                  "UPDATE {table} SET expires_at = -1e300 WHERE id = 'k_past'")
    keys = {k.id: k for k in await store.list_api_keys()}
    assert keys["k_never"].expires_at == LATEST
    assert (keys["k_far"].expires_at, keys["k_far"].created_at) == (LATEST, LATEST)
    assert keys["k_past"].expires_at == EARLIEST
    got = await store.get_api_key("k_never")
    assert got is not None and got.expires_at == LATEST
    # "never" written through the store reads back as itself
    await store.update_api_key(api_key("k_past", expires_at=LATEST))
    again = await store.get_api_key("k_past")
    assert again is not None and again.expires_at == LATEST


async def test_an_unreadable_row_is_left_out_and_logged(opener: Opener,
                                                        sql_config_for: StoreFactory) -> None:
    config = sql_config_for()
    store = await opener(config)
    bad = ("k_json", "k_policy_json", "k_policy_list", "k_shape")
    for key_id in ("k_good", *bad):
        await store.create_api_key(api_key(key_id))
    await raw_sql(config, "api_keys",
                  "UPDATE {table} SET providers = 'not json' WHERE id = 'k_json'",
                  "UPDATE {table} SET models = '{{\"a\": 1}}' WHERE id = 'k_shape'",
                  "UPDATE {table} SET policy = '{{' WHERE id = 'k_policy_json'",
                  "UPDATE {table} SET policy = '[1]' WHERE id = 'k_policy_list'")
    with capture_logs() as logs:
        listed = await store.list_api_keys()
    assert [k.id for k in listed] == ["k_good"]
    assert sorted(e["key_id"] for e in logs if e["log_level"] == "error") == list(bad)
    for key_id in bad:
        with pytest.raises(BadRecord, match=key_id):
            await store.get_api_key(key_id)


async def test_writing_an_expiry_out_of_range_is_a_store_error(store: Store) -> None:
    beyond = datetime.max.replace(tzinfo=timezone(timedelta(hours=-5)))  # past 9999 in UTC
    with pytest.raises(BadRecord) as caught:
        await store.create_api_key(api_key("k_1", expires_at=beyond))
    assert isinstance(caught.value, StoreError) and isinstance(caught.value, ValueError)
    assert await store.list_api_keys() == []
    await store.create_api_key(api_key("k_1"))
    with pytest.raises(BadRecord):
        await store.update_api_key(api_key("k_1", expires_at=beyond))
    got = await store.get_api_key("k_1")
    assert got is not None and got.expires_at is None


POLICY = {"limits": {"requests_per_minute": 60, "usd_per_day": 5.5, "max_concurrent": 4},
          "max_output_tokens": 2000, "max_input_tokens": None, "price_multiplier": 1.25,
          "system_prompt": "Answer in French. \u00e9\u2713 \"quoted\"\n",
          "default_model": "openai/gpt-4o"}


async def test_the_policy_round_trips(store: Store) -> None:
    plain = api_key("k_plain")
    await store.create_api_key(plain)
    got = await store.get_api_key("k_plain")
    assert got is not None and got.policy == {}
    await store.create_api_key(api_key("k_policy", policy=POLICY))
    got = await store.get_api_key("k_policy")
    assert got is not None and got.policy == POLICY
    changed = {**POLICY, "limits": {"requests_per_minute": 30}, "system_prompt": None}
    await store.update_api_key(api_key("k_policy", policy=changed))
    assert {k.id: k.policy for k in await store.list_api_keys()} == {
        "k_plain": {}, "k_policy": changed}


@pytest.mark.parametrize("policy", [{"limits": {1, 2}}, {"price_multiplier": float("nan")},
                                    {"limits": {"usd_per_day": float("inf")}}])
async def test_a_policy_json_cannot_hold_is_refused(store: Store,
                                                    policy: dict[str, object]) -> None:
    with pytest.raises(BadRecord, match="k_1"):
        await store.create_api_key(api_key("k_1", policy=policy))
    assert await store.list_api_keys() == []
    await store.create_api_key(api_key("k_1", policy={"system_prompt": "x"}))
    with pytest.raises(BadRecord):
        await store.update_api_key(api_key("k_1", policy=policy))
    got = await store.get_api_key("k_1")
    assert got is not None and got.policy == {"system_prompt": "x"}
