"""The Entra side: OpenID metadata, signing keys and the v2.0 token endpoint (client credentials).

What MSAL Python fetches with ``instance_discovery=False``: the tenant's
``/v2.0/.well-known/openid-configuration`` (a 400 ``invalid_tenant`` for an unknown
tenant), then a POST to its ``token_endpoint``.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.entra import errors
from tests.fakes.entra.errors import EntraError, entra_error_body
from tests.fakes.entra.state import EntraState
from tests.fakes.entra.tokens import issue_access_token, jwks


def _base(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _entra_error(state: EntraState, err: EntraError) -> JSONResponse:
    return JSONResponse(entra_error_body(err, state.clock.now()), status_code=err.status)


def _fault(state: EntraState, request: Request) -> Response | None:
    fault = state.faults.take(request.method, request.url.path, explicit_only=True)
    if fault is None:
        return None
    headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
    err = EntraError(fault.status, "temporarily_unavailable", 90033, "A transient error occurred.")
    return JSONResponse(
        entra_error_body(err, state.clock.now()), status_code=fault.status, headers=headers
    )


def routes(state: EntraState) -> list[Route]:
    async def openid_configuration(request: Request) -> Response:
        state.requests.record(request.method, request.url.path)
        if (faulted := _fault(state, request)) is not None:
            return faulted
        name = request.path_params["tenant"]
        tenant = state.find_tenant(name)
        if tenant is None:
            body = entra_error_body(errors.tenant_not_found(name), state.clock.now())
            body["error"] = "invalid_tenant"
            return JSONResponse(body, status_code=400)
        base = _base(request)
        tid = tenant.id
        return JSONResponse(
            {
                "token_endpoint": f"{base}/{tid}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{base}/{tid}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{base}/{tid}/v2.0",
                "request_uri_parameter_supported": False,
                "authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/devicecode",
                "end_session_endpoint": f"{base}/{tid}/oauth2/v2.0/logout",
                "http_logout_supported": True,
                "frontchannel_logout_supported": True,
                "claims_supported": [
                    "sub",
                    "iss",
                    "aud",
                    "exp",
                    "iat",
                    "auth_time",
                    "nonce",
                    "preferred_username",
                    "name",
                    "tid",
                    "ver",
                    "oid",
                    "email",
                ],
                "tenant_region_scope": "EU",
                "cloud_instance_name": request.url.hostname,
            }
        )

    async def keys(request: Request) -> Response:
        state.requests.record(request.method, request.url.path)
        return JSONResponse(jwks())

    async def token(request: Request) -> Response:
        state.requests.record(request.method, request.url.path)
        if (faulted := _fault(state, request)) is not None:
            return faulted
        # The token request is application/x-www-form-urlencoded (RFC 6749 section 4.4.2).
        fields = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        name = request.path_params["tenant"]
        with state.lock:
            tenant = state.find_tenant(name)
            if tenant is None:
                return _entra_error(state, errors.tenant_not_found(name))
            grant_type = fields.get("grant_type", "")
            if grant_type != "client_credentials":
                return _entra_error(state, errors.unsupported_grant(grant_type))
            client_id = fields.get("client_id", "")
            app = tenant.apps.get(client_id)
            if app is None:
                return _entra_error(state, errors.app_not_found(client_id, tenant.display_name))
            value = fields.get("client_secret")
            if not value:
                return _entra_error(state, errors.missing_secret())
            now = state.clock.now()
            matching = [s for s in app.secrets if s.value == value]
            if not matching:
                return _entra_error(state, errors.invalid_secret(client_id))
            if all(s.expires_at <= now for s in matching):
                return _entra_error(state, errors.expired_secret(client_id))
            scope = fields.get("scope", "").strip()
            if " " in scope or not scope.endswith("/.default") or scope == "/.default":
                return _entra_error(state, errors.invalid_scope(scope))
            lifetime = int(state.config.access_token_lifetime.total_seconds())
            access_token = issue_access_token(
                tenant_id=tenant.id,
                client_id=client_id,
                service_principal_id=app.service_principal_id,
                audience=scope.removesuffix("/.default"),
                roles=sorted(app.roles),
                now=now,
                lifetime_seconds=lifetime,
            )
        return JSONResponse(
            {
                "token_type": "Bearer",
                "expires_in": lifetime,
                "ext_expires_in": lifetime,
                "access_token": access_token,
            }
        )

    return [
        Route("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration),
        Route("/{tenant}/discovery/v2.0/keys", keys),
        Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
    ]
