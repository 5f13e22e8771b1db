"""The test-only rotation fault is a config key (``store.rotation_fault``), not a side door."""

from __future__ import annotations

import pytest

from node.config import load_settings, store_config
from node.errors import ConfigError


def test_env_overlay_arms_the_store_config() -> None:
    settings = load_settings(None, {"AT_STORE_ROTATION_FAULT": "mid-reencrypt"})
    assert store_config(settings).rotation_fault == "mid-reencrypt"
    unset = load_settings(None, {"AT_STORE_ROTATION_FAULT": ""})
    assert store_config(unset).rotation_fault is None  # "" (compose's default) is off


def test_the_old_variable_is_no_longer_special() -> None:
    # It used to be skipped by the overlay and read by the store itself; now it is just an
    # AT_* name that names no config key.
    with pytest.raises(ConfigError, match="AT_ROTATION_FAULT: does not name a config key"):
        load_settings(None, {"AT_ROTATION_FAULT": "after-prepare"})


def test_unknown_step_names_the_key() -> None:
    settings = load_settings(None, {"AT_STORE_ROTATION_FAULT": "after-lunch"})
    with pytest.raises(ConfigError, match=r"^store\.rotation_fault: 'after-lunch' is not valid"):
        store_config(settings)
