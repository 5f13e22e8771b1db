"""The Helm chart renders to valid Kubernetes objects that form a cluster by themselves.

Rendering goes through helm-python (Helm's Go SDK as a library: no helm binary, no cluster);
every rendered object is validated against the Kubernetes schema with kubernetes-validate in
strict mode (unknown fields are errors). No Docker, no network.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

CHART = Path(__file__).resolve().parents[2] / "helm" / "at-gateway"
RELEASE = "at"
NAMESPACE = "llm"
FULLNAME = "at-at-gateway"
HEADLESS = f"{FULLNAME}-headless"
DSN = "postgres://at:db-password@db.example:5432/at"
SECRET_ENV = (
    "AT_STORE_ENCRYPTION_KEY",
    "AT_CLUSTER_SECURITY_KEY",
    "AT_SERVER_ADMIN_TOKEN",
    "AT_STORE_POSTGRES_DATASOURCE",
)
# The newest Kubernetes minor version kubernetes-validate ships schemas for.
KUBE_VERSION = kubernetes_validate.latest_version()

MINIMAL: dict[str, Any] = {"store": {"postgres": {"datasource": DSN}}}
CUSTOM: dict[str, Any] = {
    "replicaCount": 5,
    "secrets": {"existingSecret": "at-secrets"},
    "store": {"postgres": {"existingSecret": "at-db", "existingSecretKey": "dsn"}},
    "networkPolicy": {"enabled": False},
    "resources": {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    },
}
EXPLICIT: dict[str, Any] = {
    "store": {"postgres": {"datasource": DSN}},
    "secrets": {
        "encryptionKey": "passphrase-sentinel",
        "clusterKey": "cluster-key-sentinel",
        "adminToken": "admin-token-sentinel",
    },
    "config": {
        "server": {"base_path": "/at"},
        "providers": {"openai": {"type": "openai", "api_key": "${OPENAI_API_KEY}"}},
    },
    "networkPolicy": {
        "http": {
            "allowAll": False,
            "from": [{"namespaceSelector": {"matchLabels": {"team": "apps"}}}],
        }
    },
}


EVERY_SCENARIO = pytest.mark.parametrize(
    "values", [MINIMAL, CUSTOM, EXPLICIT], ids=["default", "custom", "explicit"]
)


class Rendered:
    """The objects of one render, found by kind (and name)."""

    def __init__(self, manifests: dict[str, str]) -> None:
        self.objects: list[dict[str, Any]] = [
            doc
            for path, text in sorted(manifests.items())
            if path.endswith(".yaml")
            for doc in yaml.safe_load_all(text)
            if doc
        ]
        self.notes = next((t for p, t in manifests.items() if p.endswith("NOTES.txt")), "")

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = [o for o in self.all(kind) if name is None or o["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name or ''}, got {len(found)}"
        return found[0]

    @property
    def pod(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.one("StatefulSet")["spec"]["template"]["spec"]
        return spec

    @property
    def container(self) -> dict[str, Any]:
        container: dict[str, Any] = self.pod["containers"][0]
        return container

    def env(self) -> dict[str, dict[str, Any]]:
        return {e["name"]: e for e in self.container["env"]}

    def config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = yaml.safe_load(self.one("ConfigMap")["data"]["at.yaml"])
        return cfg


def render(values: dict[str, Any] | None) -> Rendered:
    with helm.Chart.load(CHART) as chart:
        return Rendered(chart.render(values, name=RELEASE, namespace=NAMESPACE))


def selector_labels(r: Rendered) -> dict[str, str]:
    labels: dict[str, str] = r.one("StatefulSet")["spec"]["selector"]["matchLabels"]
    return labels


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


@pytest.fixture(scope="module")
def default() -> Rendered:
    return render(MINIMAL)


@pytest.fixture(scope="module")
def custom() -> Rendered:
    return render(CUSTOM)


@pytest.fixture(scope="module")
def explicit() -> Rendered:
    return render(EXPLICIT)


def test_bare_defaults_name_the_missing_database() -> None:
    with pytest.raises(helm.HelmRenderError, match=r"store\.postgres\.datasource"):
        render(None)


@EVERY_SCENARIO
def test_every_manifest_is_valid_kubernetes(values: dict[str, Any]) -> None:
    r = render(values)
    assert r.objects
    for obj in r.objects:
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)


@EVERY_SCENARIO
def test_chart_lints_clean(values: dict[str, Any]) -> None:
    report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not report["errors"] and not problems, report


def test_default_objects(default: Rendered) -> None:
    kinds = sorted(o["kind"] for o in default.objects)
    assert kinds == sorted(
        [
            "ConfigMap",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "Secret",
            "Service",
            "Service",
            "StatefulSet",
        ]
    )
    assert all(o["metadata"]["name"].startswith(FULLNAME) for o in default.objects)


def test_statefulset_starts_pods_in_parallel_behind_the_headless_service(
    default: Rendered,
) -> None:
    sts = default.one("StatefulSet", FULLNAME)["spec"]
    assert sts["podManagementPolicy"] == "Parallel"
    assert sts["serviceName"] == HEADLESS
    assert sts["replicas"] == 3
    assert sts["template"]["metadata"]["labels"].items() >= selector_labels(default).items()


def test_pod_name_feeds_the_cluster_identity(default: Rendered) -> None:
    env = default.env()
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    advertise = env["AT_CLUSTER_ADVERTISE"]["value"]
    assert advertise == f"$(POD_NAME).{HEADLESS}.$(POD_NAMESPACE).svc.cluster.local"
    names = [e["name"] for e in default.container["env"]]
    # Kubernetes expands $(VAR) only from variables defined earlier in the list.
    assert names.index("POD_NAME") < names.index("AT_CLUSTER_ADVERTISE")
    assert names.index("POD_NAMESPACE") < names.index("AT_CLUSTER_ADVERTISE")


def test_headless_service_publishes_unready_pods_with_named_ports(default: Rendered) -> None:
    svc = default.one("Service", HEADLESS)["spec"]
    assert svc["clusterIP"] == "None"
    assert svc["publishNotReadyAddresses"] is True
    assert svc["selector"] == selector_labels(default)
    ports = {p["name"]: p for p in svc["ports"]}
    assert ports["bus"]["port"] == 5000
    assert ports["raft"]["port"] == 5001
    container_ports = {p["name"]: p["containerPort"] for p in default.container["ports"]}
    assert container_ports == {"http": 8080, "bus": 5000, "raft": 5001}
    for port in svc["ports"]:
        assert port["targetPort"] in container_ports


def test_client_service_serves_http_only(default: Rendered) -> None:
    svc = default.one("Service", FULLNAME)["spec"]
    assert svc.get("clusterIP") != "None"
    assert [(p["name"], p["targetPort"]) for p in svc["ports"]] == [("http", "http")]
    assert svc["selector"] == selector_labels(default)


def test_probes_liveness_health_readiness_ready(default: Rendered) -> None:
    c = default.container
    assert c["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert c["startupProbe"]["httpGet"]["path"] == "/health"


def test_probes_follow_the_base_path(explicit: Rendered) -> None:
    c = explicit.container
    assert c["livenessProbe"]["httpGet"]["path"] == "/at/health"
    assert c["readinessProbe"]["httpGet"]["path"] == "/at/ready"
    assert explicit.config()["server"]["base_path"] == "/at"


def test_security_context_is_locked_down(default: Rendered) -> None:
    pod = default.pod
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    sc = default.container["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    # A read-only root needs somewhere to write: /tmp and the working directory.
    mounts = {m["mountPath"] for m in default.container["volumeMounts"]}
    assert {"/tmp", "/var/lib/at", "/etc/at"} <= mounts


def test_secrets_reach_the_pod_only_through_secret_key_refs(default: Rendered) -> None:
    env = default.env()
    for name in SECRET_ENV:
        assert "value" not in env[name], name
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == FULLNAME
    secret = default.one("Secret", FULLNAME)
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    data = secret["data"]
    assert set(data) == {"encryption-key", "cluster-key", "admin-token", "datasource"}
    assert base64.b64decode(data["datasource"]).decode() == DSN
    # Generated values are long random strings, never empty.
    for key in ("encryption-key", "cluster-key", "admin-token"):
        assert len(base64.b64decode(data[key])) >= 32


def test_config_map_holds_no_secret(explicit: Rendered) -> None:
    text = explicit.one("ConfigMap")["data"]["at.yaml"]
    for sentinel in ("passphrase-sentinel", "cluster-key-sentinel", "admin-token-sentinel"):
        assert sentinel not in text
    assert "db-password" not in text and DSN not in text
    cfg = explicit.config()
    assert "encryption_key" not in cfg["store"]
    assert "datasource" not in cfg["store"]["postgres"]
    assert "admin_token" not in cfg["server"]
    assert cfg["cluster"]["security"] == {"enabled": True}
    # Provider keys stay references to environment variables.
    assert cfg["providers"]["openai"]["api_key"] == "${OPENAI_API_KEY}"
    data = explicit.one("Secret", FULLNAME)["data"]
    assert base64.b64decode(data["encryption-key"]) == b"passphrase-sentinel"
    assert base64.b64decode(data["admin-token"]) == b"admin-token-sentinel"


def test_config_points_discovery_at_the_headless_service(default: Rendered) -> None:
    cluster = default.config()["cluster"]
    assert cluster["dns_addr"] == f"{HEADLESS}.{NAMESPACE}.svc.cluster.local"
    assert (cluster["port"], cluster["raft_port"], cluster["replicas"]) == (5000, 5001, 3)
    server = default.config()["server"]
    assert (server["host"], server["port"]) == ("0.0.0.0", 8080)
    assert default.container["args"] == ["--config", "/etc/at/at.yaml"]
    annotations = default.one("StatefulSet")["spec"]["template"]["metadata"]["annotations"]
    assert len(annotations["checksum/config"]) == 64


def test_network_policy_opens_raft_and_bus_only_to_own_pods(default: Rendered) -> None:
    policy = default.one("NetworkPolicy", FULLNAME)["spec"]
    own = selector_labels(default)
    assert policy["podSelector"] == {"matchLabels": own}
    assert policy["policyTypes"] == ["Ingress"]
    cluster_rules = [
        rule
        for rule in policy["ingress"]
        if {p["port"] for p in rule.get("ports", [])} & {"raft", "bus"}
    ]
    assert len(cluster_rules) == 1
    rule = cluster_rules[0]
    assert {p["port"] for p in rule["ports"]} == {"raft", "bus"}
    assert rule["from"] == [{"podSelector": {"matchLabels": own}}]
    http_rules = [r for r in policy["ingress"] if r is not rule]
    assert http_rules == [{"ports": [{"port": "http", "protocol": "TCP"}]}]


def test_network_policy_can_restrict_http(explicit: Rendered) -> None:
    policy = explicit.one("NetworkPolicy", FULLNAME)["spec"]
    http = [r for r in policy["ingress"] if r["ports"] == [{"port": "http", "protocol": "TCP"}]]
    assert len(http) == 1
    assert http[0]["from"] == [
        {"podSelector": {"matchLabels": selector_labels(explicit)}},
        {"namespaceSelector": {"matchLabels": {"team": "apps"}}},
    ]


def test_pod_disruption_budget_keeps_quorum(default: Rendered) -> None:
    pdb = default.one("PodDisruptionBudget", FULLNAME)["spec"]
    assert pdb["maxUnavailable"] == 1
    assert pdb["selector"]["matchLabels"] == selector_labels(default)


def test_custom_values(custom: Rendered) -> None:
    assert custom.one("StatefulSet")["spec"]["replicas"] == 5
    assert custom.config()["cluster"]["replicas"] == 5
    assert custom.all("Secret") == []
    assert custom.all("NetworkPolicy") == []
    env = custom.env()
    for name in SECRET_ENV[:3]:
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "at-secrets"
    assert env["AT_STORE_POSTGRES_DATASOURCE"]["valueFrom"]["secretKeyRef"] == {
        "name": "at-db",
        "key": "dsn",
    }
    assert custom.container["resources"] == CUSTOM["resources"]
    assert "at-secrets" in custom.notes


def test_no_secret_value_is_inlined_anywhere_but_the_secret(explicit: Rendered) -> None:
    sentinels = {"passphrase-sentinel", "cluster-key-sentinel", "admin-token-sentinel", DSN}
    for obj in explicit.objects:
        if obj["kind"] == "Secret":
            continue
        for node in walk(obj):
            if isinstance(node, str):
                assert not any(s in node for s in sentinels), (obj["kind"], node)
