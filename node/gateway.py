"""The node's in-memory view and the services the routes share.

:class:`Gateway` owns the store, the provider catalog, the key index, metrics, the usage
queue, the limits (leased slices of every key's and provider's allowances) and the route
table. Everything the request path reads is here, in memory; admin changes and cluster change
notices update single items (``reload_provider``/``reload_route``/``reload_key``) from the
store.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
import structlog

from node.bootstrap import ADMIN_TOKEN_SETTING
from node.catalog import Catalog
from node.config import Settings
from node.errors import ConfigError
from node.key_index import KeyIndex, hash_key, secret_matches
from node.limits import Janitor, LeaseCache, Limits
from node.limits.prices import Prices
from node.metrics import Metrics
from node.routing import RouteTable
from node.serve.finished import Accounting, FinishedHook
from providers import ClientPool, ProviderError
from store import DecryptError, StaleKey, Store, UsageWriter

if TYPE_CHECKING:
    from node.cluster_link import ClusterLink
    from node.telemetry.tracing import Tracing

log = structlog.get_logger("node.gateway")

T = TypeVar("T")


class Gateway:
    """Shared state of one node; built by :func:`node.app.create_app`."""

    def __init__(self, settings: Settings, store: Store, pool: ClientPool, *,
                 workers: int = 1) -> None:
        self.settings = settings
        self.store = store
        self.pool = pool
        self.catalog = Catalog(pool)
        self.routes = RouteTable()
        self.prices = Prices(self.catalog)
        self.keys = KeyIndex()
        self.metrics = Metrics()
        self.usage = UsageWriter(store, interval=float(settings.server.usage_flush_interval))
        self.metrics.add_gauges(
            "at_usage_writer", "Usage writer counters (written, dropped, rejected, failures)",
            lambda: {"written": self.usage.written, "dropped": self.usage.dropped,
                     "rejected": self.usage.rejected, "failures": self.usage.failures},
        )
        # Called once per finished exchange (node.serve.finished): usage accounting first.
        self.finished_hooks: list[FinishedHook] = [
            Accounting(self.metrics, self.usage, self.catalog)]
        self.started = time.time()
        cluster = settings.cluster_section
        # max_concurrent is split evenly between the serving processes the cluster is sized
        # for: its replicas, times this node's workers.
        self.workers = workers
        replicas = cluster.replicas if cluster is not None else 1
        self.limits = Limits(LeaseCache(store), self.metrics, replicas * workers,
                             janitor=Janitor(store))
        self.admin_token_sha256 = (
            hash_key(settings.server.admin_token) if settings.server.admin_token else ""
        )
        # Set by the telemetry context when telemetry.otlp_endpoint is (node.telemetry).
        self.tracing: Tracing | None = None
        # Set by the audit context when audit.bodies is not off: exchanges keep (references to)
        # the bodies they carried for the audit record (node.serve.finished.Bodies).
        self.keep_bodies = False
        # Set by the cluster context when clustering is configured.
        self.cluster: ClusterLink | None = None
        self.broken_providers: dict[str, str] = {}
        self.rotation_lock = asyncio.Lock()
        self.stale_key = False
        self._stored_snapshot: dict[str, Mapping[str, Any]] = {}
        self._routes_snapshot: dict[str, Mapping[str, Any]] = {}
        self.metrics.add_gauges(
            "at_route_targets_cooling_down", "Route targets cooling down on this node (1) or not",
            self._cooling, merge="max")
        self._tasks: set[asyncio.Task[Any]] = set()
        self._admin_http: aiohttp.ClientSession | None = None

    def admin_http(self) -> aiohttp.ClientSession:
        """A session for forward-auth calls; upstream calls use the lean ``pool`` instead."""
        if self._admin_http is None:
            # trust_env off: HTTP_PROXY must not silently reroute an auth decision.
            self._admin_http = aiohttp.ClientSession(trust_env=False)
        return self._admin_http

    async def close_admin_http(self) -> None:
        if self._admin_http is not None:
            await self._admin_http.close()
            self._admin_http = None

    def spawn(self, work: Coroutine[Any, Any, T], *, name: str) -> asyncio.Task[T]:
        """Run ``work`` in a task the node owns (kept alive until done, awaited at shutdown)."""
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain_tasks(self) -> None:
        """Wait for node-owned work (e.g. a rotation) before the store closes."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _stored_providers(self) -> dict[str, Mapping[str, Any]]:
        try:
            records = await self.store.list_providers()
        except (StaleKey, DecryptError) as exc:
            # A stale passphrase: serve YAML providers until a peer hands over the key.
            log.error("stored providers cannot be decrypted yet", error=str(exc))
            self.stale_key = True
            return {}
        self.stale_key = False
        return {record.key: record.config for record in records}

    async def load(self) -> None:
        """Read providers, keys and the admin token hash into memory (once, at start), and
        the price catalogue in a thread meanwhile. Both are done before serving starts, so
        the start-up gc.freeze() covers the catalogue's many objects: left to the collector
        they made every full collection, and so every request, slower."""
        await asyncio.gather(asyncio.to_thread(self.prices.warm), self._load_views())

    async def _load_views(self) -> None:
        self.catalog.load(self.settings.providers, {})
        # Stored providers override YAML ones, one at a time: a broken one is reported and not
        # served, and does not stop the node.
        await self._reload_providers(await self._stored_providers())
        await self._reload_routes(await self._stored_routes())
        self.keys.replace_all(await self.store.list_api_keys())
        if not self.admin_token_sha256:
            self.admin_token_sha256 = await self.store.get_setting(ADMIN_TOKEN_SETTING) or ""

    def admin_token_ok(self, presented: str) -> bool:
        return bool(self.admin_token_sha256) and secret_matches(
            presented, self.admin_token_sha256
        )

    async def reload_provider(self, key: str) -> None:
        record = await self.store.get_provider(key)
        self.broken_providers.pop(key, None)
        config = record.config if record is not None else None
        await self._apply_stored(key, config)
        if config is None:
            self._stored_snapshot.pop(key, None)
        else:
            self._stored_snapshot[key] = config

    async def reload_route(self, name: str) -> None:
        """Re-read one stored route (after an admin change here or a peer's notice)."""
        record = await self.store.get_route(name)
        config = record.config if record is not None else None
        self.routes.set_stored(name, config, self.catalog)
        if config is None:
            self._routes_snapshot.pop(name, None)
        else:
            self._routes_snapshot[name] = config

    async def _stored_routes(self) -> dict[str, Mapping[str, Any]]:
        return {record.name: record.config for record in await self.store.list_routes()}

    async def _reload_routes(self, stored: dict[str, Mapping[str, Any]]) -> None:
        self._routes_snapshot = stored
        self.routes.load(self.settings.routes, stored, self.catalog)

    def _cooling(self) -> dict[str, float]:
        now = time.monotonic()
        return {state.target: float(state.cooling(now)) for state in self.routes.states()}

    async def reload_key(self, key_id: str) -> None:
        record = await self.store.get_api_key(key_id)
        if record is None:
            self.keys.remove(key_id)
        else:
            self.keys.put(record)

    async def reload_all(self) -> None:
        self.keys.replace_all(await self.store.list_api_keys())
        await self._reload_providers(await self._stored_providers())
        await self._reload_routes(await self._stored_routes())

    async def refresh(self) -> None:
        """Follow the database: keys always, providers when a stored config changed."""
        generation = self.keys.generation
        self.keys.replace_all(await self.store.list_api_keys(), if_generation=generation)
        stored = await self._stored_providers()
        if stored != self._stored_snapshot:
            await self._reload_providers(stored)
        routes = await self._stored_routes()
        if routes != self._routes_snapshot:
            await self._reload_routes(routes)

    async def _reload_providers(self, stored: dict[str, Mapping[str, Any]]) -> None:
        self._stored_snapshot = stored
        self.broken_providers.clear()
        for key, config in stored.items():
            await self._apply_stored(key, config)
        for key in [k for k, e in self.catalog.entries().items()
                    if e.source == "store" and k not in stored]:
            await self._apply_stored(key, None)

    async def _apply_stored(self, key: str, config: Mapping[str, Any] | None) -> None:
        try:
            self.catalog.set_stored(key, config)
        except (ConfigError, ProviderError) as exc:
            self.broken_providers[key] = str(exc)
            log.error("stored provider is invalid", provider=key, error=str(exc))
        # Routes hold the catalog's adapters: a changed provider is recompiled into them.
        self.routes.rebuild(self.catalog)

