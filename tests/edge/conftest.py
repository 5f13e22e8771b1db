from __future__ import annotations

from pathlib import Path

import pytest

from tests.edge.ca import TestCA


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA(tmp_path)
