"""The sign-in routes under ``/user/external`` (mounted by :func:`gateway.app.create_app`).

| route | |
| --- | --- |
| ``GET /login?tenant=ID`` (``return_to``, ``login_hint``, ``prompt``) | start a sign-in |
| ``GET /login?test=HANDLE`` | start an admin's test sign-in (link from the admin API) |
| ``GET /`` | the redirect URI Entra sends the browser back to |
| ``GET /me`` | who is signed in (the default landing page) |
| ``GET /token`` | the bridge's ID token for the signed-in user (JSON) |
| ``GET|POST /logout`` | sign out here, and at Entra when asked |
"""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.clouds import endpoints_for
from gateway.services import Services
from gateway.store.integrations import get_integration
from gateway.store.sso_sessions import SessionView, current_session, end_session
from gateway.store.sso_signin import bridge_subject
from gateway.store.sso_tests import claim_start
from gateway.store.tenants import get_tenant
from sso import pages
from sso.bridge import BridgeIssuer, well_known_routes
from sso.flow import REDIRECT_PATH, Admitted, FlowError, SignInFlow
from sso.metadata import ProviderCache, ProviderUnavailableError
from sso.session import Cookies, CookieSigner, load_cookie_signer

_TENANT_ID = re.compile(r"^[0-9a-f]{32}$")
ME_PATH = f"{REDIRECT_PATH}/me"
LOGOUT_PATH = f"{REDIRECT_PATH}/logout"
SIGNED_OUT_PATH = f"{REDIRECT_PATH}/signed-out"


class SsoState:
    """The long-lived parts of the sign-in, built once per application."""

    def __init__(self, services: Services, http: httpx.AsyncClient | None = None) -> None:
        self.services = services
        self.http = http or httpx.AsyncClient(follow_redirects=False)
        self._owns_http = http is None
        self.providers = ProviderCache(self.http)
        self.flow = SignInFlow(services, self.http, self.providers)
        self.bridge = BridgeIssuer(services.engine, services.secrets, services.settings)
        self._signer: CookieSigner | None = None
        self._signer_lock = anyio.Lock()
        self.callback: Any = None

    async def cookies(self) -> Cookies:
        if self._signer is None:
            async with self._signer_lock:
                if self._signer is None:
                    self._signer = await anyio.to_thread.run_sync(
                        load_cookie_signer, self.services.engine, self.services.secrets
                    )
        settings = self.services.settings
        return Cookies(
            self._signer,
            secure=settings.public_url.startswith("https://"),
            session_max_age=settings.sso_session_absolute_hours * 3600,
        )

    async def session(self, request: Request) -> tuple[Cookies, str | None, SessionView | None]:
        cookies = await self.cookies()
        token = cookies.session_token(request)
        if token is None:
            return cookies, None, None
        view = await anyio.to_thread.run_sync(
            current_session, self.services.engine, token, self.flow.lifetimes
        )
        return cookies, token, view

    async def aclose(self) -> None:
        if self._owns_http:
            await self.http.aclose()


def build_sso_app(services: Services, *, http: httpx.AsyncClient | None = None) -> Starlette:
    """The ``/user/external`` application; its state is at ``app.state.sso``."""
    state = SsoState(services, http)
    state.callback = _callback(state)
    routes: list[BaseRoute] = [
        Route("/", state.callback, methods=["GET"]),
        Route("/login", _login(state), methods=["GET"]),
        Route("/me", _me(state), methods=["GET"]),
        Route("/token", _token(state), methods=["GET"]),
        Route("/logout", _logout(state), methods=["GET", "POST"]),
        Route("/signed-out", _signed_out, methods=["GET"]),
    ]
    app = Starlette(routes=routes)
    app.state.sso = state
    return app


def sso_root_routes(app: Starlette) -> list[Route]:
    """Routes outside the mount: the redirect URI ``/user/external`` itself (the
    mount alone would answer it with a redirect to ``/user/external/``) and the
    bridge's ``/.well-known`` documents."""
    state: SsoState = app.state.sso
    return [
        Route(REDIRECT_PATH, state.callback, methods=["GET"]),
        *well_known_routes(state.bridge),
    ]


async def close_sso_app(app: Starlette) -> None:
    state: SsoState = app.state.sso
    await state.aclose()


