"""The OpenID Connect authorization code flow against Entra (OIDC Core 1.0 section 3.1).

``start`` sends the browser to the integration's Entra authorize endpoint with
PKCE S256 (RFC 7636) and a single-use ``state`` and ``nonce`` bound to the
browser; ``finish`` redeems the code with the client secret, validates the ID
token (:mod:`sso.tokens`) and applies rule 12 (:mod:`gateway.identity.signin`).
authlib builds the protocol messages; httpx carries them.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import anyio
import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from sqlalchemy import Connection, Engine
from starlette.responses import HTMLResponse

from gateway.clouds import endpoints_for
from gateway.crypto import CryptoError
from gateway.identity.signin import Decision, SignInClaims, Verdict, decide
from gateway.services import Services
from gateway.store.engine import (
    WriteLockBusy,
    is_sqlite,
    write_transaction,
    write_transaction_now,
)
from gateway.store.integrations import IntegrationRecord, get_integration
from gateway.store.sso_sessions import Lifetimes, start_session
from gateway.store.sso_signin import (
    ClientConfig,
    PendingSignIn,
    audit_outcome,
    candidates,
    client_config,
    digest,
    integration_state,
    read_candidates,
    record_outcome,
    save_pending,
    take_pending_in,
)
from gateway.store.sso_tests import complete_test
from gateway.store.tables import utcnow
from sso import errors, pages
from sso.metadata import ProviderCache, ProviderMetadata, ProviderUnavailableError
from sso.return_to import allowed_return_to
from sso.session import new_token
from sso.tokens import (
    Expectation,
    IssuerMismatchError,
    TokenRejectedError,
    TokenReport,
    inspect_token,
    pinned_tenant,
    read_header,
)

logger = logging.getLogger("sso.flow")
_T = TypeVar("_T")

REDIRECT_PATH = "/user/external"
# User.Read is kept because the app registration grants it (Graph sign-in).
SCOPES = "openid profile User.Read"
PROMPTS = frozenset({"login", "none", "consent", "select_account"})
TOKEN_TIMEOUT = httpx.Timeout(15.0)
MAX_PARAM = 2048
# Claims an admin's test sign-in shows; ``email`` is shown but never used.
SHOWN_CLAIMS = (
    "iss",
    "aud",
    "azp",
    "tid",
    "oid",
    "sub",
    "preferred_username",
    "email",
    "name",
    "ver",
    "iat",
    "nbf",
    "exp",
)


class FlowError(Exception):
    """The sign-in cannot go on; ``response`` is the page that says why."""

    def __init__(self, response: HTMLResponse) -> None:
        super().__init__(response.status_code)
        self.response = response


@dataclass(frozen=True, slots=True)
class Admitted:
    tenant_id: str
    user_id: int
    session_token: str
    return_to: str | None


@dataclass(frozen=True, slots=True)
class TestFinished:
    result: dict[str, Any]


class SignInFlow:
    """Both halves of the sign-in; one instance per application."""

    def __init__(
        self,
        services: Services,
        http: httpx.AsyncClient,
        providers: ProviderCache,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.services = services
        self.http = http
        self.providers = providers
        self.clock = clock
        settings = services.settings
        self.redirect_uri = f"{settings.public_url}{REDIRECT_PATH}"
        self.return_prefixes = settings.sso_return_to_prefixes()
        self.lifetimes = Lifetimes(
            idle=timedelta(minutes=settings.sso_session_idle_minutes),
            absolute=timedelta(hours=settings.sso_session_absolute_hours),
        )
        self.clock_skew = settings.sso_clock_skew_seconds
        self.inline = is_sqlite(services.engine)

    # --- start -----------------------------------------------------------------------

    async def start(
        self,
        *,
        tenant_id: str,
        browser_binding: str,
        return_to: str | None = None,
        login_hint: str | None = None,
        prompt: str | None = None,
        test_id: str | None = None,
    ) -> str:
        """Remember a new sign-in and return the Entra authorize URL to send the browser to."""
        record = await anyio.to_thread.run_sync(get_integration, self.services.engine, tenant_id)
        if record is None:
            raise FlowError(
                pages.problem_page(
                    "Sign-in is not set up",
                    "This organisation has not connected Microsoft Entra ID, or the sign-in "
                    "link names an unknown organisation.",
                    "Check the sign-in link; an administrator configures the Entra integration.",
                    code=Verdict.INTEGRATION_MISSING.value,
                    status=404,
                )
            )
        if test_id is None and not record.enabled:
            decision = decide(SignInClaims(None, None, None), integration_state(record), None, None)
            await self._audit_refusal(tenant_id, decision)
            raise FlowError(pages.refusal_page(decision))
        metadata = await self._metadata(record)
        state = secrets.token_urlsafe(32)
        nonce = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)
        await anyio.to_thread.run_sync(
            lambda: save_pending(
                self.services.engine,
                state=state,
                tenant_id=tenant_id,
                browser_binding=browser_binding,
                nonce=nonce,
                code_verifier=verifier,
                return_to=allowed_return_to(return_to, self.return_prefixes),
                test_id=test_id,
            )
        )
        extra: dict[str, str] = {}
        if login_hint:
            extra["login_hint"] = login_hint[:MAX_PARAM]
        if prompt in PROMPTS:
            extra["prompt"] = prompt
        url: str = prepare_grant_uri(
            metadata.authorization_endpoint,
            record.client_id,
            "code",
            redirect_uri=self.redirect_uri,
            scope=SCOPES,
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
            response_mode="query",
            **extra,
        )
        return url

    # --- finish ----------------------------------------------------------------------

    async def finish(
        self,
        params: Mapping[str, str],
        browser_binding: str | None,
        previous_session: str | None = None,
    ) -> Admitted | TestFinished:
        """Handle Entra's redirect back; raises :class:`FlowError` with the page to show.

        ``previous_session`` is the session token the browser still holds: a
        sign-in rotates it (the old session ends as the new one starts).
        """
        state = params.get("state", "")
        if not state or len(state) > MAX_PARAM:
            raise FlowError(
                _restart_page("state_missing", "The answer from Entra ID has no state.")
            )
        taken = await self._write(lambda conn: take_pending_in(conn, state))
        try:
            client = client_config(self.services.secrets, taken)
        except CryptoError:
            logger.error("the integration's client secret cannot be decrypted")
            raise FlowError(_unavailable_page("client_secret_unreadable")) from None
        pending = taken.pending
        if pending is None:
            await self._audit(None, "sso.refused", None, {"code": "state_invalid"})
            raise FlowError(
                _restart_page(
                    "state_invalid",
                    "This sign-in was already completed, or it was not started here.",
                )
            )
        if utcnow() >= pending.expires_at:
            await self._audit(pending.tenant_id, "sso.refused", None, {"code": "state_expired"})
            raise FlowError(
                _restart_page("state_expired", "The sign-in took longer than 10 minutes.")
            )
        if browser_binding is None or not hmac.compare_digest(
            digest(browser_binding), pending.browser_hash
        ):
            await self._audit(pending.tenant_id, "sso.refused", None, {"code": "state_foreign"})
            raise FlowError(
                _restart_page(
                    "state_foreign", "The sign-in was started in another browser than this one."
                )
            )
        if "error" in params:
            entra_error = errors.from_redirect(params)
            await self._entra_error(pending, entra_error)
            raise FlowError(pages.entra_error_page(entra_error, self.redirect_uri, status=400))
        code = params.get("code", "")
        if not code or len(code) > 8 * MAX_PARAM:
            await self._audit(pending.tenant_id, "sso.refused", None, {"code": "code_missing"})
            raise FlowError(_restart_page("code_missing", "The answer from Entra ID has no code."))
        if client is None:
            decision = decide(SignInClaims(None, None, None), None, None, None)
            await self._audit_refusal(pending.tenant_id, decision)
            raise FlowError(pages.refusal_page(decision))
        metadata = await self._metadata(client.integration)
        try:
            tenant_guid = pinned_tenant(
                client.integration.entra_tenant_id,
                metadata.issuer,
                endpoints_for(client.integration.cloud).login_url,
            )
        except IssuerMismatchError as exc:
            logger.error("tenant %s: %s", pending.tenant_id, exc)
            raise FlowError(_unavailable_page("issuer_mismatch")) from None
        returned_issuer = params.get("iss")
        if returned_issuer is not None and returned_issuer != metadata.issuer.replace(
            "{tenantid}", tenant_guid
        ):
            # RFC 9207: the answer came from another issuer than we sent the browser to.
            await self._audit(pending.tenant_id, "sso.refused", None, {"code": "issuer_mix_up"})
            raise FlowError(
                _restart_page("issuer_mix_up", "The answer came from another identity provider.")
            )
        raw_token = await self._redeem(pending, client, metadata, code)
        report = await self._inspect(raw_token, metadata, client, tenant_guid, pending.nonce)
        if pending.test_id is not None:
            result = await anyio.to_thread.run_sync(
                self._test_result, pending, client, report, tenant_guid
            )
            return TestFinished(result)
        failure = report.first_failure
        if failure is not None and failure.code != "wrong_tenant":
            await self._audit(
                pending.tenant_id,
                "sso.refused",
                None,
                {"code": f"token_{failure.code}", "check": failure.name},
            )
            raise FlowError(
                pages.problem_page(
                    "Sign-in refused",
                    "The sign-in answer from Microsoft Entra ID did not pass validation: "
                    + failure.detail,
                    "Start the sign-in again. If it keeps failing, your administrator checks "
                    "the Entra integration (tenant and client id) and the server's clock.",
                    code=f"token_{failure.code}",
                    status=403,
                )
            )
        decision, token = await self._write(
            lambda conn: self._conclude(
                conn, pending, client, report, tenant_guid, previous_session
            )
        )
        if token is None:
            raise FlowError(pages.refusal_page(decision))
        assert decision.user_id is not None
        return Admitted(pending.tenant_id, decision.user_id, token, pending.return_to)

    async def _write(self, work: Callable[[Connection], _T]) -> _T:
        """Run ``work`` in one write transaction.

        On SQLite it runs right here on the event loop when the write lock is
        free at once: these transactions take about a millisecond, less than
        the two hops to a worker thread and back. When another transaction (an
        identity apply, another process) holds the lock, it waits for it in a
        worker thread instead, never on the event loop."""
        engine = self.services.engine
        if self.inline:
            try:
                with write_transaction_now(engine) as conn:
                    return work(conn)
            except WriteLockBusy:
                pass
        return await anyio.to_thread.run_sync(_in_write_transaction, engine, work)

    async def _metadata(self, record: IntegrationRecord) -> ProviderMetadata:
        url = endpoints_for(record.cloud).openid_configuration_url(record.entra_tenant_id)
        try:
            return await self.providers.metadata(url)
        except ProviderUnavailableError as exc:
            logger.warning("tenant %s: Entra metadata unavailable: %s", record.tenant_id, exc)
            raise FlowError(_unavailable_page("entra_unavailable")) from None

    async def _redeem(
        self, pending: PendingSignIn, client: ClientConfig, metadata: ProviderMetadata, code: str
    ) -> str:
        body = prepare_token_request(
            "authorization_code",
            code=code,
            redirect_uri=self.redirect_uri,
            code_verifier=pending.code_verifier,
            client_id=client.integration.client_id,
            client_secret=client.client_secret.reveal(),
        )
        try:
            response = await self.http.post(
                metadata.token_endpoint,
                content=body,
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Accept": "application/json",
                },
                timeout=TOKEN_TIMEOUT,
            )
        except httpx.HTTPError as exc:
            logger.warning("token endpoint did not answer: %s", type(exc).__name__)
            raise FlowError(_unavailable_page("entra_unavailable")) from None
        try:
            answer: Any = response.json()
        except ValueError:
            answer = None
        raw = answer.get("id_token") if isinstance(answer, dict) else None
        if response.status_code != 200 or not isinstance(raw, str):
            entra_error = errors.from_token_response(answer, response.status_code)
            await self._entra_error(pending, entra_error)
            raise FlowError(pages.entra_error_page(entra_error, self.redirect_uri, status=502))
        return raw

    async def _inspect(
        self,
        raw: str,
        metadata: ProviderMetadata,
        client: ClientConfig,
        tenant_guid: str,
        nonce: str,
    ) -> TokenReport:
        try:
            header = read_header(raw)
        except TokenRejectedError as exc:
            raise FlowError(
                pages.problem_page(
                    "Sign-in refused",
                    exc.message,
                    "Start the sign-in again.",
                    code=f"token_{exc.code}",
                    status=403,
                )
            ) from None
        kid = header.get("kid")
        try:
            keys = await self.providers.key_set(
                metadata.jwks_uri, kid if isinstance(kid, str) else None
            )
        except ProviderUnavailableError as exc:
            logger.warning("Entra signing keys unavailable: %s", exc)
            raise FlowError(_unavailable_page("entra_unavailable")) from None
        expected = Expectation(
            client_id=client.integration.client_id,
            tenant_id=tenant_guid,
            issuer=metadata.issuer,
            nonce=nonce,
            now=self.clock(),
            clock_skew=self.clock_skew,
        )
        return inspect_token(raw, keys, expected)

    def _conclude(
        self,
        conn: Connection,
        pending: PendingSignIn,
        client: ClientConfig,
        report: TokenReport,
        tenant_guid: str,
        previous_session: str | None,
    ) -> tuple[Decision, str | None]:
        """Rule 12 and, when it admits, the new session (its token returned), in
        the caller's transaction; a refusal is audited there too."""
        claims = _sign_in_claims(report.claims)
        state = integration_state(client.integration, tenant_guid)
        by_username, by_oid = candidates(
            conn, pending.tenant_id, claims.preferred_username, claims.oid
        )
        decision = decide(claims, state, by_username, by_oid)
        outcome = _outcome(decision, claims)
        if not decision.admitted:
            record_outcome(
                conn,
                tenant_id=pending.tenant_id,
                action="sso.refused",
                user_id=decision.user_id,
                outcome=outcome,
            )
            return decision, None
        assert decision.user_id is not None
        token = new_token()
        start_session(
            conn,
            token=token,
            tenant_id=pending.tenant_id,
            user_id=decision.user_id,
            lifetimes=self.lifetimes,
            replaces=previous_session,
        )
        record_outcome(
            conn,
            tenant_id=pending.tenant_id,
            action="sso.signed_in",
            user_id=decision.user_id,
            outcome=outcome,
        )
        return decision, token

    def _test_result(
        self, pending: PendingSignIn, client: ClientConfig, report: TokenReport, tenant_guid: str
    ) -> dict[str, Any]:
        claims = _sign_in_claims(report.claims)
        state = integration_state(client.integration, tenant_guid)
        by_username, by_oid = read_candidates(
            self.services.engine, pending.tenant_id, claims.preferred_username, claims.oid
        )
        decision = decide(claims, state, by_username, by_oid)
        checks = [
            {"name": check.name, "passed": check.passed, "detail": check.detail}
            for check in report.checks
        ]
        checks.append(
            {
                "name": "integration_enabled",
                "passed": client.integration.enabled,
                "detail": "enabled" if client.integration.enabled else "disabled",
            }
        )
        checks.append(
            {
                "name": "integration_validated",
                "passed": client.integration.status == "validated",
                "detail": client.integration.status,
            }
        )
        checks.append(
            {"name": "sign_in_rule", "passed": decision.admitted, "detail": decision.message}
        )
        failure = report.first_failure
        token_refusal = failure is not None and failure.code != "wrong_tenant"
        result: dict[str, Any] = {
            "verdict": f"token_{failure.code}" if token_refusal and failure else decision.verdict,
            "admitted": report.valid and decision.admitted,
            "message": decision.message,
            "fix": decision.fix,
            "token_valid": report.valid,
            "checks": checks,
            "claims": {name: report.claims[name] for name in SHOWN_CLAIMS if name in report.claims},
        }
        assert pending.test_id is not None
        complete_test(self.services.engine, pending.test_id, result)
        return result

    async def _entra_error(self, pending: PendingSignIn, entra_error: errors.EntraError) -> None:
        await self._audit(pending.tenant_id, "sso.entra_error", None, entra_error.as_audit())
        if pending.test_id is not None:
            result = {
                "verdict": entra_error.code,
                "admitted": False,
                "message": entra_error.advice().explanation,
                "fix": entra_error.advice().fix.format(redirect_uri=self.redirect_uri),
                "token_valid": False,
                "checks": [],
                "claims": {},
                "entra_error": entra_error.as_audit(),
            }
            await anyio.to_thread.run_sync(
                complete_test, self.services.engine, pending.test_id, result
            )

    async def _audit_refusal(self, tenant_id: str, decision: Decision) -> None:
        await self._audit(
            tenant_id, "sso.refused", decision.user_id, {"code": decision.verdict.value}
        )

    async def _audit(
        self, tenant_id: str | None, action: str, user_id: int | None, outcome: dict[str, Any]
    ) -> None:
        await anyio.to_thread.run_sync(
            lambda: audit_outcome(
                self.services.engine,
                tenant_id=tenant_id,
                action=action,
                user_id=user_id,
                outcome=outcome,
            )
        )


