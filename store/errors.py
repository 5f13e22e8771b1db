"""The store's exception tree; every backend error is translated into it at the boundary.

::

    StoreError
     ├── ConfigError(StoreError, ValueError)     an invalid StoreConfig field
     ├── NotFound(StoreError, KeyError)          a record that must exist does not
     ├── Conflict(StoreError)                    a uniqueness or compare-and-set check failed
     │    └── ConcurrentRotation(Conflict)       another rotation holds or changed the keyring
     ├── StoreUnavailable(StoreError, ConnectionError)   the database cannot be reached
     ├── WrongPassphrase(StoreError, ValueError) the passphrase does not match the database
     ├── BadRecord(StoreError, ValueError)       a value the database refuses, or a stored row
     │                                           that cannot be read back (retrying cannot help)
     ├── DecryptError(StoreError)                a stored value failed authentication
     └── StaleKey(StoreError)                    this node lacks the key material to proceed
"""

from __future__ import annotations


class StoreError(Exception):
    """Root of every error raised by the store package."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(StoreError, ValueError):
    """A ``StoreConfig`` field is invalid; the message names the field and what was expected."""


class NotFound(StoreError, KeyError):
    """A record that the operation needs does not exist."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.message


class Conflict(StoreError):
    """A uniqueness constraint or a compare-and-set precondition failed."""


class ConcurrentRotation(Conflict):
    """Another key rotation holds or already changed the active key version (HTTP 409)."""


class StoreUnavailable(StoreError, ConnectionError):
    """The database could not be reached or refused the operation for a transient reason."""


class WrongPassphrase(StoreError, ValueError):
    """The configured passphrase does not match the check value stored in the database."""


class BadRecord(StoreError, ValueError):
    """A record whose values the database refuses, or a stored row that cannot be read back.

    Unlike StoreUnavailable this is about the data, not the database: the same record fails
    the same way every time, so a batch writer sets it aside instead of retrying it.
    """


class DecryptError(StoreError):
    """A stored ciphertext failed authentication: tampered, moved, or under an unknown key."""


class StaleKey(StoreError):
    """This node does not hold the key material the database requires (see import_key_material)."""
