"""A rotating process killed at every fault step; the next open/rotation completes it.

Each case runs a real subprocess that opens the store and rotates with
``StoreConfig.rotation_fault`` set; the process ends with status 137 at that step, leaving the
database as a crash would. The environment arms nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
from pathlib import Path

import pytest

from store import FAULT_STEPS, ConfigError, StoreConfig

from .conftest import Opener, StoreFactory, raw_rows
from .keycheck import assert_consistent, assert_no_plaintext
from .test_store_keys import SECRETS, assert_all_readable, seed

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import asyncio, json, sys
from store import KdfParams, StoreConfig, open_store
cfg = json.loads(sys.argv[1])
cfg["kdf"] = KdfParams(**cfg["kdf"])
async def main():
    store = await open_store(StoreConfig(**cfg))
    await store.rotate_key(json.loads(sys.argv[2]))
    await store.close()
asyncio.run(main())
"""


async def run_rotation(config: StoreConfig, new: str | None,
                       env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run one rotation in a child process; its exit status and stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SCRIPT, json.dumps(dataclasses.asdict(config)), json.dumps(new),
        env={**os.environ, **(env or {})}, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, err.decode()


async def rotate_in_subprocess(config: StoreConfig, new: str | None, step: str) -> int:
    """Run one rotation in a child process armed (by its config) to die at ``step``."""
    status, err = await run_rotation(dataclasses.replace(config, rotation_fault=step), new)
    assert status == 137, err
    return status


async def test_the_environment_arms_no_fault() -> None:
    """Only the config arms a fault: the old AT_ROTATION_FAULT variable is ignored."""
    config = StoreConfig(kind="memory", encryption_key="pw")
    status, err = await run_rotation(config, None, {"AT_ROTATION_FAULT": "after-prepare"})
    assert status == 0, err
    status, _ = await run_rotation(dataclasses.replace(config, rotation_fault="after-activate"),
                                   None)
    assert status == 137


def test_rotation_fault_must_name_a_step() -> None:
    with pytest.raises(ConfigError, match=r"^rotation_fault: 'after-lunch' is not valid: "
                                          r"expected one of after-prepare, .*before-notify$"):
        StoreConfig(kind="memory", rotation_fault="after-lunch")
    assert StoreConfig(kind="memory", rotation_fault="before-notify").rotation_fault


@pytest.mark.parametrize("step", FAULT_STEPS)
@pytest.mark.parametrize("new", [None, "new", ""], ids=["dek", "passphrase", "off"])
async def test_crash_at_every_step_is_completed(
        opener: Opener, sql_config_for: StoreFactory, step: str,
                                                new: str | None) -> None:
    config = sql_config_for(encryption_key="pw")
    store = await opener(config)
    await seed(store)
    await store.close()
    await rotate_in_subprocess(config, new, step)

    activated = step != "after-prepare"
    # Nodes keep their configured passphrase until the admin edits it. A passphrase change
    # is finished by a node started with the new passphrase (before activation too: it
    # rolls the prepared change forward); "off" still needs the old one to decrypt.
    passphrase = "new" if new == "new" else "pw"
    reopened = await opener(dataclasses.replace(config, encryption_key=passphrase))
    await assert_all_readable(reopened)
    if not activated and new != "new":
        assert reopened.key_version == 1
        pending = any(row[2] == "pending" for row in await raw_rows(config, "keyring"))
        assert pending == (new is None)  # turning encryption off stages no key
        await reopened.rotate_key(new)  # drops the dead rotator's pending key, rotates
    expected = 0 if new == "" else 2
    assert reopened.key_version == expected
    assert await assert_consistent(config) == expected
    await assert_all_readable(reopened)
    if expected:
        await assert_no_plaintext(config, SECRETS)
    await reopened.close()


async def test_old_passphrase_after_prepared_change_keeps_working(
        opener: Opener, sql_config_for: StoreFactory) -> None:
    config = sql_config_for(encryption_key="pw")
    store = await opener(config)
    await seed(store)
    await store.close()
    await rotate_in_subprocess(config, "new", "after-prepare")
    reopened = await opener(config)  # still "pw": the change never activated
    assert reopened.key_version == 1 and not reopened.needs_key_material
    await assert_all_readable(reopened)
    assert (await reopened.rotate_key("newer")).version == 2
    assert await assert_consistent(config) == 2
    await assert_all_readable(reopened)
