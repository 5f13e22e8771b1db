"""A throwaway PostgreSQL server started from the installed binaries, for tests and scripts.

``PostgresServer`` runs ``initdb`` + ``pg_ctl`` in a temporary directory (as the ``postgres``
user when running as root: initdb refuses root), listening on 127.0.0.1 and on a Unix socket
in that directory (reachable from another network namespace). ``postgres_server`` and
``postgres_dsn`` are the session fixtures built on it (imported by tests/conftest.py). Without
the binaries the fixtures skip locally and FAIL when the ``CI`` environment variable is set.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

MISSING = "PostgreSQL binaries not found (apt-get install postgresql)"


def bindir() -> Path | None:
    """Where initdb and pg_ctl are (``pg_config --bindir``, else /usr/lib/postgresql/*/bin)."""
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
    raise RuntimeError("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


class PostgresServer:
    """One throwaway server; ``start()`` then ``stop()`` (or use it as a context manager)."""

    def __init__(self, binaries: Path) -> None:
        self.bindir = binaries
        self.base = Path(tempfile.mkdtemp(prefix="at-pg-"))
        self.port = _free_port()
        self._prefix, self._uid = _runner()

    @property
    def dsn(self) -> str:
        """Superuser DSN over TCP on 127.0.0.1."""
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def socket_dsn(self) -> str:
        """Superuser DSN over the Unix socket (works from another network namespace)."""
        return f"postgres://postgres@/postgres?host={self.base}&port={self.port}"

    def _run(self, *args: str) -> None:
        subprocess.run([*self._prefix, *args], check=True, capture_output=True, cwd=self.base)

    def start(self) -> PostgresServer:
        if self._uid is not None:
            os.chown(self.base, self._uid, -1)
        data = self.base / "data"
        self._run(str(self.bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--no-sync")
        opts = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=300 -c full_page_writes=off"
        )
        self._run(str(self.bindir / "pg_ctl"), "-D", str(data), "-l", str(self.base / "log"),
                  "-o", opts, "-w", "start")
        return self

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every session is cut, the server is back on the same
        port and data (pg_ctl reuses the options it was started with)."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.base / "data"),
                  "-l", str(self.base / "log"), "-m", "fast", "-w", "restart")

    def stop(self) -> None:
        subprocess.run(
            [*self._prefix, str(self.bindir / "pg_ctl"), "-D", str(self.base / "data"),
             "-m", "immediate", "stop"],
            capture_output=True, cwd=self.base,
        )
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A fresh throwaway PostgreSQL server (session-wide); skips, or fails under CI, without
    the binaries."""
    binaries = bindir()
    if binaries is None:
        if os.environ.get("CI"):
            pytest.fail(MISSING)
        pytest.skip(MISSING)
    try:
        server = PostgresServer(binaries)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    with server:
        yield server


@pytest.fixture(scope="session")
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """A DSN for a superuser on the session's throwaway PostgreSQL server."""
    return postgres_server.dsn
