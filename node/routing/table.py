"""The route table: served model names -> plans of targets, compiled once per change.

A route's section (from at.yaml or the store; stored ones override YAML ones of the same name)
is compiled against the provider catalog into a :class:`RoutePlan`: its targets resolved to
catalog routes (aliases applied), grouped into priority tiers with their cumulative weights
precomputed, so choosing a target per request is a few comparisons and one random number.
Target states live here too, by ``provider/model``, and survive recompiles: a provider change
or a route edit does not forget a cool-down.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

import structlog

from node.catalog import Catalog, Route
from node.config import RouteSection, parse_route, to_plain
from node.errors import ModelNotFound
from node.routing.health import TargetState

__all__ = ["RoutePlan", "RouteTable", "Target", "Tier", "route_public"]

log = structlog.get_logger("node.routing")


@dataclass(frozen=True, slots=True, eq=False)
class Target:
    """One deployment of a route: ``name`` as written, ``route`` as the catalog resolves it."""

    name: str
    route: Route
    weight: float
    priority: int
    state: TargetState


@dataclass(frozen=True, slots=True)
class Tier:
    """The targets of one priority, with their running weight totals (for bisect)."""

    priority: int
    targets: tuple[Target, ...]
    cumulative: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """A compiled route; ``tiers`` lowest priority number first."""

    name: str
    section: RouteSection
    source: str  # "yaml" or "store"
    tiers: tuple[Tier, ...]
    targets: tuple[Target, ...]
    strategy: str
    retries: int
    retry_on: frozenset[str]
    timeout: float
    cooldown: float
    dropped: tuple[str, ...] = ()  # targets whose provider or model does not resolve now


class RouteTable:
    """Every route this node serves, read on the request path from memory only."""

    def __init__(self) -> None:
        self._yaml: dict[str, RouteSection] = {}
        self._stored: dict[str, RouteSection] = {}
        self._plans: dict[str, RoutePlan] = {}
        self._states: dict[str, TargetState] = {}
        self.broken: dict[str, str] = {}  # stored routes that cannot be read: name -> why

    # -- the request path -----------------------------------------------------------------

    def get(self, name: str) -> RoutePlan | None:
        return self._plans.get(name)

    def has(self, name: str) -> bool:
        """True when ``name`` is a route (a new provider key must not take it)."""
        return name in self._plans or name in self._yaml or name in self._stored

    def plans(self) -> Mapping[str, RoutePlan]:
        return self._plans

    # -- changes --------------------------------------------------------------------------

    def load(self, yaml: Mapping[str, RouteSection], stored: Mapping[str, Mapping[str, Any]],
             catalog: Catalog) -> None:
        """All routes at once (start, reconcile): stored ones override YAML ones."""
        self._yaml = dict(yaml)
        self._stored = {}
        self.broken = {}
        for name, config in stored.items():
            self._read_stored(name, config)
        self.rebuild(catalog)

    def set_stored(self, name: str, config: Mapping[str, Any] | None, catalog: Catalog) -> None:
        """Apply one stored route (None: deleted from the store; a YAML one shows through)."""
        self.broken.pop(name, None)
        self._stored.pop(name, None)
        if config is not None:
            self._read_stored(name, config)
        self.rebuild(catalog)

    def _read_stored(self, name: str, config: Mapping[str, Any]) -> None:
        try:
            # Providers are checked when compiling, against the catalog of the moment.
            self._stored[name] = parse_route(name, dict(config), None)
        except ValueError as exc:
            self.broken[name] = str(exc)
            log.error("stored route is invalid", route=name, error=str(exc))

    def rebuild(self, catalog: Catalog) -> None:
        """Compile every route against ``catalog`` (after any provider or route change)."""
        sections = {**self._yaml, **self._stored}
        plans = {name: self._compile(name, section, "store" if name in self._stored else "yaml",
                                     catalog)
                 for name, section in sections.items()}
        live = {target.name for plan in plans.values() for target in plan.targets}
        self._states = {name: state for name, state in self._states.items() if name in live}
        self._plans = plans

    def _compile(self, name: str, section: RouteSection, source: str,
                 catalog: Catalog) -> RoutePlan:
        targets: list[Target] = []
        dropped: list[str] = []
        for spec in section.targets:
            try:
                route = catalog.resolve(spec.model)
            except ModelNotFound:
                dropped.append(spec.model)
                continue
            if spec.model.partition("/")[0] != route.provider_key:
                dropped.append(spec.model)  # a bare alias of some provider: not a target
                continue
            state = self._states.get(spec.model)
            if state is None:
                state = self._states[spec.model] = TargetState(spec.model)
            targets.append(Target(spec.model, route, spec.weight, spec.priority, state))
        if dropped:
            log.warning("route targets dropped: their provider or model is gone", route=name,
                        targets=dropped)
        return RoutePlan(
            name=name, section=section, source=source, tiers=_tiers(targets),
            targets=tuple(targets), strategy=section.strategy, retries=section.retries,
            retry_on=frozenset(section.retry_on), timeout=float(section.timeout),
            cooldown=float(section.cooldown), dropped=tuple(dropped))

    # -- views ----------------------------------------------------------------------------

    def states(self) -> Iterable[TargetState]:
        return self._states.values()

    def stored_names(self) -> Iterable[str]:
        return self._stored.keys()


def _tiers(targets: list[Target]) -> tuple[Tier, ...]:
    tiers = []
    for priority in sorted({target.priority for target in targets}):
        members = tuple(target for target in targets if target.priority == priority)
        tiers.append(Tier(priority, members,
                          tuple(accumulate(target.weight for target in members))))
    return tuple(tiers)


def route_public(plan: RoutePlan, now: float | None = None) -> dict[str, Any]:
    """A route as the admin API shows it; with ``now``, each target's live state too."""
    data = to_plain(plan.section)
    data["name"] = plan.name
    data["source"] = plan.source
    if plan.dropped:
        data["unavailable_targets"] = list(plan.dropped)
    if now is not None:
        data["targets"] = [
            {**target, **_live(plan, target["model"], now)} for target in data["targets"]]
    return data


def _live(plan: RoutePlan, model: str, now: float) -> dict[str, Any]:
    for target in plan.targets:
        if target.name == model:
            return {"provider": target.route.provider_key, "upstream_model": target.route.model,
                    "state": target.state.public(now)}
    return {"state": {"status": "unavailable"}}
