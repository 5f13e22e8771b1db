"""The compose cluster under test, driven through the docker-compose and docker CLIs.

Only this project's containers are touched: every command names the compose project
(``atchaos``) or one of its containers. The compose command is ``$COMPOSE`` when set (for
example ``docker compose``), else ``docker-compose`` if it is installed, else ``docker compose``.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BASE_FILE = ROOT / "compose" / "docker-compose.yml"
CHAOS_FILE = Path(__file__).with_name("docker-compose.chaos.yml")
PROJECT = "atchaos"
NODES = ("at-0", "at-1", "at-2")
NETWORK_ALIASES = {node: ("at-headless", f"{node}.at-headless") for node in NODES}
ADMIN_TOKEN = "chaos-admin-token"
PASSPHRASE = "chaos-passphrase-one"


class CommandFailed(RuntimeError):
    """A docker or compose command exited non-zero."""


def compose_command() -> list[str]:
    """The compose CLI: ``$COMPOSE``, else docker-compose, else the docker compose plugin."""
    if os.environ.get("COMPOSE"):
        return shlex.split(os.environ["COMPOSE"])
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return ["docker", "compose"]


async def run(*argv: str, env: dict[str, str] | None = None, check: bool = True,
              timeout: float = 180.0) -> str:
    """Run a command; its stdout (stderr joins the error when it fails)."""
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise CommandFailed(f"{shlex.join(argv)}: timed out after {timeout:.0f}s") from None
    if check and proc.returncode != 0:
        raise CommandFailed(f"{shlex.join(argv)}: exit {proc.returncode}: "
                            f"{err.decode(errors='replace').strip()[-2000:]}")
    return out.decode(errors="replace")


@dataclass
class Stack:
    """One compose project plus the environment its variables are substituted from.

    ``env`` holds the secrets and fault switches; any ``up`` uses it, so a node recreated later
    gets whatever the scenario set (for example the new passphrase).
    """

    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("AT_", "CHAOS_", "POSTGRES_", "FAKE_UPSTREAM_"))}
        base.update({
            "AT_STORE_ENCRYPTION_KEY": PASSPHRASE,
            "AT_CLUSTER_SECURITY_KEY": "chaos-cluster-key",
            "AT_SERVER_ADMIN_TOKEN": ADMIN_TOKEN,
            "POSTGRES_PASSWORD": "chaos-db-password",
            "FAKE_UPSTREAM_API_KEY": "sk-chaos-yaml-upstream",
            "AT_HTTP_PORT": "0",
        })
        base.update(self.env)
        self.env = base

    async def compose(self, *args: str, timeout: float = 240.0) -> str:
        argv = [*compose_command(), "-p", PROJECT, "-f", str(BASE_FILE), "-f", str(CHAOS_FILE),
                *args]
        return await run(*argv, env=self.env, timeout=timeout)

    async def container(self, service: str) -> str:
        """The container id of ``service`` (one replica each)."""
        cid = (await self.compose("ps", "-q", service)).strip()
        if not cid:
            raise CommandFailed(f"no container for service {service}")
        return cid.splitlines()[0]

    async def docker(self, *args: str, check: bool = True, timeout: float = 120.0) -> str:
        return await run("docker", *args, env=self.env, check=check, timeout=timeout)

    async def address(self, service: str) -> str | None:
        """The container's address on the project network (None when disconnected)."""
        cid = await self.container(service)
        out = await self.docker("inspect", "-f",
                                "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", cid)
        addresses = out.split()
        return addresses[0] if addresses else None

    async def state(self, service: str) -> str:
        """Docker's state of the container: running, paused, exited, restarting..."""
        cid = await self.container(service)
        return (await self.docker("inspect", "-f", "{{.State.Status}}", cid)).strip()

    @property
    def network(self) -> str:
        return f"{PROJECT}_atnet"

    async def kill(self, service: str) -> None:
        await self.docker("kill", await self.container(service))

    async def start(self, service: str) -> None:
        await self.docker("start", await self.container(service))

    async def pause(self, service: str, attempts: int = 5) -> None:
        """Freeze the container's cgroup, trying again when the freeze does not complete.

        runc gives up with "unable to freeze" when a busy process (here, one mid-sweep on a
        starved VM) keeps the cgroup from freezing within its window, and thaws it again;
        runc's maintainers leave the retry to the caller.
        """
        cid = await self.container(service)
        for attempt in range(1, attempts + 1):
            try:
                await self.docker("pause", cid)
                return
            except CommandFailed as failed:
                if "unable to freeze" not in str(failed) or attempt == attempts:
                    raise
            await asyncio.sleep(0.2)

    async def unpause(self, service: str) -> None:
        await self.docker("unpause", await self.container(service))

    async def disconnect(self, service: str) -> None:
        await self.docker("network", "disconnect", self.network, await self.container(service))

    async def reconnect(self, service: str) -> None:
        """Attach the container again with the aliases discovery resolves."""
        aliases = [a for alias in NETWORK_ALIASES.get(service, ()) for a in ("--alias", alias)]
        await self.docker("network", "connect", *aliases, self.network,
                          await self.container(service))

    async def recreate(self, *services: str) -> None:
        """Recreate services with the current ``env`` (compose recreates what changed)."""
        await self.compose("up", "-d", "--no-deps", *services)

    async def psql(self, sql: str) -> list[list[str]]:
        """Rows of one statement run by psql inside the postgres container."""
        cid = await self.container("postgres")
        out = await self.docker("exec", cid, "psql", "-U", "at", "-d", "at", "-At", "-F", "\t",
                                "-v", "ON_ERROR_STOP=1", "-c", sql)
        return [line.split("\t") for line in out.splitlines() if line]

    async def dump(self) -> str:
        """Every row of the gateway's database, as pg_dump prints data."""
        cid = await self.container("postgres")
        return await self.docker("exec", cid, "pg_dump", "-U", "at", "-d", "at", "--data-only")

    async def logs(self, service: str, tail: int = 60) -> str:
        return await self.compose("logs", "--no-color", f"--tail={tail}", service)
