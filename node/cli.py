"""``atgw``: serve a node, check a config, migrate a store, rotate the key through the API."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import signal
import socket
import ssl
import sys
from collections.abc import Sequence

import aiohttp
import structlog

from node.app import create_app
from node.config import Settings, cluster_config, load_settings_for, store_config
from node.config.secrets import settings_secrets
from node.dispatch import NodeRunner
from node.edge import GuardedSite, reload_certificate, tls_context
from node.errors import ConfigError
from node.logging import configure_logging
from node.state import WORKER_LINK
from node.version import VERSION
from node.workers import WorkerSpec
from node.workers.supervisor import Launch, Supervisor, usable_cpus
from store import StoreError, open_store

YOUNG_OBJECTS = 10_000
"""The collector's first threshold while serving (CPython's default is 700). The request path
leaves no cyclic garbage to speak of: reference counting frees each request's objects. At 700
the collector still ran 30-70 times a second under load, every time over the thousands of
objects of the requests in flight, 3-7 us a request; at 10,000 it does not run under steady
load, and cyclic garbage, when some comes, is still collected."""

log = structlog.get_logger("node.cli")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atgw", description="at-gateway node")
    parser.add_argument("--version", action="version", version=f"at-gateway {VERSION}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run a node")
    serve.add_argument("--config", help="path to at.yaml (default: $AT_CONFIG_FILE, ./at.yaml)")
    serve.add_argument("--host", help="override server.host")
    serve.add_argument("--port", type=int, help="override server.port")
    serve.add_argument("--name", default="",
                       help="this node's name (one input to its cluster identity)")
    # One serving process of a multi-process node, started by its supervisor (node.workers).
    worker = sub.add_parser("worker")
    worker.add_argument("--config")
    worker.add_argument("--host", required=True)
    worker.add_argument("--port", type=int, required=True)
    worker.add_argument("--name", required=True)
    worker.add_argument("--index", type=int, required=True)
    worker.add_argument("--workers", type=int, required=True)
    worker.add_argument("--control", required=True)
    check = sub.add_parser("check-config", help="validate the configuration and exit")
    check.add_argument("--config")
    migrate = sub.add_parser("migrate", help="create or upgrade the store's tables and exit")
    migrate.add_argument("--config")
    rotate = sub.add_parser("rotate-key", help="ask a running node to rotate the data key")
    rotate.add_argument("--config")
    rotate.add_argument("--url", default="http://127.0.0.1:8080", help="a node's base URL")
    rotate.add_argument("--token", help="admin token (default: server.admin_token)")
    group = rotate.add_mutually_exclusive_group()
    group.add_argument("--new-passphrase", help="also change the passphrase")
    group.add_argument("--disable", action="store_true", help="turn encryption off")
    return parser




def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings_for(args.config)
        if args.command in ("serve", "worker"):
            return _serve(settings, args)
        if args.command == "check-config":
            return _check(settings)
        if args.command == "migrate":
            asyncio.run(_migrate(settings))
            print("store is up to date")
            return 0
        return asyncio.run(_rotate(settings, args))
    except ConfigError as exc:
        print(f"atgw: config error: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"atgw: store error: {exc}", file=sys.stderr)
        return 2


def _check(settings: Settings) -> int:
    store = store_config(settings)
    cluster = cluster_config(settings)
    if settings.server.tls is not None:
        tls_context(settings.server.tls)  # the files are part of the config
    print(
        f"config ok: {len(settings.providers)} provider(s), store {store.kind}"
        f"{'' if store.kind == 'memory' else ' (' + _where(store.datasource) + ')'}, "
        f"encryption {'on' if store.encryption_key else 'off'}, "
        f"cluster {'on' if cluster else 'off'}"
    )
    return 0


def _where(datasource: str) -> str:
    return datasource.rpartition("@")[2] if "@" in datasource else datasource


async def _migrate(settings: Settings) -> None:
    store = await open_store(store_config(settings))
    await store.close()


async def _rotate(settings: Settings, args: argparse.Namespace) -> int:
    token = args.token or settings.server.admin_token
    body: dict[str, str] = {}
    if args.disable:
        body["encryption_key"] = ""
    elif args.new_passphrase:
        body["encryption_key"] = args.new_passphrase
    url = args.url.rstrip("/") + settings.server.base_path + "/api/v1/settings/rotate-key"
    async with aiohttp.ClientSession() as session, session.post(
        url, json=body, headers={"Authorization": f"Bearer {token}"}
    ) as answer:
        text = await answer.text()
    print(text)
    return 0 if answer.status == 200 else 1


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    host = args.host or settings.server.host
    port = args.port or settings.server.port
    name = args.name or socket.gethostname()
    # Built before the loop starts, so a certificate that cannot be used is a config error.
    tls = tls_context(settings.server.tls) if settings.server.tls is not None else None
    worker: WorkerSpec | None = None
    if args.command == "worker":
        worker = WorkerSpec(args.index, args.workers, args.control)
    configure_logging(
        level=settings.server.log_level, fmt=settings.server.log_format,
        secrets=settings_secrets(settings),
        fields={"worker": worker.name} if worker is not None else None)
    if worker is None:
        count = worker_count(settings)
        if count > 1:
            supervisor = Supervisor(settings, Launch(args.config, host, port, name), count)
            try:
                return asyncio.run(supervisor.run())
            except StoreError as exc:
                print(f"atgw: {exc}", file=sys.stderr)
                return 2
    try:
        asyncio.run(_run(settings, host, port, name, tls, worker))
    except StoreError as exc:
        print(f"atgw: {exc}", file=sys.stderr)
        return 2
    return 0


def worker_count(settings: Settings) -> int:
    """``server.workers``, or one per usable CPU (one with the in-process memory store)."""
    if settings.server.workers is not None:
        return settings.server.workers
    return 1 if settings.store.memory is not None else usable_cpus()


async def _run(settings: Settings, host: str, port: int, name: str,
               tls: ssl.SSLContext | None, worker: WorkerSpec | None = None) -> None:
    app = create_app(settings, node_name=name, worker=worker)
    # handler_cancellation: a client that goes away cancels its handler, which aborts the
    # upstream request instead of paying for tokens nobody reads.
    runner = NodeRunner(
        app,
        handler_cancellation=True,
        shutdown_timeout=float(settings.server.shutdown_timeout),
        access_log=None,
    )
    await runner.setup()
    server = settings.server
    # Workers of one node each bind the port; the kernel spreads connections among them.
    site = GuardedSite(runner, host, port, reuse_address=True, reuse_port=worker is not None,
                       head_timeout=float(server.header_timeout),
                       idle_timeout=float(server.idle_timeout), ssl_context=tls)
    try:
        await site.start()
    except OSError as exc:  # a name that does not resolve, a port taken or not ours to bind
        await runner.cleanup()
        raise ConfigError(f"server.host, server.port: cannot listen on {host!r} port {port}: "
                          f"{exc.strerror or exc}") from None
    # Everything built at start (modules, config, adapters) lives until exit: keep it out of
    # the collector's sight so full collections stay short under load.
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS, *gc.get_threshold()[1:])
    log.info("serving", host=host, port=port, version=VERSION, node=name,
             scheme="https" if tls is not None else "http")
    if worker is not None:
        await app[WORKER_LINK].serving()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if tls is not None and server.tls is not None:
        loop.add_signal_handler(signal.SIGHUP, reload_certificate, tls, server.tls)
    await stop.wait()
    log.info("stopping: draining in-flight requests")
    await runner.cleanup()
    log.info("stopped")


if __name__ == "__main__":
    sys.exit(main())