def _login(state: SsoState) -> Any:
    async def login(request: Request) -> Response:
        params = request.query_params
        test_id = None
        handle = params.get("test")
        if handle is not None:
            test = await anyio.to_thread.run_sync(claim_start, state.services.engine, handle)
            if test is None:
                return pages.problem_page(
                    "Test sign-in link not valid",
                    "This test sign-in link was used already or has expired.",
                    "Start a new test sign-in from the admin API.",
                    code="test_link_invalid",
                    status=400,
                )
            tenant_id, test_id = test.tenant_id, test.id
        else:
            tenant_id = params.get("tenant", "")
            if not _TENANT_ID.fullmatch(tenant_id):
                return pages.problem_page(
                    "Sign-in link not valid",
                    "The sign-in link names no organisation.",
                    "Open the sign-in link your organisation gave you "
                    "(it ends in ?tenant= and the organisation's id).",
                    code="tenant_missing",
                    status=400,
                )
        cookies = await state.cookies()
        binding = cookies.binding(request) or secrets.token_urlsafe(32)
        try:
            url = await state.flow.start(
                tenant_id=tenant_id,
                browser_binding=binding,
                return_to=params.get("return_to"),
                login_hint=params.get("login_hint"),
                prompt=params.get("prompt"),
                test_id=test_id,
            )
        except FlowError as exc:
            return exc.response
        response = RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
        cookies.set_binding(response, binding)
        return response

    return login


def _callback(state: SsoState) -> Any:
    async def callback(request: Request) -> Response:
        params = request.query_params
        if not any(name in params for name in ("state", "code", "error")):
            return RedirectResponse(ME_PATH, status_code=303)
        cookies = await state.cookies()
        try:
            outcome = await state.flow.finish(
                params, cookies.binding(request), cookies.session_token(request)
            )
        except FlowError as exc:
            refused = exc.response
            # A refused sign-in leaves nobody signed in in this browser.
            cookies.clear_session(refused)
            return refused
        if not isinstance(outcome, Admitted):
            return pages.test_result_page(outcome.result)
        target = outcome.return_to or ME_PATH
        response = RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
        cookies.set_session(response, outcome.session_token)
        return response

    return callback


def _me(state: SsoState) -> Any:
    async def me(request: Request) -> Response:
        _cookies, _token, view = await state.session(request)
        if view is None:
            return pages.problem_page(
                "Not signed in",
                "You are not signed in, or your session has ended.",
                "Sign in again with your organisation's sign-in link.",
                code="not_signed_in",
                status=401,
            )
        tenant = await anyio.to_thread.run_sync(get_tenant, state.services.engine, view.tenant_id)
        return pages.signed_in_page(
            view.primary_email,
            view.display_name,
            tenant.name if tenant else view.tenant_id,
            LOGOUT_PATH,
        )

    return me


def _token(state: SsoState) -> Any:
    async def token(request: Request) -> Response:
        _cookies, _token, view = await state.session(request)
        subject = None
        if view is not None:
            subject = await anyio.to_thread.run_sync(
                bridge_subject, state.services.engine, view.tenant_id, view.user_id
            )
        if view is None or subject is None:
            return JSONResponse(
                {
                    "error": {
                        "code": "not_signed_in",
                        "message": "No live session; sign in at /user/external/login.",
                        "details": None,
                    }
                },
                status_code=401,
                headers={"Cache-Control": "no-store"},
            )
        auth_time = int(view.created_at.timestamp())
        value, lifetime = await anyio.to_thread.run_sync(
            lambda: state.bridge.issue(subject, auth_time=auth_time)
        )
        return JSONResponse(
            {"id_token": value, "token_type": "Bearer", "expires_in": lifetime},
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    return token


def _logout(state: SsoState) -> Any:
    async def logout(request: Request) -> Response:
        cookies, token, view = await state.session(request)
        if request.method == "GET":
            return pages.logout_page(LOGOUT_PATH, view.primary_email if view else None)
        # A urlencoded form of one optional field; read without a multipart parser.
        body = await request.body()
        form = {k: v[0] for k, v in parse_qs(body[:1024].decode("latin-1")).items()}
        if token is not None:
            await anyio.to_thread.run_sync(end_session, state.services.engine, token)
        response: Response
        response = pages.signed_out_page("Close this window or sign in again.")
        if form.get("entra") == "1" and view is not None:
            end_session_url = await _entra_end_session(state, view)
            if end_session_url is not None:
                response = RedirectResponse(end_session_url, status_code=303)
        cookies.clear_session(response)
        return response

    return logout


async def _entra_end_session(state: SsoState, view: SessionView) -> str | None:
    """Entra's end-session URL for the user's tenant (front-channel logout), if it has one."""
    record = await anyio.to_thread.run_sync(get_integration, state.services.engine, view.tenant_id)
    if record is None:
        return None
    url = endpoints_for(record.cloud).openid_configuration_url(record.entra_tenant_id)
    try:
        metadata = await state.providers.metadata(url)
    except ProviderUnavailableError:
        return None
    if metadata.end_session_endpoint is None:
        return None
    query = urlencode(
        {
            "client_id": record.client_id,
            "post_logout_redirect_uri": state.services.settings.public_url + SIGNED_OUT_PATH,
            "logout_hint": view.primary_email,
        }
    )
    return f"{metadata.end_session_endpoint}?{query}"


async def _signed_out(_request: Request) -> Response:
    return pages.signed_out_page("You are signed out of Microsoft Entra ID too.")
