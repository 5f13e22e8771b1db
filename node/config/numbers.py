"""Whole numbers in the configuration: 64 bits at most, what the store and every JSON answer
can hold. Unbounded, a 400-digit value (a string coerced to int, or YAML's big integers) was
stored, and every listing that showed it then failed to encode."""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = ["Int"]

Int = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
