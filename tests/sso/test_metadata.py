"""Entra's configuration and keys: cached for 24 hours, refetched on an unknown kid
at most every 5 minutes (a stateful fake of the two endpoints, as an httpx transport)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sso.metadata import ProviderCache, ProviderUnavailableError
from sso.tokens import TokenRejectedError, validate_id_token
from tests.sso.tokens_helpers import ISSUER, KEY, claims, expectation, public_jwks, rsa_key, sign

pytestmark = pytest.mark.anyio

CONFIGURATION = f"{ISSUER}/.well-known/openid-configuration"
JWKS = "https://login.microsoftonline.com/common/discovery/v2.0/keys"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeEntra:
    """The two documents Entra serves, with keys that can roll over."""

    def __init__(self) -> None:
        self.keys = [KEY]
        self.requests: list[str] = []
        self.status = 200

    def handle(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.requests.append(url)
        if self.status != 200:
            return httpx.Response(self.status)
        if url == CONFIGURATION:
            return httpx.Response(200, json=self.configuration())
        if url == JWKS:
            return httpx.Response(200, json=public_jwks(*self.keys))
        return httpx.Response(404)

    def configuration(self) -> dict[str, Any]:
        return {
            "issuer": ISSUER,
            "authorization_endpoint": f"{ISSUER}/oauth2/v2.0/authorize",
            "token_endpoint": f"{ISSUER}/oauth2/v2.0/token",
            "jwks_uri": JWKS,
            "end_session_endpoint": f"{ISSUER}/oauth2/v2.0/logout",
        }

    def count(self, url: str) -> int:
        return self.requests.count(url)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def entra() -> FakeEntra:
    return FakeEntra()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def cache(entra: FakeEntra, clock: Clock) -> Any:
    async with httpx.AsyncClient(transport=httpx.MockTransport(entra.handle)) as http:
        yield ProviderCache(http, clock=clock)


async def test_configuration_is_fetched_once_for_a_day(
    cache: ProviderCache, entra: FakeEntra, clock: Clock
) -> None:
    first = await cache.metadata(CONFIGURATION)
    clock.now += 24 * 3600 - 1
    assert await cache.metadata(CONFIGURATION) == first
    assert entra.count(CONFIGURATION) == 1

    clock.now += 1
    await cache.metadata(CONFIGURATION)
    assert entra.count(CONFIGURATION) == 2
    assert first.token_endpoint.endswith("/oauth2/v2.0/token")


async def test_keys_are_cached_for_a_day(
    cache: ProviderCache, entra: FakeEntra, clock: Clock
) -> None:
    for _ in range(3):
        await cache.key_set(JWKS, KEY.kid)
    assert entra.count(JWKS) == 1
    clock.now += 24 * 3600
    await cache.key_set(JWKS, KEY.kid)
    assert entra.count(JWKS) == 2


async def test_key_rollover_is_picked_up_by_one_refetch(
    cache: ProviderCache, entra: FakeEntra, clock: Clock
) -> None:
    await cache.key_set(JWKS, KEY.kid)
    clock.now += 10 * 60
    rolled = rsa_key("key-2")
    entra.keys = [KEY, rolled]
    token = sign(claims(), rolled)

    keys = await cache.key_set(JWKS, rolled.kid)

    assert validate_id_token(token, keys, expectation())["tid"]
    assert entra.count(JWKS) == 2


async def test_unknown_kid_refetches_at_most_every_five_minutes(
    cache: ProviderCache, entra: FakeEntra, clock: Clock
) -> None:
    await cache.key_set(JWKS, KEY.kid)
    clock.now += 5 * 60
    forged = sign(claims(), rsa_key("made-up-1"))

    keys = await cache.key_set(JWKS, "made-up-1")
    with pytest.raises(TokenRejectedError) as caught:
        validate_id_token(forged, keys, expectation())
    assert caught.value.code == "unknown_kid"
    assert entra.count(JWKS) == 2

    # A flood of other made-up kids within the interval costs Entra nothing.
    for n in range(20):
        clock.now += 10
        await cache.key_set(JWKS, f"made-up-{n + 2}")
    assert entra.count(JWKS) == 2

    # Entra rolls its keys; a token with the new kid within the interval still fails...
    rolled = rsa_key("key-3")
    entra.keys = [KEY, rolled]
    keys = await cache.key_set(JWKS, rolled.kid)
    assert rolled.kid not in [k.kid for k in keys.keys]
    # ...and passes once the interval since the last refetch is over.
    clock.now = 1000.0 + 10 * 60
    keys = await cache.key_set(JWKS, rolled.kid)
    assert validate_id_token(sign(claims(), rolled), keys, expectation())
    assert entra.count(JWKS) == 3


async def test_known_kid_never_refetches(
    cache: ProviderCache, entra: FakeEntra, clock: Clock
) -> None:
    await cache.key_set(JWKS, KEY.kid)
    clock.now += 60 * 60
    await cache.key_set(JWKS, KEY.kid)
    assert entra.count(JWKS) == 1


@pytest.mark.parametrize("status", [500, 404, 429])
async def test_unreachable_entra_is_a_provider_error(
    cache: ProviderCache, entra: FakeEntra, status: int
) -> None:
    entra.status = status
    with pytest.raises(ProviderUnavailableError, match=str(status)):
        await cache.metadata(CONFIGURATION)


async def test_configuration_without_a_token_endpoint_is_a_provider_error(clock: Clock) -> None:
    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"issuer": ISSUER})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        with pytest.raises(ProviderUnavailableError, match="authorization_endpoint"):
            await ProviderCache(http, clock=clock).metadata(CONFIGURATION)
