"""The node's edge in at.yaml: ``server.tls``, ``server.cors`` / ``server.admin_cors`` and
``server.metrics_auth``, with the rules their types cannot say.

Each rule is stated once, here; a broken value stops the node with one line naming the key.
Whether the certificate and key files can actually be loaded is checked where the TLS context
is built (:mod:`node.edge`), with the same one-line errors.
"""

from __future__ import annotations

import msgspec

from node.config.numbers import Int
from node.errors import ConfigError

__all__ = ["AUDIT_BODIES", "TLS_VERSIONS", "AuditSection", "CorsSection", "MetricsAuth",
           "TlsSection", "check_audit", "check_edge"]

TLS_VERSIONS = ("TLSv1.2", "TLSv1.3")
AUDIT_BODIES = ("off", "metadata", "full")


class _Struct(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class TlsSection(_Struct, frozen=True):
    """HTTPS on the node's own port; the files are read again on SIGHUP."""

    cert_file: str = ""
    key_file: str = ""
    min_version: str = "TLSv1.2"
    # Strict-Transport-Security on every answer over TLS; 0 leaves the header out.
    hsts_max_age: Int = 31536000


class CorsSection(_Struct, frozen=True):
    """One cross-origin policy; no origins means the policy is off."""

    allow_origins: list[str] = []
    allow_methods: list[str] = msgspec.field(
        default_factory=lambda: ["GET", "POST", "PUT", "PATCH", "DELETE"])
    allow_headers: list[str] = msgspec.field(default_factory=lambda: [
        "Authorization", "Content-Type", "x-api-key", "x-goog-api-key", "anthropic-version",
        "anthropic-beta", "x-request-id"])
    allow_credentials: bool = False
    max_age: Int = 600


class MetricsAuth(_Struct, frozen=True):
    """``/metrics`` behind HTTP basic auth (username and password) or a bearer token."""

    username: str = ""
    password: str = ""
    token: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.username or self.password or self.token)


class AuditSection(_Struct, frozen=True):
    """The audit log (node.audit): off while ``path`` is empty."""

    path: str = ""
    # off: no body; metadata: the exchange's shape, no content; full: the bodies, redacted.
    bodies: str = "off"
    max_record_bytes: Int = 64 * 1024
    retention_days: Int = 30
    flush_interval: float = 1.0  # seconds between batches written


def check_audit(audit: AuditSection | None) -> None:
    if audit is None or not audit.path:
        return
    if audit.bodies not in AUDIT_BODIES:
        raise ConfigError(f"audit.bodies: {audit.bodies!r} is not valid: expected one of "
                          f"{', '.join(AUDIT_BODIES)}")
    if audit.max_record_bytes < 1024:
        raise ConfigError(f"audit.max_record_bytes: {audit.max_record_bytes} is not valid: "
                          "expected 1024 or more")
    if audit.retention_days < 1:
        raise ConfigError(f"audit.retention_days: {audit.retention_days} is not valid: "
                          "expected 1 or more days")
    if not 0 < audit.flush_interval <= 60:
        raise ConfigError(f"audit.flush_interval: {audit.flush_interval:g} is not valid: "
                          "expected seconds above 0, at most 60")


def check_edge(tls: TlsSection | None, cors: dict[str, CorsSection | None],
               metrics_auth: MetricsAuth | None) -> None:
    """Raise :class:`ConfigError` for the first edge setting that cannot work."""
    if tls is not None:
        _check_tls(tls)
    for where, policy in cors.items():
        if policy is not None:
            _check_cors(where, policy)
    if metrics_auth is not None and metrics_auth.enabled:
        _check_metrics_auth(metrics_auth)


def _check_tls(tls: TlsSection) -> None:
    for name in ("cert_file", "key_file"):
        if not getattr(tls, name):
            raise ConfigError(f"server.tls.{name}: missing: HTTPS needs cert_file and key_file "
                              "(PEM files)")
    if tls.min_version not in TLS_VERSIONS:
        raise ConfigError(f"server.tls.min_version: {tls.min_version!r} is not valid: "
                          f"expected one of {', '.join(TLS_VERSIONS)}")
    if tls.hsts_max_age < 0:
        raise ConfigError(f"server.tls.hsts_max_age: {tls.hsts_max_age} is not valid: "
                          "expected seconds, 0 or more")


def _check_cors(where: str, policy: CorsSection) -> None:
    for i, origin in enumerate(policy.allow_origins):
        if origin != "*" and (not origin.startswith(("http://", "https://"))
                              or origin.endswith("/")):
            raise ConfigError(f"{where}.allow_origins[{i}]: {origin!r} is not valid: expected "
                              "an origin like https://app.example.com (no path) or *")
    if policy.allow_credentials and "*" in policy.allow_origins:
        # Browsers refuse "*" with credentials; echoing any origin instead would hand every
        # site on the web the user's credentials.
        raise ConfigError(f"{where}.allow_origins: '*' cannot be combined with "
                          "allow_credentials: true: list the origins")
    for i, method in enumerate(policy.allow_methods):
        if not method.isalpha():
            raise ConfigError(f"{where}.allow_methods[{i}]: {method!r} is not valid: "
                              "expected an HTTP method like POST")
    if policy.max_age < 0:
        raise ConfigError(f"{where}.max_age: {policy.max_age} is not valid: expected seconds, "
                          "0 or more")


def _check_metrics_auth(auth: MetricsAuth) -> None:
    if auth.token and (auth.username or auth.password):
        raise ConfigError("server.metrics_auth: both token and username/password are set: "
                          "expected one of them")
    if not auth.token:
        if not auth.username:
            raise ConfigError("server.metrics_auth.username: missing: basic auth needs "
                              "username and password")
        if not auth.password:
            raise ConfigError("server.metrics_auth.password: missing: basic auth needs "
                              "username and password")
        if ":" in auth.username:
            raise ConfigError("server.metrics_auth.username: a ':' is not allowed in a basic "
                              "auth username")
