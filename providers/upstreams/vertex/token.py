"""Google access tokens from application default credentials, for the Vertex adapter.

A service-account JSON (``config.credentials_file``) or, when none is set, whatever
``google.auth.default`` finds (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud's file, the
metadata server). google-auth is blocking, so loading and refreshing run in a thread;
one lock makes concurrent requests share one refresh, and the token is reused until
google-auth considers it close to expiry.
"""

from __future__ import annotations

import asyncio
from typing import Any

import google.auth
import google.auth.exceptions
import google.auth.transport.requests
import requests
from google.oauth2 import service_account

from providers.errors import ProviderError, UpstreamServerError, UpstreamUnreachable

__all__ = ["GoogleToken"]

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
METADATA_HOSTS = "169.254.169.254,metadata.google.internal,metadata"


class GoogleToken:
    """Caches one set of credentials and hands out fresh bearer tokens."""

    def __init__(self, credentials_file: str, *, provider: str, proxy: str = "") -> None:
        self._file = credentials_file
        self._provider = provider
        self._session = _session(proxy)
        self._credentials: Any = None
        self._project = ""
        self._lock = asyncio.Lock()

    async def project(self) -> str:
        """The project id of the credentials ("" when they do not say)."""
        async with self._lock:
            await self._load()
        return self._project

    async def token(self) -> str:
        """A valid access token, refreshed first when it is missing or about to expire."""
        credentials = self._credentials
        if credentials is not None and credentials.valid:
            return str(credentials.token)
        async with self._lock:
            await self._load()
            credentials = self._credentials
            if not credentials.valid:
                await self._call(credentials.refresh,
                                 google.auth.transport.requests.Request(self._session))
            return str(credentials.token)

    async def _load(self) -> None:
        if self._credentials is not None:
            return
        if self._file:
            credentials = await self._call(
                service_account.Credentials.from_service_account_file, self._file, scopes=SCOPES
            )
            project = credentials.project_id
        else:
            credentials, project = await self._call(google.auth.default, scopes=SCOPES)
        self._credentials = credentials
        self._project = str(project or "")

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except google.auth.exceptions.TransportError as exc:
            raise self._error(UpstreamUnreachable, exc) from exc
        except (google.auth.exceptions.GoogleAuthError, OSError, ValueError, LookupError,
                TypeError) as exc:  # the last ones: a token endpoint answering nonsense
            raise self._error(UpstreamServerError, exc) from exc

    def _error(self, kind: type[ProviderError], exc: BaseException) -> ProviderError:
        if isinstance(exc, OSError):
            # Its text names the file (the credentials' path); the reason alone says enough.
            detail = exc.strerror or type(exc).__name__
        else:
            text = " ".join(str(exc).split())
            # Clipped the way upstream text is, so the redactor also catches a cut secret.
            detail = (text[:300] + "..." if len(text) > 300 else text) or type(exc).__name__
        return kind(
            f"provider {self._provider!r}: cannot get a Google access token: {detail}",
            provider=self._provider,
        )


def _session(proxy: str) -> requests.Session:
    """The token endpoint is reached like the upstream: through the provider's proxy only
    (never HTTP_PROXY from the environment), except the link-local metadata server."""
    session = requests.Session()
    session.trust_env = False
    if proxy:
        # requests spells SOCKS with remote DNS "socks5h" and needs PySocks for any SOCKS.
        session.proxies = {"http": proxy, "https": proxy, "no_proxy": METADATA_HOSTS}
    return session
