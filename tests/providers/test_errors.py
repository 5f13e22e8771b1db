"""The exception tree: shape, statuses, stdlib meaning."""

from __future__ import annotations

import pytest

from providers import (
    InvalidConfig,
    InvalidRequest,
    ProviderError,
    UpstreamClientError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamUnreachable,
)


@pytest.mark.parametrize(
    ("cls", "status", "stdlib"),
    [
        (ProviderError, 502, Exception),
        (InvalidConfig, 502, ValueError),
        (InvalidRequest, 400, ValueError),
        (UpstreamError, 502, ProviderError),
        (UpstreamRateLimited, 429, UpstreamError),
        (UpstreamClientError, 400, UpstreamError),
        (UpstreamServerError, 502, UpstreamError),
        (UpstreamTimeout, 504, TimeoutError),
        (UpstreamUnreachable, 502, ConnectionError),
    ],
)
def test_default_status_and_bases(cls: type[ProviderError], status: int, stdlib: type) -> None:
    err = cls("boom", provider="p")
    assert isinstance(err, ProviderError)
    assert isinstance(err, stdlib)
    assert (err.status, err.provider, err.message, err.retry_after) == (status, "p", "boom", None)
    assert str(err) == "boom"


def test_fields_are_typed_and_overridable() -> None:
    err = UpstreamRateLimited("slow", provider="p", retry_after="7", upstream_status=429)
    assert err.retry_after == "7"
    assert err.upstream_status == 429
    assert UpstreamClientError("no", status=404).status == 404
    assert InvalidRequest("x: bad", param="x").param == "x"
    assert "UpstreamRateLimited" in repr(err)
