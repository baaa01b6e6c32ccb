"""Entra's OpenID configuration and signing keys, fetched once and cached.

Both are kept for 24 hours. A token signed with a ``kid`` the cached key set
does not have triggers one refetch of the key set (Entra rolls its keys over
without notice), but no more often than every 5 minutes per key set, so
tokens with made-up key ids cannot turn the gateway into a request amplifier
against Entra.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc.jwk import KeySet

METADATA_LIFETIME = 24 * 3600.0
UNKNOWN_KID_REFETCH_INTERVAL = 5 * 60.0
FETCH_TIMEOUT = httpx.Timeout(10.0)


class ProviderUnavailableError(Exception):
    """Entra's metadata or keys could not be read (network, status, or malformed)."""


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    """The parts of the OpenID configuration the relying party uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None


@dataclass(slots=True)
class _Entry:
    value: Any
    fetched_at: float


@dataclass(slots=True)
class _KeyEntry:
    keys: KeySet
    fetched_at: float
    # When an unknown kid last made us refetch (or the set was first fetched).
    refetched_at: float


class ProviderCache:
    """Per-process cache of OpenID configurations and key sets, keyed by URL."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = time.monotonic,
        lifetime: float = METADATA_LIFETIME,
        refetch_interval: float = UNKNOWN_KID_REFETCH_INTERVAL,
    ) -> None:
        self._http = http
        self._clock = clock
        self._lifetime = lifetime
        self._refetch_interval = refetch_interval
        self._metadata: dict[str, _Entry] = {}
        self._keys: dict[str, _KeyEntry] = {}
        self.fetches = 0

    async def metadata(self, configuration_url: str) -> ProviderMetadata:
        now = self._clock()
        entry = self._metadata.get(configuration_url)
        if entry is None or now - entry.fetched_at >= self._lifetime:
            entry = _Entry(_parse_metadata(await self._get_json(configuration_url)), now)
            self._metadata[configuration_url] = entry
        value: ProviderMetadata = entry.value
        return value

    async def key_set(self, jwks_uri: str, kid: str | None) -> KeySet:
        """The key set holding ``kid``, refetched once when ``kid`` is unknown.

        Returns the cached set unchanged when a refetch is not allowed yet; the
        caller then finds no key and rejects the token.
        """
        now = self._clock()
        entry = self._keys.get(jwks_uri)
        if entry is None or now - entry.fetched_at >= self._lifetime:
            entry = _KeyEntry(await self._fetch_keys(jwks_uri), now, now)
            self._keys[jwks_uri] = entry
        elif not _has_kid(entry.keys, kid) and now - entry.refetched_at >= self._refetch_interval:
            # Set before the await: concurrent callbacks with the same unknown
            # kid then wait for the interval instead of each refetching.
            entry.refetched_at = now
            entry.keys = await self._fetch_keys(jwks_uri)
            entry.fetched_at = now
        return entry.keys

    async def _fetch_keys(self, jwks_uri: str) -> KeySet:
        document = await self._get_json(jwks_uri)
        try:
            keys = [k for k in document["keys"] if isinstance(k, dict) and k.get("kty") == "RSA"]
            return KeySet.import_key_set({"keys": keys})
        except (KeyError, TypeError, ValueError) as exc:
            raise ProviderUnavailableError(f"the key set at {jwks_uri} is malformed") from exc

    async def _get_json(self, url: str) -> dict[str, Any]:
        self.fetches += 1
        try:
            response = await self._http.get(url, timeout=FETCH_TIMEOUT)
        except httpx.HTTPError as exc:
            raise ProviderUnavailableError(f"{url} did not answer ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise ProviderUnavailableError(f"{url} answered HTTP {response.status_code}")
        try:
            document = response.json()
        except ValueError:
            raise ProviderUnavailableError(f"{url} did not answer JSON") from None
        if not isinstance(document, dict):
            raise ProviderUnavailableError(f"{url} did not answer a JSON object")
        return document


def _has_kid(keys: KeySet, kid: str | None) -> bool:
    return any(key.kid == kid for key in keys.keys)


def _parse_metadata(document: dict[str, Any]) -> ProviderMetadata:
    try:
        end_session = document.get("end_session_endpoint")
        return ProviderMetadata(
            issuer=str(document["issuer"]),
            authorization_endpoint=str(document["authorization_endpoint"]),
            token_endpoint=str(document["token_endpoint"]),
            jwks_uri=str(document["jwks_uri"]),
            end_session_endpoint=None if end_session is None else str(end_session),
        )
    except KeyError as exc:
        raise ProviderUnavailableError(f"the OpenID configuration lacks {exc.args[0]!r}") from None
