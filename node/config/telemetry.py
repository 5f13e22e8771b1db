"""``telemetry`` in at.yaml: OpenTelemetry traces of every exchange (node.telemetry).

Off while ``otlp_endpoint`` is empty; then the node imports no OpenTelemetry package at all.
"""

from __future__ import annotations

import importlib.util

import msgspec

from node.errors import ConfigError

__all__ = ["GRPC_MISSING", "PROTOCOLS", "TelemetrySection", "check_telemetry"]

PROTOCOLS = ("http/protobuf", "grpc")
GRPC_EXPORTER = "opentelemetry.exporter.otlp.proto.grpc"
GRPC_MISSING = ("telemetry.protocol: grpc needs the package opentelemetry-exporter-otlp-proto-"
                "grpc, which is not installed: install at-gateway[otel] or use http/protobuf")


class TelemetrySection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Where spans go (an OTLP collector) and how many traces are kept."""

    otlp_endpoint: str = ""  # e.g. http://collector:4318/v1/traces (grpc: http://collector:4317)
    protocol: str = "http/protobuf"
    service_name: str = "at-gateway"
    sample_ratio: float = 1.0  # of traces started here; a client's sampled flag is followed

    @property
    def enabled(self) -> bool:
        return bool(self.otlp_endpoint)


def check_telemetry(telemetry: TelemetrySection) -> None:
    """Raise :class:`ConfigError` for the first telemetry setting that cannot work."""
    if not telemetry.enabled:
        return
    if not telemetry.otlp_endpoint.startswith(("http://", "https://")):
        raise ConfigError(f"telemetry.otlp_endpoint: {telemetry.otlp_endpoint!r} is not valid: "
                          "expected an http:// or https:// URL of an OTLP collector")
    if telemetry.protocol not in PROTOCOLS:
        raise ConfigError(f"telemetry.protocol: {telemetry.protocol!r} is not valid: "
                          f"expected one of {', '.join(PROTOCOLS)}")
    if telemetry.protocol == "grpc" and not _installed(GRPC_EXPORTER):
        raise ConfigError(GRPC_MISSING)
    if not telemetry.service_name.strip():
        raise ConfigError("telemetry.service_name: missing: expected the service name spans "
                          "are reported under")
    if not 0.0 <= telemetry.sample_ratio <= 1.0:
        raise ConfigError(f"telemetry.sample_ratio: {telemetry.sample_ratio:g} is not valid: "
                          "expected a fraction from 0 to 1")


def _installed(package: str) -> bool:
    """Whether ``package`` can be imported, found without importing it (its parents are
    namespace packages: nothing of OpenTelemetry runs)."""
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False
