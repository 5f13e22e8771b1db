"""HTTPS on the node's own port: a certificate from a CA made here, the openai SDK over TLS,
HSTS, the minimum version, one-line config errors, and SIGHUP reloading the certificate of a
real node process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import sys
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from cryptography import x509

from node.cli import main
from node.config import parse_settings
from node.config.edge import TlsSection
from node.edge import tls_context
from node.errors import ConfigError
from tests.edge.ca import TestCA
from tests.edge.served import served_node
from tests.node.harness import settings_tree


def _tls(ca: TestCA, **extra: Any) -> dict[str, Any]:
    cert, key = ca.directory / "node.pem", ca.directory / "node.key"
    ca.issue(cert, key)
    return {"tls": {"cert_file": str(cert), "key_file": str(key), **extra}}


def _client(ca: TestCA) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca.ca_file))


async def test_openai_sdk_over_https(ca: TestCA) -> None:
    async with served_node(server=_tls(ca)) as node:
        http = openai.DefaultAsyncHttpxClient(verify=_client(ca))
        async with openai.AsyncOpenAI(base_url=f"{node.url}/v1", api_key=node.api_key,
                                      http_client=http, max_retries=0) as client:
            reply = await client.chat.completions.create(
                model="demo/mock-1", messages=[{"role": "user", "content": "over tls"}],
                max_tokens=8)
            stream = await client.chat.completions.create(
                model="demo/mock-1", messages=[{"role": "user", "content": "stream tls"}],
                max_tokens=3, stream=True)
            parts = [chunk.choices[0].delta.content or "" async for chunk in stream
                     if chunk.choices]
    assert node.url.startswith("https://")
    assert (reply.choices[0].message.content or "").startswith("Mock reply to: over tls")
    assert "".join(parts).strip()


async def test_hsts_over_tls_and_plain_http_refused(ca: TestCA) -> None:
    async with served_node(server=_tls(ca)) as node, aiohttp.ClientSession() as session:
        async with session.get(f"{node.url}/health", ssl=_client(ca)) as resp:
            assert resp.status == 200
            assert resp.headers["Strict-Transport-Security"].startswith("max-age=31536000")
        # The same port speaks only TLS: a plain-HTTP request gets no HTTP answer.
        plain = node.url.replace("https://", "http://")
        with pytest.raises(aiohttp.ClientError):
            async with session.get(f"{plain}/health",
                                   timeout=aiohttp.ClientTimeout(total=30)) as resp:
                await resp.read()


async def test_no_hsts_over_plain_http() -> None:
    async with served_node() as node, aiohttp.ClientSession() as session, session.get(
            f"{node.url}/health") as resp:
        assert resp.status == 200
        assert "Strict-Transport-Security" not in resp.headers


async def test_min_version_refuses_older_clients(ca: TestCA) -> None:
    async with served_node(server=_tls(ca, min_version="TLSv1.3")) as node:
        old = _client(ca)
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        host, port = node.url.removeprefix("https://").split(":")
        # The server's alert arrives as an SSL error or, racing the close, a reset.
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            await asyncio.open_connection(host, int(port), ssl=old)
        _, writer = await asyncio.open_connection(host, int(port), ssl=_client(ca))
        assert writer.get_extra_info("ssl_object").version() == "TLSv1.3"
        writer.close()


def test_config_errors_name_the_key(ca: TestCA, tmp_path: Path) -> None:
    good = _tls(ca)["tls"]
    with pytest.raises(ConfigError, match=r"^server\.tls\.min_version: 'TLSv1\.0' is not valid"):
        parse_settings(settings_tree(server={"tls": {**good, "min_version": "TLSv1.0"}}))
    with pytest.raises(ConfigError, match=r"^server\.tls\.key_file: missing"):
        parse_settings(settings_tree(server={"tls": {"cert_file": good["cert_file"]}}))
    missing = TlsSection(cert_file=str(tmp_path / "nope.pem"), key_file=good["key_file"])
    with pytest.raises(ConfigError, match=r"^server\.tls\.cert_file: cannot read .*nope\.pem"):
        tls_context(missing)
    garbage = tmp_path / "garbage.key"
    garbage.write_text("not a key\n")
    with pytest.raises(ConfigError, match=r"^server\.tls\.key_file: .*garbage\.key.* is not "):
        tls_context(TlsSection(cert_file=good["cert_file"], key_file=str(garbage)))
    other_cert, other_key = tmp_path / "other.pem", tmp_path / "other.key"
    ca.issue(other_cert, other_key)
    with pytest.raises(ConfigError, match=r"matching server\.tls\.cert_file"):
        tls_context(TlsSection(cert_file=good["cert_file"], key_file=str(other_key)))
    with pytest.raises(ConfigError, match=r"^server\.tls\.cert_file: .* holds no PEM"):
        tls_context(TlsSection(cert_file=str(garbage), key_file=good["key_file"]))


def test_check_config_prints_one_line(ca: TestCA, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "at.yaml"
    config.write_text("server: {tls: {cert_file: /nonexistent/cert.pem, "
                      f"key_file: {ca.directory / 'x.key'}}}}}\nstore: {{memory: {{}}}}\n")
    assert main(["check-config", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith("atgw: config error: server.tls.cert_file: cannot read")


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _served_serial(port: int, client: ssl.SSLContext) -> int:
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.close()
    return int(x509.load_der_x509_certificate(der).serial_number)


async def _wait_serial(port: int, client: ssl.SSLContext, want: int) -> int:
    seen = 0
    async with asyncio.timeout(60):
        while seen != want:
            seen = await _served_serial(port, client)
            if seen != want:
                await asyncio.sleep(0.2)
    return seen


async def test_sighup_reloads_the_certificate(ca: TestCA, tmp_path: Path) -> None:
    cert, key = tmp_path / "node.pem", tmp_path / "node.key"
    first = ca.issue(cert, key)
    port = _port()
    config = tmp_path / "at.yaml"
    config.write_text(
        f"server: {{host: 127.0.0.1, port: {port}, tls: {{cert_file: {cert}, key_file: {key}}}}}\n"
        "providers: {demo: {type: mock}}\nstore: {memory: {}}\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "node", "serve", "--config", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    client = _client(ca)
    try:
        seen = b""
        async with asyncio.timeout(60):
            while b"serving" not in seen:
                line = await proc.stdout.readline()
                assert line, seen.decode()
                seen += line
        assert await _served_serial(port, client) == first
        second = ca.issue(cert, key)
        proc.send_signal(signal.SIGHUP)
        assert await _wait_serial(port, client, second) == second
        # A broken file on the next SIGHUP: the node keeps serving the last good certificate.
        key.write_text("broken\n")
        proc.send_signal(signal.SIGHUP)
        async with asyncio.timeout(60):
            while b"certificate not reloaded" not in seen:
                line = await proc.stdout.readline()
                assert line, seen.decode()
                seen += line
        assert await _served_serial(port, client) == second
        assert proc.returncode is None
    finally:
        proc.terminate()
        await proc.wait()
