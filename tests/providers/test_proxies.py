"""Upstream requests through HTTP and SOCKS5 proxies (real tiny proxies on loopback)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from providers import ClientPool, InvalidConfig, ProviderConfig, UpstreamUnreachable, build_provider
from tests.fakes.frames import collect_events
from tests.fakes.openai_upstream import FakeUpstream
from tests.fakes.proxies import HttpProxy, Socks5Proxy
from tests.fakes.tls import loopback_tls

ConfigFor = Callable[..., ProviderConfig]
BODY: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


async def _exchange(pool: ClientPool, config: ProviderConfig) -> None:
    adapter = build_provider(config, pool)
    reply = await adapter.complete("openai", BODY, "m")
    assert reply.usage.input_tokens == 11
    stream = await adapter.open_stream("openai", BODY, "m")
    chunks = await collect_events(stream)
    assert chunks[-1] == b"data: [DONE]\n\n"


async def test_http_forward_proxy_with_credentials(
    pool: ClientPool, fake: FakeUpstream, config_for: ConfigFor
) -> None:
    async with HttpProxy() as proxy:
        url = proxy.url.replace("http://", "http://user:p%40ss@")
        await _exchange(pool, config_for(proxy=url))
    assert set(proxy.targets) == {("127.0.0.1", fake.port)}
    expected = "Basic " + base64.b64encode(b"user:p@ss").decode()
    assert proxy.auth_headers and set(proxy.auth_headers) == {expected}
    assert len(fake.requests) == 2
    assert "Proxy-Authorization" not in fake.requests[0].headers


@pytest.mark.parametrize("auth", [False, True])
async def test_socks5_proxy(
    pool: ClientPool, fake: FakeUpstream, config_for: ConfigFor, auth: bool
) -> None:
    async with Socks5Proxy(username="u" if auth else "", password="pw") as proxy:
        await _exchange(pool, config_for(proxy=proxy.url))
    assert proxy.targets and set(proxy.targets) == {("127.0.0.1", fake.port)}
    assert len(fake.requests) == 2


async def test_socks5_wrong_password_is_unreachable(
    pool: ClientPool, fake: FakeUpstream, config_for: ConfigFor
) -> None:
    async with Socks5Proxy(username="u", password="right") as proxy:
        bad = proxy.url.replace(":right@", ":wrong@")
        with pytest.raises(UpstreamUnreachable, match="'up'"):
            await build_provider(config_for(proxy=bad), pool).complete("openai", BODY, "m")
    assert fake.requests == []


@pytest.mark.parametrize("kind", ["direct", "http", "https", "socks5"])
async def test_https_upstream_direct_and_through_proxies(
    config_for: ConfigFor, kind: str
) -> None:
    """TLS to the upstream, also inside a CONNECT tunnel (itself inside TLS to an https://
    proxy) or a SOCKS5 connection: the proxy sees only the target's address."""
    server_tls, client_tls = loopback_tls()
    pool = ClientPool(tls=client_tls)
    try:
        async with FakeUpstream(tls=server_tls) as upstream, HttpProxy() as http, \
                HttpProxy(tls=server_tls) as https, Socks5Proxy() as socks:
            proxies = {"direct": ("", []), "http": (http.url, http.targets),
                       "https": (https.url, https.targets), "socks5": (socks.url, socks.targets)}
            proxy, tunnels = proxies[kind]
            await _exchange(pool, config_for(base_url=upstream.base_url, proxy=proxy))
            assert upstream.base_url.startswith("https://")
            assert proxy.startswith(f"{kind}://") or kind == "direct"
            assert len(upstream.requests) == 2
            assert upstream.connections == 1  # the tunnel is kept alive and reused
            assert tunnels == ([] if kind == "direct" else [("127.0.0.1", upstream.port)])
    finally:
        await pool.aclose()


async def test_plain_upstream_through_an_https_proxy(fake: FakeUpstream,
                                                     config_for: ConfigFor) -> None:
    server_tls, client_tls = loopback_tls()
    pool = ClientPool(tls=client_tls)
    try:
        async with HttpProxy(tls=server_tls) as proxy:
            await _exchange(pool, config_for(proxy=proxy.url.replace("//", "//u:pw@")))
        assert proxy.url.startswith("https://") and set(proxy.auth_headers) == {"Basic dTpwdw=="}
        assert proxy.targets == [("127.0.0.1", fake.port)] and len(fake.requests) == 2
    finally:
        await pool.aclose()


def test_tls_inside_tls_under_uvloop(config_for: ConfigFor) -> None:
    """The node runs on uvloop: a CONNECT tunnel through an https:// proxy works there too."""
    import uvloop

    async def exchange() -> int:
        server_tls, client_tls = loopback_tls()
        pool = ClientPool(tls=client_tls)
        try:
            async with FakeUpstream(tls=server_tls) as upstream, \
                    HttpProxy(tls=server_tls) as proxy:
                await _exchange(pool, config_for(base_url=upstream.base_url, proxy=proxy.url))
                return len(upstream.requests)
        finally:
            await pool.aclose()

    assert uvloop.run(exchange()) == 2


async def test_untrusted_certificate_is_unreachable(config_for: ConfigFor) -> None:
    server_tls, _ = loopback_tls()
    pool = ClientPool()  # the system's trust store does not know the throwaway CA
    try:
        async with FakeUpstream(tls=server_tls) as upstream:
            adapter = build_provider(config_for(base_url=upstream.base_url), pool)
            with pytest.raises(UpstreamUnreachable, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
                await adapter.complete("openai", BODY, "m")
            assert upstream.requests == []
    finally:
        await pool.aclose()


def test_bad_proxy_scheme_is_invalid_config() -> None:
    with pytest.raises(InvalidConfig, match=r"providers\.p\.proxy"):
        ProviderConfig(key="p", type="openai", proxy="ftp://x:1")


async def test_http_proxy_connect_tunnel(fake: FakeUpstream) -> None:
    """The fake proxy's CONNECT path (what aiohttp uses for https:// upstreams)."""
    import asyncio

    async with HttpProxy() as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(f"CONNECT 127.0.0.1:{fake.port} HTTP/1.1\r\n\r\n".encode())
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        writer.write(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = await reader.read()
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200") and b"fake-model" in answer
    assert proxy.targets == [("127.0.0.1", fake.port)]
