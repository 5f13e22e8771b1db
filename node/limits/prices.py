"""Prices of models and the cost of each exchange, in USD.

A price comes from the provider's own ``prices`` (at.yaml or the admin API) when it names
the model, else from the ``genai-prices`` catalogue (Pydantic's maintained price list): looked
up by the vendor the provider type sells (openai, anthropic, google, azure), then by the model
name alone (an OpenAI-compatible server of another vendor's models). A key's
``price_multiplier`` scales both. Lookups are cached per (provider, model), so the request
path computes a cost with a few multiplications.

Usage is canonical: ``input_tokens`` excludes cache reads and writes, which are priced apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import structlog

from node.errors import BadRequest
from providers import Usage

if TYPE_CHECKING:
    from node.catalog import Catalog
    from node.config import ProviderSection

__all__ = ["CATALOGUE_VENDORS", "Price", "Prices", "Quote", "bound_of"]

log = structlog.get_logger("node.limits")

# Provider type -> the vendor id genai-prices files its prices under.
CATALOGUE_VENDORS: Final[Mapping[str, str]] = {
    "openai": "openai", "anthropic": "anthropic", "gemini": "google", "vertex": "google",
    "azure": "azure",
}
CACHE_LIMIT: Final = 4096  # (provider, model) pairs; clients may invent model names
_PER: Final = 1_000_000.0  # prices are per million tokens


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens. ``tiers``: (input tokens above which, the price then) for
    long-context cliffs, where crossing the threshold prices every token higher."""

    input: float
    output: float
    cache_read: float
    cache_write: float
    tiers: tuple[tuple[int, Price], ...] = ()

    def at(self, input_tokens: int) -> Price:
        """The price that applies to a request of ``input_tokens`` (all input counted)."""
        chosen = self
        for start, price in self.tiers:
            if input_tokens > start:
                chosen = price
        return chosen

    def peak(self) -> Price:
        """The highest price of every kind over the tiers (what a bound must assume)."""
        if not self.tiers:
            return self
        every = (self, *(price for _, price in self.tiers))
        return Price(max(p.input for p in every), max(p.output for p in every),
                     max(p.cache_read for p in every), max(p.cache_write for p in every))


@dataclass(frozen=True, slots=True)
class Quote:
    """A cost in USD; ``known`` is False when no price exists for the model (``usd`` 0)."""

    usd: float
    known: bool


UNKNOWN: Final = Quote(0.0, False)


