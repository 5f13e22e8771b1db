"""compose/monitoring: every query of the Grafana dashboard names only metrics a node exports
(read from a real node's ``/metrics``), and Prometheus scrapes every node of the compose
cluster."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from tests.node.harness import running_node

MONITORING = Path(__file__).resolve().parents[2] / "compose" / "monitoring"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "at-gateway.json"
# Series Prometheus makes itself for every scrape target (not the node's to export).
PROMETHEUS_OWN = {"up"}
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count")}
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"(?<![\w$.])([A-Za-z_:][A-Za-z0-9_:]*)\b(?!\s*\()")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "group_left",
             "group_right", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: every bare name that is not a function,
    a keyword, a label, a grouping clause or a number."""
    for pattern in (_STRINGS, _MATCHERS, _RANGES, _GROUPING):
        expr = pattern.sub(" ", expr)
    return {name for name in _NAME.findall(expr) if name.lower() not in _KEYWORDS}


def queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    def walk(panels: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
        for panel in panels:
            yield from walk(panel.get("panels", []))
            for target in panel.get("targets", []):
                yield panel["title"], target["expr"]
    yield from walk(dashboard["panels"])
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"]
            # label_values(metric, label): the metric is the first argument
            yield f"${variable['name']}", re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", query)


async def exported() -> set[str]:
    """Every series name a real node's /metrics can carry, from its ``# TYPE`` lines."""
    async with running_node() as node, aiohttp.ClientSession() as session, session.get(
            f"{node.url}/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.update(name + suffix for suffix in SUFFIXES.get(kind, ("",)))
            if kind == "counter" and not name.endswith("_total"):
                names.add(f"{name}_total")  # a counter's samples end in _total
    return names


def test_the_name_parser_sees_metrics_and_only_metrics() -> None:
    expr = ('histogram_quantile(0.95, sum by (le, provider) (rate(at_x_bucket{instance=~"$i", '
            'status="5xx"}[$__rate_interval]))) / on (job) group_left sum(at_y_total offset 5m)'
            ' > bool 0 unless up{job="a"}')
    assert metric_names(expr) == {"at_x_bucket", "at_y_total", "up"}


async def test_every_dashboard_query_names_a_metric_the_node_exports() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    known = await exported() | PROMETHEUS_OWN
    found = list(queries(dashboard))
    assert len(found) >= 20
    unknown = [(where, name) for where, expr in found for name in metric_names(expr)
               if name not in known]
    assert unknown == []
    every_name = {name for _, expr in found for name in metric_names(expr)}
    # What the dashboard is for: each of these is on it.
    assert {"at_http_requests_total", "at_http_request_duration_seconds_bucket",
            "at_upstream_request_duration_seconds_bucket", "at_tokens_total",
            "at_cost_usd_total", "at_upstream_errors_total", "at_rate_limit_exceeded_total",
            "at_quota_exceeded_total", "at_upstream_cooldowns_total", "up"} <= every_name


def test_every_panel_reads_the_provisioned_prometheus() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert all(panel["targets"] and panel["datasource"]["uid"] == "${datasource}"
               for panel in panels)
    source = yaml.safe_load((MONITORING / "grafana" / "provisioning" / "datasources"
                             / "prometheus.yml").read_text())["datasources"][0]
    assert source["url"] == "http://prometheus:9090"
    (variable,) = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert variable["current"]["value"] == source["uid"]


def test_prometheus_scrapes_every_node_of_the_compose_cluster() -> None:
    compose = yaml.safe_load((MONITORING.parent / "docker-compose.yml").read_text())
    nodes = {name for name, service in compose["services"].items()
             if service.get("command") == ["--config", "/etc/at/at.yaml"]}
    assert nodes == {"at-0", "at-1", "at-2"}
    prometheus = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    (job,) = prometheus["scrape_configs"]
    targets = {target for group in job["static_configs"] for target in group["targets"]}
    assert targets == {f"{node}:8080" for node in nodes}
    assert job["metrics_path"] == "/metrics"
    monitoring = yaml.safe_load((MONITORING / "docker-compose.yml").read_text())
    for service in monitoring["services"].values():
        assert service["profiles"] == ["monitoring"]
        assert service["networks"] == ["atnet"]  # the cluster's network, where the nodes are
