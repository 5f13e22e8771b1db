"""Table definitions (SQLAlchemy Core), named with the configured prefix and schema.

Timestamps are stored as float seconds since the epoch (UTC) so SQLite and Postgres agree.
``providers.config`` is the provider's JSON mapping with registered secrets in ``enc:v1:``
form; ``key_version`` is the data key its secrets are under (0 = plaintext) and ``rev`` is a
counter bumped by every write, used for compare-and-set by the re-encryption sweep.
``api_keys.policy`` is the key's policy as a JSON object. ``quota`` is the lease ledger of
store/quota.py: one row per (scope, limit, window) with ``cap`` and ``granted``; ``last_grant``
carries the size of the last grant out of the guarded update (Postgres before 18 cannot return
a row's old values). ``routes.config`` is a route's JSON mapping (no secrets, so plain).
``responses`` holds stored Responses-API answers (store/responses.py):
``body`` is the JSON of the response and its input items, readable only by ``key_id``.
``admin_audit`` holds one row per admin change (store/admin_audit.py): ``record`` is its JSON,
``at`` when it was made.
``response_items`` names the items each stored response holds (what an ``item_reference`` is
resolved by).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa

from ..errors import StoreError

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,47}$")
_PREFIX = re.compile(r"^[A-Za-z0-9_]{0,20}$")


class InvalidName(StoreError, ValueError):
    """A schema name or table prefix that is not a plain identifier."""


def check_names(schema: str, prefix: str) -> None:
    """Reject schema names and prefixes that are not plain identifiers (no quoting games)."""
    if schema and not _IDENT.match(schema):
        raise InvalidName(f"store schema {schema!r} is not a plain identifier "
                          "([A-Za-z_][A-Za-z0-9_]*, at most 48 characters)")
    if not _PREFIX.match(prefix):
        raise InvalidName(f"store table_prefix {prefix!r} may only hold letters, digits and _")


@dataclass(frozen=True, slots=True)
class Tables:
    """Every table of one store, bound to one MetaData."""

    metadata: sa.MetaData
    schema_version: sa.Table
    providers: sa.Table
    api_keys: sa.Table
    settings: sa.Table
    usage: sa.Table
    key_state: sa.Table
    kdf: sa.Table
    keyring: sa.Table
    key_wraps: sa.Table
    quota: sa.Table
    routes: sa.Table
    responses: sa.Table
    admin_audit: sa.Table
    response_items: sa.Table


def usage_cache_columns() -> tuple[sa.Column[object], ...]:
    """The cache token columns of ``usage`` (migration 2 adds them to older databases)."""
    return tuple(sa.Column(name, sa.BigInteger, nullable=False, server_default="0")
                 for name in ("cache_read_tokens", "cache_write_tokens"))


def usage_detail_columns() -> tuple[sa.Column[object], ...]:
    """The request detail columns of ``usage`` (migration 9 adds them to older databases):
    null in rows written before, as the error text is empty."""
    return (sa.Column("ttft_ms", sa.Float), sa.Column("overhead_ms", sa.Float),
            sa.Column("attempts", sa.Integer),
            sa.Column("error", sa.String(500), nullable=False, server_default=""))


def build_tables(prefix: str, schema: str) -> Tables:
    """Declare the tables as ``<schema>.<prefix><name>``; validates both names."""
    check_names(schema, prefix)
    md = sa.MetaData(schema=schema or None)

    def table(name: str, *cols: sa.Column[object] | sa.Index) -> sa.Table:
        return sa.Table(prefix + name, md, *cols)

    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    return Tables(
        metadata=md,
        schema_version=table(
            "schema_version", sa.Column("version", sa.Integer, primary_key=True),
            sa.Column("name", sa.String(100), nullable=False),
            sa.Column("applied_at", sa.Float, nullable=False)),
        providers=table(
            "providers", sa.Column("key", sa.String(200), primary_key=True),
            sa.Column("config", sa.Text, nullable=False),
            sa.Column("key_version", sa.Integer, nullable=False, index=True),
            sa.Column("rev", sa.Integer, nullable=False),
            sa.Column("updated_at", sa.Float, nullable=False)),
        api_keys=table(
            "api_keys", sa.Column("id", sa.String(64), primary_key=True),
            sa.Column("name", sa.Text, nullable=False),
            sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
            sa.Column("prefix", sa.String(32), nullable=False),
            sa.Column("providers", sa.Text), sa.Column("models", sa.Text),
            sa.Column("expires_at", sa.Float), sa.Column("enabled", sa.Boolean, nullable=False),
            sa.Column("created_at", sa.Float, nullable=False),
            sa.Column("policy", sa.Text, nullable=False, server_default="{}")),
        settings=table(
            "settings", sa.Column("name", sa.String(200), primary_key=True),
            sa.Column("value", sa.Text, nullable=False)),
        usage=table(
            "usage", sa.Column("id", big, primary_key=True, autoincrement=True),
            sa.Column("at", sa.Float, nullable=False, index=True),
            sa.Column("day", sa.String(10), nullable=False),
            sa.Column("key_id", sa.String(64), nullable=False),
            sa.Column("provider", sa.String(200), nullable=False),
            sa.Column("model", sa.String(200), nullable=False),
            sa.Column("input_tokens", sa.BigInteger, nullable=False),
            sa.Column("output_tokens", sa.BigInteger, nullable=False),
            sa.Column("status", sa.Integer, nullable=False),
            sa.Column("latency_ms", sa.Float, nullable=False),
            *usage_cache_columns(),
            sa.Column("cost_usd", sa.Double, nullable=False, server_default=sa.text("0")),
            sa.Column("request_id", sa.String(128), nullable=False, server_default=""),
            *usage_detail_columns()),
        key_state=table(
            "key_state", sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("epoch", sa.Integer, nullable=False),
            sa.Column("active_version", sa.Integer, nullable=False),
            sa.Column("kek_id", sa.Integer, nullable=False)),
        kdf=table(
            "kdf", sa.Column("kek_id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("salt", sa.Text, nullable=False),
            sa.Column("params", sa.Text, nullable=False),
            sa.Column("check_value", sa.Text, nullable=False),
            sa.Column("state", sa.String(16), nullable=False),
            sa.Column("created_at", sa.Float, nullable=False)),
        keyring=table(
            "keyring", sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("fingerprint", sa.String(32), nullable=False),
            sa.Column("state", sa.String(16), nullable=False),
            sa.Column("created_at", sa.Float, nullable=False),
            sa.Column("activated_at", sa.Float)),
        key_wraps=table(
            "key_wraps", sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("kek_id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("wrapped", sa.Text, nullable=False)),
        quota=table(
            "quota", sa.Column("scope", sa.Text, primary_key=True),
            sa.Column("lim", sa.Text, primary_key=True),
            sa.Column("win_start", sa.Double, primary_key=True, autoincrement=False),
            sa.Column("win_end", sa.Double, nullable=False, index=True),
            sa.Column("cap", sa.BigInteger, nullable=False),
            sa.Column("granted", sa.BigInteger, nullable=False),
            sa.Column("last_grant", sa.BigInteger, nullable=False)),
        routes=table(
            "routes", sa.Column("name", sa.String(200), primary_key=True),
            sa.Column("config", sa.Text, nullable=False),
            sa.Column("updated_at", sa.Float, nullable=False)),
        responses=table(
            "responses", sa.Column("id", sa.String(128), primary_key=True),
            sa.Column("key_id", sa.String(64), nullable=False),
            sa.Column("created_at", sa.Float, nullable=False),
            sa.Column("expires_at", sa.Float, nullable=False, index=True),
            sa.Column("body", sa.LargeBinary, nullable=False)),
        admin_audit=table(
            "admin_audit", sa.Column("id", big, primary_key=True, autoincrement=True),
            sa.Column("at", sa.Float, nullable=False, index=True),
            sa.Column("record", sa.Text, nullable=False)),
        response_items=table(
            "response_items", sa.Column("item_id", sa.String(128), primary_key=True),
            sa.Column("response_id", sa.String(128), primary_key=True, index=True),
            sa.Column("key_id", sa.String(64), nullable=False)),
    )
