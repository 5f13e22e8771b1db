"""The README's client snippets, as the real-client tests run them: a snippet is the first
fenced block of a language after a line starting with a marker, in the Clients section; a
test swaps only the gateway's address, the key and the model name for the test node's."""

from __future__ import annotations

from pathlib import Path

__all__ = ["adapted", "gateway", "snippet"]

README = Path(__file__).resolve().parents[2] / "README.md"
URL = "http://localhost:8080"
KEY = "at-..."
MODEL = "anthropic/claude-sonnet-4-5"


def snippet(marker: str, lang: str, *, nth: int = 0) -> str:
    """The ``nth`` ``lang`` block after the first line of the Clients section starting with
    ``marker``."""
    text = README.read_text()
    section = text[text.index("### Clients"):]
    lines = section[section.index(f"\n{marker}"):].splitlines()
    blocks: list[str] = []
    inside: list[str] | None = None
    for line in lines:
        if inside is None and line.strip() == f"```{lang}":
            inside = []
        elif inside is not None and line.strip() == "```":
            blocks.append("\n".join(inside) + "\n")
            inside = None
            if len(blocks) > nth:
                return blocks[nth]
        elif inside is not None:
            inside.append(line)
    raise AssertionError(f"README: no {lang} block #{nth} after {marker!r}")


def adapted(code: str, swaps: dict[str, str]) -> str:
    """``code`` with each swap made; every swap must find its text (a README edit that moves
    it fails the test instead of silently testing something else)."""
    for old, new in swaps.items():
        assert old in code, f"README snippet lost {old!r}:\n{code}"
        code = code.replace(old, new)
    return code


def gateway(url: str, model: str, key: str | None = None) -> dict[str, str]:
    """The swaps that point a snippet at a test node (its URL, model and key)."""
    swaps = {URL: url, MODEL: model}
    if key is not None:
        swaps[f'"{KEY}"'] = f'"{key}"'
    return swaps
