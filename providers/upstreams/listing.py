"""Upstream model lists, one reader per wire format, and the bounds of the admin's upstream
calls (a provider test and a model list).

Each reader takes one page as the upstream sent it (a JSON object) and returns the models on
it, normalised to ``UpstreamModel``, and the cursor of the next page ("" on the last one).
Pure: ``HttpAdapter._listed`` does the IO and follows the cursors.

=========  ==============================  ======================  =========================
format     list                            model id                next page
=========  ==============================  ======================  =========================
openai     ``data[].id``, ``owned_by``     as listed               (one page)
anthropic  ``data[].id``                   as listed               ``after_id=<last_id>``
                                                                   while ``has_more``
gemini     ``models[].name``               ``models/`` removed     ``pageToken``
vertex     ``publisherModels[].name``      ``google/<model>``      ``pageToken``
azure      ``data[].id`` (deployments)     the deployment name     (one page)
=========  ==============================  ======================  =========================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from providers.errors import UpstreamServerError
from providers.types import UpstreamModel

__all__ = [
    "LIST_TIMEOUT",
    "MAX_MODEL_PAGES",
    "MODEL_LIST_LIMIT",
    "PROBE_PROMPT",
    "PROBE_TIMEOUT",
    "PageReader",
    "anthropic_page",
    "azure_page",
    "gemini_page",
    "openai_page",
    "vertex_page",
]

PROBE_TIMEOUT: Final = 10.0
"""Longest a provider test (or one page of a model list) may take, connecting included: an
admin waiting on a dead upstream gets an answer, not the provider's long request timeout."""
LIST_TIMEOUT: Final = 30.0
"""Longest a whole model list may take, all its pages together."""
MAX_MODEL_PAGES: Final = 20
"""Pages of a model list followed at most (1000 models a page where the API allows it)."""
MODEL_LIST_LIMIT: Final = 8 * 1024 * 1024
"""Largest model-list page read (Vertex's publisher pages are the biggest, well under this)."""
PROBE_PROMPT: Final = "ping"

PageReader = Callable[[dict[str, Any], str], tuple[list[UpstreamModel], str]]
"""(one page, provider key) -> (its models, the next page's cursor or "")."""


def _entries(page: dict[str, Any], field: str, provider: str) -> list[dict[str, Any]]:
    entries = page.get(field, [])
    if not isinstance(entries, list):
        raise UpstreamServerError(
            f"upstream {provider!r} answered its model list without a {field!r} list",
            provider=provider,
        )
    return [entry for entry in entries if isinstance(entry, dict)]


def _cursor(value: object) -> str:
    return value if isinstance(value, str) else ""


def openai_page(page: dict[str, Any], provider: str) -> tuple[list[UpstreamModel], str]:
    """``GET /v1/models`` of OpenAI and the servers that copy it (one page)."""
    models = [
        UpstreamModel(entry["id"], _cursor(entry.get("owned_by")) or provider)
        for entry in _entries(page, "data", provider) if isinstance(entry.get("id"), str)
    ]
    return models, ""


def anthropic_page(page: dict[str, Any], provider: str) -> tuple[list[UpstreamModel], str]:
    """``GET /v1/models``: ``has_more`` and ``last_id`` lead to the next page."""
    models = [
        UpstreamModel(entry["id"], "anthropic")
        for entry in _entries(page, "data", provider) if isinstance(entry.get("id"), str)
    ]
    return models, _cursor(page.get("last_id")) if page.get("has_more") is True else ""


def gemini_page(page: dict[str, Any], provider: str) -> tuple[list[UpstreamModel], str]:
    """``GET /v1beta/models``: names are ``models/<id>``; requests name the bare id."""
    models = [
        UpstreamModel(entry["name"].removeprefix("models/"), "google")
        for entry in _entries(page, "models", provider) if isinstance(entry.get("name"), str)
    ]
    return models, _cursor(page.get("nextPageToken"))


def vertex_page(page: dict[str, Any], provider: str) -> tuple[list[UpstreamModel], str]:
    """``GET /v1beta1/publishers/google/models``: ``publishers/google/models/<id>`` becomes
    ``google/<id>``, the name Vertex's OpenAI-compatible endpoint takes."""
    models = []
    for entry in _entries(page, "publisherModels", provider):
        name = entry.get("name")
        if not isinstance(name, str):
            continue
        publisher, sep, model = name.removeprefix("publishers/").partition("/models/")
        models.append(UpstreamModel(f"{publisher}/{model}" if sep else name, publisher))
    return models, _cursor(page.get("nextPageToken"))


def azure_page(page: dict[str, Any], provider: str) -> tuple[list[UpstreamModel], str]:
    """``GET /openai/deployments``: a request names the deployment, so its id is listed."""
    models = [
        UpstreamModel(entry["id"], _cursor(entry.get("owner")) or "azure")
        for entry in _entries(page, "data", provider) if isinstance(entry.get("id"), str)
    ]
    return models, ""
