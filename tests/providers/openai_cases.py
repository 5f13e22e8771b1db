"""What the OpenAI adapter tests share: the request body they send and the config factory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from providers import ProviderConfig

ConfigFor = Callable[..., ProviderConfig]
BODY: dict[str, Any] = {
    "model": "up/alias",
    "messages": [{"role": "user", "content": "Hi"}],
    "temperature": 0.2,
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
    "metadata": {"anything": ["passes", 1, None]},
}
