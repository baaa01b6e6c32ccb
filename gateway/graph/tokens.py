"""Client-credentials tokens from Entra through MSAL, with errors translated by cause.

One :class:`TokenSource` per run or validation: its MSAL application keeps its
token cache in memory only, so a token issued before admin consent was granted
is never reused by a later attempt.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

import httpx
import msal

from gateway.clouds import EntraEndpoints
from gateway.crypto import Secret
from gateway.graph.errors import (
    REQUIRED_ROLES,
    EntraAuthError,
    GraphError,
    MissingPermissionError,
    UnreachableError,
)
from gateway.graph.http import MsalHttpClient

# Roles that include a required one (Directory.Read.All reads users and groups).
_IMPLIED_BY = {
    "User.Read.All": {"User.Read.All", "User.ReadWrite.All", "Directory.Read.All"},
    "Group.Read.All": {"Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All"},
}

# What an admin does about each AADSTS error (Microsoft's error code reference).
_AADSTS: dict[str, tuple[str, str]] = {
    "7000215": (
        "invalid_client_secret",
        "Entra rejected the client secret. Paste the secret's Value, not its Secret ID, "
        "or create a new secret under Certificates & secrets.",
    ),
    "7000222": (
        "client_secret_expired",
        "The client secret has expired. Create a new secret under Certificates & secrets "
        "and save it here with its new expiry date.",
    ),
    "700016": (
        "client_not_in_tenant",
        "No application with this client id exists in that Entra tenant. Check the "
        "Application (client) ID and the Directory (tenant) ID of the app registration.",
    ),
    "90002": (
        "tenant_not_found",
        "Entra has no tenant with this id or domain. Check the Directory (tenant) ID, "
        "and that the cloud matches where the tenant lives.",
    ),
    "900023": (
        "tenant_not_found",
        "The tenant id is not a valid Entra tenant id or domain. Use the Directory "
        "(tenant) ID of the app registration.",
    ),
    "700003": (
        "client_not_in_tenant",
        "The application was deleted from the tenant. Check the app registration.",
    ),
}
_AADSTS_CODE = re.compile(r"AADSTS(\d+)")


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    roles: tuple[str, ...]

    def missing_roles(self) -> tuple[str, ...]:
        granted = set(self.roles)
        return tuple(r for r in REQUIRED_ROLES if not granted & _IMPLIED_BY[r])


class TokenSource:
    """Acquires (and on demand renews) the app-only token for Microsoft Graph."""

    def __init__(
        self,
        endpoints: EntraEndpoints,
        entra_tenant_id: str,
        client_id: str,
        client_secret: Secret,
        http: httpx.Client,
    ) -> None:
        self._endpoints = endpoints
        self._tenant = entra_tenant_id
        self._client_id = client_id
        self._secret = client_secret
        self._http = http
        self._app: Any = None
        self.acquired = 0

    def close(self) -> None:
        self._http.close()

    def token(self, *, fresh: bool = False) -> Token:
        """A valid token; ``fresh`` drops the cached one first (after a 401)."""
        app = self._application()
        if fresh:
            app.remove_tokens_for_client()
        try:
            result = app.acquire_token_for_client(scopes=[self._endpoints.graph_scope])
        except (httpx.TransportError, OSError) as exc:
            raise _unreachable(self._endpoints.login_url, exc) from None
        except (httpx.HTTPStatusError, msal.exceptions.MsalServiceError) as exc:
            raise UnreachableError(
                f"Entra's token endpoint failed ({type(exc).__name__}); try again later."
            ) from None
        if "access_token" not in result:
            raise translate_token_error(result)
        self.acquired += 1
        value = str(result["access_token"])
        return Token(value=value, roles=roles_of(value))

    def checked_token(self) -> Token:
        """A token that carries the roles the sync needs, else :class:`MissingPermissionError`."""
        token = self.token()
        missing = token.missing_roles()
        if missing:
            raise MissingPermissionError(missing)
        return token

    def _application(self) -> Any:
        if self._app is not None:
            return self._app
        try:
            self._app = msal.ConfidentialClientApplication(
                self._client_id,
                client_credential=self._secret.reveal(),
                authority=self._endpoints.authority(self._tenant),
                http_client=MsalHttpClient(self._http),
                # Instance discovery only finds cache aliases of other authorities,
                # which a one-authority, in-memory cache never uses; it would cost
                # a request to the public cloud, which a custom host must not see.
                instance_discovery=False,
                # Token requests go to the tenant's own authority; no region guessing.
                azure_region=None,
            )
        except (httpx.TransportError, OSError) as exc:
            raise _unreachable(self._endpoints.login_url, exc) from None
        except ValueError as exc:
            # MSAL could not read the tenant's OpenID configuration: its message
            # quotes Entra's answer, which names the AADSTS code.
            raise _discovery_error(str(exc)) from None
        return self._app


def roles_of(access_token: str) -> tuple[str, ...]:
    """The ``roles`` claim of a JWT access token (read, not verified: we are its client)."""
    try:
        payload = access_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return ()
    roles = claims.get("roles") if isinstance(claims, dict) else None
    return tuple(str(r) for r in roles) if isinstance(roles, list) else ()


def translate_token_error(result: dict[str, Any]) -> GraphError:
    """An MSAL error result as an admin-readable error, by AADSTS code."""
    ids = _trace_ids(result)
    codes = [str(c) for c in result.get("error_codes") or []]
    description = str(result.get("error_description") or "")
    codes += _AADSTS_CODE.findall(description)
    for code in codes:
        if code in _AADSTS:
            cause, message = _AADSTS[code]
            return EntraAuthError(cause, f"{message} (AADSTS{code})", ids=ids)
    error = str(result.get("error") or "unknown_error")
    first_line = description.splitlines()[0] if description else error
    return EntraAuthError(
        "entra_auth_failed", f"Entra refused the credentials: {first_line}", ids=ids
    )


def _trace_ids(result: dict[str, Any]) -> dict[str, str]:
    ids = {}
    for key in ("trace_id", "correlation_id"):
        if result.get(key):
            ids[key] = str(result[key])
    return ids


def _discovery_error(text: str) -> GraphError:
    start = text.find("{")
    body: dict[str, Any] = {}
    if start >= 0:
        try:
            body = json.loads(text[start:])
        except ValueError:
            body = {}
    if body:
        return translate_token_error(body)
    for code in _AADSTS_CODE.findall(text):
        if code in _AADSTS:
            cause, message = _AADSTS[code]
            return EntraAuthError(cause, f"{message} (AADSTS{code})")
    return EntraAuthError(
        "tenant_not_found",
        "Entra could not find this tenant's sign-in configuration. Check the Directory "
        "(tenant) ID and that the cloud matches where the tenant lives.",
    )


def _unreachable(host: str, exc: BaseException) -> UnreachableError:
    return UnreachableError(
        f"Could not reach {host} ({type(exc).__name__}). Check the cloud setting and "
        "that this server can reach it (proxy, firewall, private CA in SSL_CERT_FILE)."
    )
