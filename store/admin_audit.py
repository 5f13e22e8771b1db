"""Admin changes on the record in the database, so that every node answers for the cluster.

The audit log's day files are per node; an admin change made on one node must be listed by
all of them, so each change is also one row here: when it was made (epoch seconds, the range
queried) and the record itself as JSON (who, method, path, item, status; never a body, so no
secret). Rows older than the audit log's retention are deleted like its files.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ADMIN_CHANGES_MAX"]

ADMIN_CHANGES_MAX: Final = 100_000
"""The most rows one read returns (the oldest first): admin changes are rare, and a time range
holding more is a query to narrow."""