class Prices:
    """Model prices for the node's providers; owned by the Gateway."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        # (provider key, model) -> (the section it was read under, the price or None)
        self._cache: dict[tuple[str, str], tuple[ProviderSection | None, Price | None]] = {}
        self._missing_logged = False

    def price(self, provider_key: str, model: str) -> Price | None:
        """The price of ``model`` (the upstream name) at ``provider_key``; None if unknown."""
        entry = self._catalog.get(provider_key)
        section = entry.section if entry is not None else None
        cached = self._cache.get((provider_key, model))
        # A provider changed through the admin API has a new section: look up again.
        if cached is not None and cached[0] is section:
            return cached[1]
        found = _override(section, model) if section is not None else None
        if found is None:
            found = self._catalogue(section.type if section is not None else "", model)
        if len(self._cache) >= CACHE_LIMIT:
            self._cache.clear()
        self._cache[(provider_key, model)] = (section, found)
        return found

    def quote(self, provider_key: str, model: str, usage: Usage,
              multiplier: float = 1.0) -> Quote:
        """What ``usage`` of ``model`` costs."""
        price = self.price(provider_key, model)
        if price is None:
            return UNKNOWN
        read, write = usage.cache_read_tokens, usage.cache_write_tokens
        rate = price.at(usage.input_tokens + read + write)
        usd = (usage.input_tokens * rate.input + usage.output_tokens * rate.output
               + read * rate.cache_read + write * rate.cache_write) / _PER
        return Quote(usd * multiplier, True)

    def cost(self, provider_key: str, model: str, usage: Usage,
             multiplier: float = 1.0) -> float:
        """What ``usage`` of ``model`` costs in USD (0.0 when no price is known)."""
        return self.quote(provider_key, model, usage, multiplier).usd

    def bound(self, provider_key: str, model: str, input_tokens: int, output_tokens: int,
              multiplier: float = 1.0, *, required: bool = False) -> float:
        """The most a request can cost: every input token at the input price (cached ones
        may cost more to write) and ``output_tokens`` at the output price, at the highest
        tier. ``required``: the key has a USD limit, so an unknown price is a 400 rather
        than a free pass; otherwise an unknown price bounds at 0.0."""
        rates = self.bound_rates(provider_key, model, required=required)
        return 0.0 if rates is None else bound_of(rates, input_tokens, output_tokens,
                                                  multiplier)

    def bound_rates(self, provider_key: str, model: str, *,
                    required: bool = False) -> tuple[float, float] | None:
        """The (input, output) prices a bound assumes (see :meth:`bound`); None when
        unknown, or a 400 when ``required``. Admission keeps them with a key's plan."""
        price = self.price(provider_key, model)
        if price is None:
            if required:
                raise BadRequest(
                    f"no known price for '{provider_key}/{model}': this key has a USD limit; "
                    f"set providers.{provider_key}.prices", param="model")
            return None
        peak = price.peak()
        return max(peak.input, peak.cache_write), peak.output

    def warm(self) -> None:
        """Load the catalogue now (it takes a moment) instead of on the first request."""
        self._snapshot()

    def _catalogue(self, provider_type: str, model: str) -> Price | None:
        snapshot = self._snapshot()
        if snapshot is None:
            return None
        vendor = CATALOGUE_VENDORS.get(provider_type)
        # Vertex's OpenAI endpoint names models "google/<model>": try the bare name too.
        names = (model, model.rpartition("/")[2]) if "/" in model else (model,)
        for name in names:
            for provider_id in (vendor, None) if vendor else (None,):
                try:
                    _, info = snapshot.find_provider_model(name, None, provider_id, None)
                except LookupError:
                    continue
                return _from_catalogue(info)
        return None

    def _snapshot(self) -> Any:
        try:
            # Imported on first use: the catalogue takes most of a second to load.
            from genai_prices import data_snapshot
        except ImportError:
            if not self._missing_logged:
                self._missing_logged = True
                log.error("the genai-prices package is not installed: only providers' own "
                          "prices are known (pip install 'genai-prices>=0.2.3')")
            return None
        return data_snapshot.get_snapshot()


def bound_of(rates: tuple[float, float], input_tokens: int, output_tokens: int,
             multiplier: float) -> float:
    """USD of ``input_tokens`` and ``output_tokens`` at ``rates`` (see Prices.bound_rates)."""
    return (input_tokens * rates[0] + output_tokens * rates[1]) / _PER * multiplier


def _override(section: ProviderSection, model: str) -> Price | None:
    given = section.prices.get(model)
    if given is None:
        return None
    input_price = given["input"]
    # Unset cache prices default to the input price: never cheaper than it may really be
    # for writes, and a reasonable stand-in for reads.
    return Price(input_price, given["output"], given.get("cache_read", input_price),
                 given.get("cache_write", input_price))


def _from_catalogue(info: Any) -> Price | None:
    prices = info.get_prices(datetime.now(UTC))
    kinds = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")
    raw = tuple(getattr(prices, kind, None) for kind in kinds)
    if raw[0] is None and raw[1] is None:
        return None  # priced per image, second or request: not a token price
    starts = sorted({tier.start for value in raw for tier in getattr(value, "tiers", ())})
    tiers = tuple((start, _price_over(raw, start)) for start in starts)
    return Price(*_fields(_price_over(raw, -1)), tiers=tiers)


def _fields(price: Price) -> tuple[float, float, float, float]:
    return price.input, price.output, price.cache_read, price.cache_write


def _price_over(raw: tuple[Any, ...], start: int) -> Price:
    """The price for requests of more than ``start`` input tokens; unset cache prices are
    the input price (a write is never cheaper than input, a read at most as dear)."""
    input_price = _tier(raw[0], start)
    read = _tier(raw[2], start) if raw[2] is not None else input_price
    write = _tier(raw[3], start) if raw[3] is not None else input_price
    return Price(input_price, _tier(raw[1], start), read, write)


def _tier(value: Any, start: int) -> float:
    """``value`` (a number or genai-prices' tiered prices) over ``start`` input tokens."""
    if value is None:
        return 0.0
    chosen = getattr(value, "base", value)
    for tier in getattr(value, "tiers", ()):
        if start >= tier.start:
            chosen = tier.price
    return float(chosen)
