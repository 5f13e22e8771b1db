"""The rotation fault hook: a test-only way to kill the process at a named rotation step.

Steps, in order: ``after-prepare``, ``after-activate``, ``mid-reencrypt``,
``after-reencrypt``, ``before-retire``. A step fires when it is named by the ``fault=``
argument of ``Store.rotate_key`` or by the environment variable ``AT_ROTATION_FAULT``; the
process then ends at once with ``os._exit(137)`` (what SIGKILL looks like to a parent), so no
cleanup runs and the database is left exactly as a crash would leave it. Production never
sets either.
"""

from __future__ import annotations

import os

FAULT_ENV = "AT_ROTATION_FAULT"
FAULT_STEPS = ("after-prepare", "after-activate", "mid-reencrypt", "after-reencrypt",
               "before-retire")


def armed_fault(fault: str | None) -> str | None:
    """The fault point for one rotate_key call: the argument, else the environment's.

    Read once per rotation, so resuming an interrupted rotation at start never fires it.
    """
    return fault or os.environ.get(FAULT_ENV) or None


def maybe_fault(step: str, fault: str | None) -> None:
    """Exit the process with status 137 if ``step`` is the armed fault point."""
    if fault is not None and step == fault:
        os._exit(137)
