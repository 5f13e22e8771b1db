"""SQL backends (SQLite via aiosqlite, Postgres via asyncpg) on SQLAlchemy 2 async Core."""
