"""The rotation fault hook: a test-only way to kill the process at a named rotation step.

Steps, in order: ``after-prepare``, ``after-activate``, ``mid-reencrypt``,
``after-reencrypt``, ``before-retire`` inside ``Store.rotate_key``, then ``before-notify``,
which the caller fires after the rotation committed and before any peer is told. A step is
armed by the ``fault=`` argument of ``Store.rotate_key`` or by ``StoreConfig.rotation_fault``
(the node's test-only ``store.rotation_fault`` key); the process then ends at once with
``os._exit(FAULT_EXIT)`` (137, what SIGKILL looks like to a shell), so no cleanup runs and the
database is left exactly as a crash would leave it. The step stands for the *node* being
killed: a node's supervisor that sees a worker end with ``FAULT_EXIT`` ends the node the same
way (a worker really killed by a signal has a negative status and is only restarted).
Production never sets either.
"""

from __future__ import annotations

import os

FAULT_STEPS = ("after-prepare", "after-activate", "mid-reencrypt", "after-reencrypt",
               "before-retire")
NOTIFY_FAULT = "before-notify"
ROTATION_FAULTS = (*FAULT_STEPS, NOTIFY_FAULT)
FAULT_EXIT = 137


def armed_fault(fault: str | None, configured: str | None) -> str | None:
    """The fault point for one rotate_key call: the argument, else the configured one.

    Read once per rotation, so resuming an interrupted rotation at start never fires it.
    """
    return fault or configured or None


def maybe_fault(step: str, fault: str | None) -> None:
    """Exit the process with ``FAULT_EXIT`` if ``step`` is the armed fault point."""
    if fault is not None and step == fault:
        os._exit(FAULT_EXIT)
