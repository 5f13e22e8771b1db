"""Telemetry off costs nothing: no OpenTelemetry module is imported, no span is made; and a
telemetry setting that cannot work stops the node with one line naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from node.config import ConfigError, parse_settings
from tests.node.harness import settings_tree

ROOT = Path(__file__).resolve().parents[2]

# A real node in a fresh interpreter: one answered chat, then which modules were loaded.
SCRIPT = """
import asyncio, sys
from tests.node.harness import post, running_node, settings_tree

async def main() -> None:
    tree = settings_tree(telemetry={"otlp_endpoint": sys.argv[1]})
    async with running_node(tree) as node:
        status, _, _ = await post(node, "/v1/chat/completions",
                                  {"model": "demo/mock", "messages": [{"role": "user",
                                                                       "content": "hi"}]})
        assert status == 200, status
        print(node.gateway.tracing is not None)
    print(any(name.split(".")[0] == "opentelemetry" for name in sys.modules))

asyncio.run(main())
"""


def loaded(endpoint: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", SCRIPT, endpoint], cwd=ROOT, env={
        "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
        timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_off_no_opentelemetry_module_is_even_imported() -> None:
    assert loaded("") == ["False", "False"]


def test_on_the_same_request_loads_it() -> None:
    # The check above can see OpenTelemetry: with an endpoint set, it is there.
    assert loaded("http://127.0.0.1:9/v1/traces") == ["True", "True"]


def test_defaults_are_off() -> None:
    telemetry = parse_settings(settings_tree()).telemetry
    assert not telemetry.enabled
    assert (telemetry.protocol, telemetry.service_name, telemetry.sample_ratio) == (
        "http/protobuf", "at-gateway", 1.0)


@pytest.mark.parametrize(("section", "named"), [
    ({"otlp_endpoint": "collector:4318"}, "telemetry.otlp_endpoint: 'collector:4318'"),
    ({"otlp_endpoint": "http://c:4318", "protocol": "thrift"}, "telemetry.protocol: 'thrift'"),
    ({"otlp_endpoint": "http://c:4318", "sample_ratio": 1.5}, "telemetry.sample_ratio: 1.5"),
    ({"otlp_endpoint": "http://c:4318", "service_name": " "}, "telemetry.service_name:"),
    ({"otlp_endpoint": "http://c:4318", "sampling": 1}, "telemetry.sampling"),
    ({"otlp_endpoint": "http://c:4318", "sample_ratio": "all"}, "telemetry.sample_ratio"),
])
def test_a_broken_setting_is_one_line_naming_the_key(section: dict[str, object],
                                                     named: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_settings(settings_tree(telemetry=section))
    message = str(raised.value)
    assert named in message and "\n" not in message


def test_settings_that_work_are_taken() -> None:
    telemetry = parse_settings(settings_tree(telemetry={
        "otlp_endpoint": "http://collector:4317", "protocol": "grpc",
        "service_name": "edge-gw", "sample_ratio": 0.25})).telemetry
    assert telemetry.enabled and telemetry.protocol == "grpc"
    assert (telemetry.service_name, telemetry.sample_ratio) == ("edge-gw", 0.25)
