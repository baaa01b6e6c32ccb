"""Admin test sign-ins: start one, open its link in a browser, read every claim and check.

The sign-in runs through Entra exactly like a user's, but ends on a page
(and in this API's result) showing each claim and each check's verdict,
without creating a session.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from gateway.admin.endpoint import Call, Endpoint
from gateway.admin.schemas import ResponseModel
from gateway.errors import NotFoundError
from gateway.store.integrations import get_integration
from gateway.store.sso_tests import SignInTest, create_test, get_test

BASE = "/tenants/{tenant_id}/integrations/entra/sign-in-tests"
START_PATH = "/user/external/login"


class SignInTestOut(ResponseModel):
    id: str
    status: str
    created_at: datetime
    expires_at: datetime
    completed_at: datetime | None
    result: dict[str, Any] | None


class SignInTestCreated(SignInTestOut):
    start_url: str


def _out(test: SignInTest) -> dict[str, Any]:
    return {
        "id": test.id,
        "status": test.status,
        "created_at": test.created_at,
        "expires_at": test.expires_at,
        "completed_at": test.completed_at,
        "result": test.result,
    }


def _create(call: Call) -> SignInTestCreated:
    if get_integration(call.engine, call.tenant_id) is None:
        raise NotFoundError(
            "This tenant has no Entra integration yet; configure it with "
            "PUT /tenants/{tenant_id}/integrations/entra first."
        )
    test, handle = create_test(call.engine, call.tenant_id, actor=call.actor)
    base = call.services.settings.public_url
    return SignInTestCreated(
        **_out(test), start_url=f"{base}{START_PATH}?{urlencode({'test': handle})}"
    )


def _get(call: Call) -> SignInTestOut:
    test_id = call.str_param("sign_in_test_id")
    test = get_test(call.engine, call.tenant_id, test_id)
    if test is None:
        raise NotFoundError(f"No test sign-in with id {test_id!r}.")
    return SignInTestOut(**_out(test))


ENDPOINTS = (
    Endpoint(
        "POST",
        BASE,
        "create_sign_in_test",
        "Start a test sign-in: open start_url in a browser within 10 minutes",
        _create,
        SignInTestCreated,
        status=201,
    ),
    Endpoint(
        "GET",
        f"{BASE}/{{sign_in_test_id}}",
        "get_sign_in_test",
        "Read a test sign-in: every claim, every check and the verdict once completed",
        _get,
        SignInTestOut,
    ),
)
