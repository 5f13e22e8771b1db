"""Engine construction for SQLite and Postgres, transactions, and error translation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from ..errors import BadRecord, Conflict, StoreError, StoreUnavailable
from ..records import StoreConfig

SQLITE_BUSY_TIMEOUT_MS = 15_000
LOCK_TIMEOUT = "10s"
IDLE_IN_TRANSACTION_TIMEOUT = "30s"
_LOCK_NOT_AVAILABLE = "55P03"
_DATA_EXCEPTION = "22"  # SQLSTATE class: too long, NUL, out of range, bad encoding
# not-null and check violations; a unique violation stays a Conflict
_BAD_CONSTRAINTS = frozenset({"23502", "23514", "SQLITE_CONSTRAINT_NOTNULL",
                              "SQLITE_CONSTRAINT_CHECK"})
_WRITE = "at_write"


@asynccontextmanager
async def translated(action: str) -> AsyncIterator[None]:
    """Translate driver and SQLAlchemy errors into the StoreError tree, once, here."""
    try:
        yield
    except StoreError:
        raise
    except exc.DBAPIError as err:
        if _bad_data(err):
            raise BadRecord(f"{action}: {err.orig}") from err
        if isinstance(err, exc.IntegrityError):
            raise Conflict(f"{action}: {err.orig}") from err
        if _sqlstate(err) == _LOCK_NOT_AVAILABLE:
            raise Conflict(f"{action}: another node holds the rows; try again") from err
        if isinstance(err, exc.OperationalError | exc.InterfaceError) or err.connection_invalidated:
            raise StoreUnavailable(f"{action}: the database is unavailable ({err.orig})") from err
        raise StoreError(f"{action}: {err.orig}") from err
    except (OverflowError, UnicodeEncodeError) as err:  # sqlite3 refuses these before SQL
        raise BadRecord(f"{action}: {err}") from err
    except (exc.DisconnectionError, exc.TimeoutError, OSError) as err:
        raise StoreUnavailable(f"{action}: the database is unavailable ({err})") from err
    except exc.SQLAlchemyError as err:
        raise StoreError(f"{action}: {err}") from err


def _bad_data(err: exc.DBAPIError) -> bool:
    """A value the database refuses (retrying cannot help), as opposed to an unavailable one."""
    if isinstance(err, exc.DataError):
        return True
    code = _sqlstate(err) or getattr(err.orig, "sqlite_errorname", None)
    return code is not None and (code.startswith(_DATA_EXCEPTION) or code in _BAD_CONSTRAINTS)


def _sqlstate(err: exc.DBAPIError) -> str | None:
    code = getattr(err.orig, "sqlstate", None) or getattr(err.orig, "pgcode", None)
    return code if isinstance(code, str) else None


def postgres_url(dsn: str) -> sa.URL:
    """Accept ``postgres://`` and ``postgresql://`` DSNs; always use the asyncpg driver."""
    url = sa.make_url(dsn)
    return url.set(drivername="postgresql+asyncpg")


def make_engine(config: StoreConfig, *, node_id: str) -> AsyncEngine:
    """An AsyncEngine with the pool, schema and SQLite pragmas applied to EVERY connection."""
    if config.kind == "sqlite":
        engine = create_async_engine(
            f"sqlite+aiosqlite:///{config.datasource}",
            pool_size=max(config.max_idle_conns, 1),
            max_overflow=max(config.max_open_conns - config.max_idle_conns, 0),
            pool_recycle=config.conn_max_lifetime, connect_args={"timeout": 30})
        _sqlite_events(engine)
        return engine
    server_settings = {
        "application_name": f"at-gateway:{node_id}"[:63],
        # A node that is paused (SIGSTOP, a frozen VM) or partitioned mid-transaction must not
        # hold its row locks forever: the server ends such a session, its transaction rolls
        # back, and the resumable rotation picks up from the last committed step. Waiters give
        # up after LOCK_TIMEOUT and answer "busy" instead of hanging an admin call.
        "idle_in_transaction_session_timeout": IDLE_IN_TRANSACTION_TIMEOUT,
        "lock_timeout": LOCK_TIMEOUT,
    }
    if config.schema:
        # check_names() already limited the schema to a plain identifier; quote it anyway.
        server_settings["search_path"] = f'"{config.schema}"'
    return create_async_engine(
        postgres_url(config.datasource),
        pool_size=max(config.max_idle_conns, 1),
        max_overflow=max(config.max_open_conns - config.max_idle_conns, 0),
        pool_recycle=config.conn_max_lifetime, pool_pre_ping=True, pool_timeout=30,
        connect_args={"server_settings": server_settings, "timeout": 10})


def _sqlite_events(engine: AsyncEngine) -> None:
    # pysqlite's own transaction handling would defeat BEGIN IMMEDIATE and transactional
    # DDL, so it is switched off and SQLAlchemy's begin event emits BEGIN itself.
    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        # Writers take the write lock up front: a deferred transaction that read and then
        # writes after another commit fails with SQLITE_BUSY instead of waiting.
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@asynccontextmanager
async def transaction(engine: AsyncEngine, action: str, *,
                      write: bool = False) -> AsyncIterator[AsyncConnection]:
    """One transaction (BEGIN IMMEDIATE on SQLite when ``write``), errors translated."""
    async with translated(action), engine.connect() as conn:
        if write:
            await conn.execution_options(**{_WRITE: True})
        async with conn.begin():
            yield conn
