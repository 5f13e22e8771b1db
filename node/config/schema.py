"""The configuration schema: frozen msgspec structs for at.yaml, durations, plain output.

The types say what each key holds; :mod:`node.config.loading` turns a parsed tree into these
structs and :mod:`node.config.wiring` turns them into the other packages' config objects.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from node.config.edge import AuditSection, CorsSection, MetricsAuth, TlsSection
from node.config.numbers import Int
from node.config.telemetry import TelemetrySection
from node.errors import BadRequest, ConfigError
from node.limits.policy import parse_limits

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


class Duration(float):
    """Seconds, written in the file as ``30s``, ``15m``, ``1h``, ``250ms`` or a plain number."""


class _Struct(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class ForwardAuth(_Struct, frozen=True):
    """Delegate admin authentication to an external service (Traefik-style forward auth)."""

    address: str = ""
    auth_request_headers: list[str] = []
    auth_response_headers: list[str] = []
    auth_response_headers_regex: str = ""
    trust_forward_header: bool = False
    insecure_skip_verify: bool = False
    timeout: Duration = Duration(10)
    request_method: str = "GET"
    redirect_url: str = ""
    redirect_code: Int = 302
    redirect_status_codes: list[Int] = msgspec.field(default_factory=lambda: [401])


class ClusterSecurity(_Struct, frozen=True):
    enabled: bool = True
    key: str = ""


class ClusterSection(_Struct, frozen=True):
    dns_addr: str = ""
    dns_server: str = ""
    peers: list[str] = []
    bind_addr: str = "0.0.0.0"
    advertise: str = ""
    port: Int = 5000
    raft_port: Int = 5001
    replicas: Int = 3
    security: ClusterSecurity = ClusterSecurity()
    reconcile_interval: Duration = Duration(5)
    dns_interval: Duration = Duration(5)


class ServerSection(_Struct, frozen=True):
    host: str = "0.0.0.0"
    port: Int = 8080
    base_path: str = ""
    admin_token: str = ""
    forward_auth: ForwardAuth = ForwardAuth()
    max_body_bytes: Int = 10 * 1024 * 1024
    log_level: str = "info"
    log_format: str = "auto"
    usage_flush_interval: Duration = Duration(2)
    # How long a stored Responses-API answer (previous_response_id) is kept.
    responses_retention: Duration = Duration(30 * 24 * 3600)
    stream_keepalive: Duration = Duration(15)
    shutdown_timeout: Duration = Duration(30)
    # Slow clients: a request head must arrive within header_timeout of its first byte, a
    # body within body_timeout, and an idle keep-alive connection closes after idle_timeout.
    header_timeout: Duration = Duration(30)
    body_timeout: Duration = Duration(60)
    idle_timeout: Duration = Duration(75)
    # A client that stops reading a stream holds its upstream connection: a write that
    # cannot finish within send_timeout ends the exchange as if the client had left.
    send_timeout: Duration = Duration(60)
    # Serving processes on this node (node.workers); unset: one per CPU this process may use
    # (affinity and cgroup quota), or 1 with store.memory. 1 is the single-process node.
    workers: Int | None = None
    alan: ClusterSection | None = None
    # The edge (node.config.edge): HTTPS, cross-origin policies for the gateway routes and
    # for /api/v1, and credentials for /metrics. All off when unset.
    tls: TlsSection | None = None
    cors: CorsSection | None = None
    admin_cors: CorsSection | None = None
    metrics_auth: MetricsAuth | None = None


class ProviderSection(_Struct, frozen=True):
    type: str
    api_key: str = ""
    base_url: str = ""
    model: str = ""
    models: list[str] = []
    extra_headers: dict[str, str] = {}
    proxy: str = ""
    api_version: str = ""
    timeout: Duration = Duration(600)
    connect_timeout: Duration = Duration(10)
    max_tokens: Int = 4096
    max_output_tokens: Int = 0
    credentials_file: str = ""
    # OpenAI-compatible: the upstream serves /responses (None: only api.openai.com does).
    responses_api: bool | None = None
    # Provider-wide limits (the names and units of a key's limits), for all its traffic.
    limits: dict[str, float] | None = None
    # model -> {input, output, cache_read, cache_write}: USD per million tokens, overriding
    # the price catalogue for this provider.
    prices: dict[str, dict[str, float]] = {}


ROUTE_STRATEGIES = ("weighted", "least_busy", "latency")
RETRY_KINDS = ("connect", "timeout", "429", "5xx")


class RouteTarget(_Struct, frozen=True):
    """One deployment a route may send to: ``provider/model`` as anywhere else."""

    model: str
    weight: float = 1.0
    priority: Int = 1  # tier: 1 first; a higher tier serves only when every lower one cannot


class RouteSection(_Struct, frozen=True):
    """A served model name over weighted, tiered targets (``routes.<name>``)."""

    targets: list[RouteTarget]
    strategy: str = "weighted"
    retries: Int = 2  # further targets tried for one request
    retry_on: list[str] = msgspec.field(default_factory=lambda: list(RETRY_KINDS))
    timeout: Duration = Duration(0)  # per attempt and a stream's wait for its first event; 0 off
    cooldown: Duration = Duration(30)  # when a failing upstream names no Retry-After


class SqliteSection(_Struct, frozen=True):
    datasource: str = "at.db"
    table_prefix: str = "at_"


class PostgresSection(_Struct, frozen=True):
    datasource: str
    schema: str = ""
    table_prefix: str = "at_"
    conn_max_lifetime: Duration = Duration(900)
    max_idle_conns: Int = 3
    max_open_conns: Int = 3


class StoreSection(_Struct, frozen=True):
    encryption_key: str = ""
    memory: dict[str, Any] | None = None
    sqlite: SqliteSection | None = None
    postgres: PostgresSection | None = None
    # Test-only: a key rotation on this node exits 137 at this step (store.faults); "" = off.
    rotation_fault: str = ""


class Settings(_Struct, frozen=True):
    """The whole validated configuration of one node."""

    server: ServerSection = ServerSection()
    providers: dict[str, ProviderSection] = {}
    routes: dict[str, RouteSection] = {}
    store: StoreSection = StoreSection()
    cluster: ClusterSection | None = None
    audit: AuditSection = AuditSection()
    telemetry: TelemetrySection = TelemetrySection()

    @property
    def cluster_section(self) -> ClusterSection | None:
        """``cluster``, or AT's name for it, ``server.alan``; None when not clustered."""
        section = self.cluster or self.server.alan
        if section is None or not (section.dns_addr or section.peers):
            return None
        return section


