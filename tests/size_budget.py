"""Fail when a module outgrows the size budget (800 lines; see STYLE practice 1)."""

from __future__ import annotations

import sys
from pathlib import Path

BUDGET = 800
ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    over = [
        f"{path.relative_to(ROOT)}: {count} lines"
        for package in ("node", "providers", "store", "cluster")
        for path in sorted((ROOT / package).rglob("*.py"))
        if (count := len(path.read_text().splitlines())) > BUDGET
    ]
    for line in over:
        print(f"over the {BUDGET}-line budget: {line}", file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
