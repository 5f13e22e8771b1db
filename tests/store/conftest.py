"""Store test fixtures: one backend parameter (memory, sqlite, postgres) and a real Postgres.

Postgres is a throwaway server started from the installed binaries (``pg_config --bindir``
or /usr/lib/postgresql/*/bin) in a temporary directory, as the ``postgres`` user when the
tests run as root. Without the binaries the Postgres cases skip locally and FAIL when the
``CI`` environment variable is set.
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from store import KdfParams, Store, StoreConfig, open_store

FAST_KDF = KdfParams(time_cost=1, memory_kib=1024, parallelism=1)
StoreFactory = Callable[..., StoreConfig]
Opener = Callable[..., Awaitable[Store]]


def _bindir() -> Path | None:
    candidates: list[str] = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for cand in candidates:
        if cand and (Path(cand) / "initdb").exists() and (Path(cand) / "pg_ctl").exists():
            return Path(cand)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _runner() -> tuple[list[str], int | None]:
    """Prefix that runs a command as a non-root user (initdb refuses root), and its uid."""
    if os.geteuid() != 0:
        return [], None
    for name in ("postgres", "nobody"):
        try:
            uid = pwd.getpwnam(name).pw_uid
        except KeyError:
            continue
        return ["runuser", "-u", name, "--"], uid
    pytest.fail("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A DSN for a superuser on a fresh throwaway PostgreSQL server (session-wide)."""
    bindir = _bindir()
    if bindir is None:
        message = "PostgreSQL binaries not found (apt-get install postgresql)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    prefix, uid = _runner()
    base = Path(tempfile.mkdtemp(prefix="at-pg-"))
    if uid is not None:
        os.chown(base, uid, -1)
    data, port = base / "data", _free_port()

    def run(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, cwd=base)

    run(
        str(bindir / "initdb"),
        "-D",
        str(data),
        "-A",
        "trust",
        "-U",
        "postgres",
        "-E",
        "UTF8",
        "--no-sync",
    )
    opts = (
        f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c max_connections=300 -c full_page_writes=off"
    )
    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-o", opts, "-w", "start")
    try:
        yield f"postgres://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            cwd=base,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Each contract test runs once per backend."""
    return str(request.param)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_backend(request: pytest.FixtureRequest) -> str:
    """Tests of encryption at rest and SQL behaviour (not the memory store)."""
    return str(request.param)


def _factory(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    if kind == "postgres":
        dsn = request.getfixturevalue("postgres_dsn")
        schema = "t_" + uuid.uuid4().hex[:12]  # one schema per test keeps tests apart
        base: dict[str, Any] = {"kind": "postgres", "datasource": dsn, "schema": schema}
    elif kind == "sqlite":
        base = {"kind": "sqlite", "datasource": str(tmp_path / "at.db")}
    else:
        base = {"kind": "memory"}

    def make(**overrides: Any) -> StoreConfig:
        return StoreConfig(**{"kdf": FAST_KDF, "reencrypt_batch": 2, **base, **overrides})

    return make


@pytest.fixture
def config_for(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Build a StoreConfig for the current backend (cheap Argon2, small re-encrypt batches)."""
    return _factory(backend, request, tmp_path)


@pytest.fixture
def sql_config_for(
    sql_backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> StoreFactory:
    """Like config_for, for the SQL backends only."""
    return _factory(sql_backend, request, tmp_path)


@pytest.fixture
async def store(config_for: StoreFactory) -> AsyncIterator[Store]:
    """An open store for the current backend, encrypted with passphrase 'pw'."""
    opened = await open_store(config_for(encryption_key="pw"))
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def opener() -> AsyncIterator[Opener]:
    """open_store that closes every store it opened when the test ends, even on failure."""
    opened: list[Store] = []

    async def open_(config: StoreConfig, **kwargs: Any) -> Store:
        result = await open_store(config, **kwargs)
        opened.append(result)
        return result

    yield open_
    for item in opened:
        await item.close()


async def raw_rows(config: StoreConfig, table: str) -> list[tuple[Any, ...]]:
    """Every row of ``<prefix><table>`` read with plain SQL, bypassing the store."""
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    if config.kind == "sqlite":
        engine = create_async_engine(f"sqlite+aiosqlite:///{config.datasource}")
        name = f'"{config.table_prefix}{table}"'
    else:
        url = sa.make_url(config.datasource).set(drivername="postgresql+asyncpg")
        engine = create_async_engine(url)
        schema = config.schema or "public"
        name = f'"{schema}"."{config.table_prefix}{table}"'
    try:
        async with engine.connect() as conn:
            result = await conn.execute(sa.text(f"SELECT * FROM {name}"))
            return [tuple(r) for r in result.all()]
    finally:
        await engine.dispose()


def run_gather(*coros: Any) -> Any:
    """asyncio.gather with exceptions returned (helper for race tests)."""
    return asyncio.gather(*coros, return_exceptions=True)
