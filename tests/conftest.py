"""Fixtures shared across test packages: the session's throwaway PostgreSQL server."""

from tests.postgres import postgres_dsn, postgres_server

__all__ = ["postgres_dsn", "postgres_server"]