PRICE_FIELDS = ("input", "output", "cache_read", "cache_write")
PRICE_MAX = 1e6  # USD per million tokens: far above any real price, below nonsense


def checked_policy_fields(key: str, tree: Any) -> Any:
    """A provider's raw tree with ``limits`` and ``prices`` checked (null limits dropped).

    Checked before the schema converts the tree, so each error is one line naming the exact
    key (``providers.up.prices.gpt-4o.input``), by the same rules as a key's limits.
    """
    if not isinstance(tree, dict):
        return tree  # the schema itself reports a provider that is no mapping
    where = f"providers.{key}"
    if "limits" in tree:
        try:
            tree = {**tree, "limits": parse_limits(tree["limits"], f"{where}.limits") or None}
        except BadRequest as exc:
            named = f"{exc.param}: ".join(exc.message.split(f"'{exc.param}' ", 1))
            raise ConfigError(named) from None
    prices = tree.get("prices")
    if prices is None:
        return tree
    if not isinstance(prices, dict):
        raise ConfigError(f"{where}.prices: expected a mapping of model to prices")
    for model, price in prices.items():
        _check_price(f"{where}.prices.{model}", price)
    return tree


def _check_price(where: str, price: Any) -> None:
    if not isinstance(price, dict):
        raise ConfigError(f"{where}: expected a mapping with {', '.join(PRICE_FIELDS)} "
                          "(USD per million tokens)")
    for name, value in price.items():
        if name not in PRICE_FIELDS:
            raise ConfigError(f"{where}.{name}: unknown key (expected {', '.join(PRICE_FIELDS)})")
        if (isinstance(value, bool) or not isinstance(value, int | float)
                or not 0 <= value <= PRICE_MAX):
            raise ConfigError(f"{where}.{name}: {value!r} is not valid: expected USD per "
                              f"million tokens, 0 to {PRICE_MAX:g}")
    for name in ("input", "output"):
        if name not in price:
            raise ConfigError(f"{where}.{name}: missing: input and output prices are required")


def decode_custom(kind: type, value: Any) -> Any:
    """msgspec's ``dec_hook``: the custom types of the schema."""
    if kind is Duration:
        return parse_duration(value)
    raise NotImplementedError


def parse_duration(value: Any) -> Duration:
    """Turn ``15m``/``30s``/``1.5h``/``250ms``/``42`` into seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 30s, 15m, 1h or a number of seconds")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("expected a duration that is not negative")
        return Duration(value)
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError("expected a duration like 30s, 15m, 1h or a number of seconds")
    return Duration(float(match.group(1)) * _UNITS[match.group(2)])


def to_plain(section: msgspec.Struct) -> dict[str, Any]:
    """A section as plain JSON-able data (durations become seconds)."""
    data: dict[str, Any] = msgspec.to_builtins(section, enc_hook=float)
    return data