def _in_write_transaction(engine: Engine, work: Callable[[Connection], _T]) -> _T:
    with write_transaction(engine) as conn:
        return work(conn)


def _sign_in_claims(claims: Mapping[str, Any]) -> SignInClaims:
    def text(name: str) -> str | None:
        value = claims.get(name)
        return value if isinstance(value, str) else None

    return SignInClaims(
        preferred_username=text("preferred_username"), oid=text("oid"), tid=text("tid")
    )


def _outcome(decision: Decision, claims: SignInClaims) -> dict[str, Any]:
    return {
        "code": decision.verdict.value,
        "preferred_username": claims.preferred_username,
        "oid": claims.oid,
        "tid": claims.tid,
        **{f"detail_{k}": v for k, v in decision.details.items()},
    }


def _restart_page(code: str, message: str) -> HTMLResponse:
    return pages.problem_page(
        "Sign-in could not be completed",
        message,
        "Start the sign-in again from the beginning, in one browser window.",
        code=code,
        status=400,
    )


def _unavailable_page(code: str) -> HTMLResponse:
    return pages.problem_page(
        "Microsoft Entra ID is not reachable",
        "The gateway could not complete the sign-in with Microsoft Entra ID.",
        "Try again in a few minutes. If it keeps failing, your administrator finds the "
        "reason in the gateway's log.",
        code=code,
        status=502,
    )
