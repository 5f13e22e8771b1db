"""Tiny proxies on loopback that record what went through them.

``HttpProxy`` speaks HTTP forward proxying (absolute-form request lines, for http://
targets) and CONNECT tunnels (for https:// targets). ``Socks5Proxy`` speaks SOCKS5
(RFC 1928) with no auth, or username/password (RFC 1929) when given credentials.
Both then splice bytes both ways; ``targets`` lists the (host, port) of every tunnel.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import struct
from dataclasses import dataclass, field

from yarl import URL

from tests.fakes.loopback import LoopbackServer

__all__ = ["HttpProxy", "Socks5Proxy"]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _splice(
    client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
) -> None:
    await asyncio.gather(_pipe(client[0], upstream[1]), _pipe(upstream[0], client[1]))


@dataclass
class _Server(LoopbackServer):
    targets: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class HttpProxy(_Server):
    """An HTTP proxy; ``auth_headers`` records each Proxy-Authorization seen ("" if none).
    ``forward_credentials`` passes the client's Proxy-* headers on to the origin, as a
    misconfigured proxy chain does."""

    auth_headers: list[str] = field(default_factory=list)
    forward_credentials: bool = False

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        first, _, rest = head.partition(b"\r\n")
        method, target, version = first.decode().split(" ", 2)
        headers = [line for line in rest.split(b"\r\n") if line]
        auth = [h for h in headers if h.lower().startswith(b"proxy-authorization:")]
        self.auth_headers.append(auth[0].split(b":", 1)[1].strip().decode() if auth else "")
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            upstream = await asyncio.open_connection(host, int(port))
            self.targets.append((host, int(port)))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await _splice((reader, writer), upstream)
            return
        url = URL(target)
        assert url.host is not None and url.port is not None
        upstream = await asyncio.open_connection(url.host, url.port)
        self.targets.append((url.host, url.port))
        kept = [h for h in headers
                if self.forward_credentials or not h.lower().startswith(b"proxy-")]
        origin = url.raw_path_qs
        upstream[1].write(f"{method} {origin} {version}\r\n".encode() + b"\r\n".join(kept))
        upstream[1].write(b"\r\n\r\n")
        await _splice((reader, writer), upstream)


@dataclass
class Socks5Proxy(_Server):
    """A SOCKS5 proxy; with ``username`` set it requires RFC 1929 auth."""

    username: str = ""
    password: str = ""

    @property
    def url(self) -> str:
        if self.username:
            return f"socks5://{self.username}:{self.password}@127.0.0.1:{self.port}"
        return f"socks5://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        version, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        wanted = 2 if self.username else 0
        if version != 5 or wanted not in methods:
            writer.write(b"\x05\xff")
            return
        writer.write(bytes([5, wanted]))
        if wanted == 2 and not await self._auth(reader, writer):
            return
        _, command, _, atyp = await reader.readexactly(4)
        host = await self._address(reader, atyp)
        (port,) = struct.unpack(">H", await reader.readexactly(2))
        if command != 1:
            writer.write(b"\x05\x07\x00\x01" + bytes(6))
            return
        upstream = await asyncio.open_connection(host, port)
        self.targets.append((host, port))
        writer.write(b"\x05\x00\x00\x01" + bytes(4) + struct.pack(">H", 0))
        await writer.drain()
        await _splice((reader, writer), upstream)

    async def _auth(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        _, ulen = await reader.readexactly(2)
        user = (await reader.readexactly(ulen)).decode()
        (plen,) = await reader.readexactly(1)
        password = (await reader.readexactly(plen)).decode()
        ok = (user, password) == (self.username, self.password)
        writer.write(b"\x01\x00" if ok else b"\x01\x01")
        await writer.drain()
        return ok

    @staticmethod
    async def _address(reader: asyncio.StreamReader, atyp: int) -> str:
        if atyp == 1:
            return str(ipaddress.IPv4Address(await reader.readexactly(4)))
        if atyp == 4:
            return str(ipaddress.IPv6Address(await reader.readexactly(16)))
        (length,) = await reader.readexactly(1)
        return (await reader.readexactly(length)).decode()
