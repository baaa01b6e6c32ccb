"""Entra's token errors become causes an admin can act on."""

from __future__ import annotations

import pytest

from gateway.graph.errors import EntraAuthError
from gateway.graph.tokens import Token, roles_of, translate_token_error
from tests.graph.conftest import jwt


@pytest.mark.parametrize(
    ("code", "cause", "hint"),
    [
        (7000215, "invalid_client_secret", "not its Secret ID"),
        (7000222, "client_secret_expired", "expired"),
        (700016, "client_not_in_tenant", "Application (client) ID"),
        (90002, "tenant_not_found", "Directory (tenant) ID"),
    ],
)
def test_aadsts_codes_name_the_cause_and_the_fix(code: int, cause: str, hint: str) -> None:
    result = {
        "error": "invalid_client",
        "error_description": f"AADSTS{code}: something. Trace ID: t",
        "error_codes": [code],
        "trace_id": "trace-1",
        "correlation_id": "corr-1",
    }

    error = translate_token_error(result)

    assert isinstance(error, EntraAuthError)
    assert error.cause == cause
    assert hint in error.message
    assert f"AADSTS{code}" in error.message
    assert error.ids == {"trace_id": "trace-1", "correlation_id": "corr-1"}
    assert "trace-1" in str(error)


def test_an_unknown_code_keeps_entras_first_line() -> None:
    error = translate_token_error(
        {"error": "invalid_request", "error_description": "AADSTS1: odd.\r\nTrace ID: x"}
    )

    assert error.cause == "entra_auth_failed"
    assert "AADSTS1: odd." in error.message


def test_roles_come_from_the_token_and_directory_read_covers_both() -> None:
    assert roles_of(jwt({"roles": ["User.Read.All"]})) == ("User.Read.All",)
    assert roles_of("opaque") == ()
    assert roles_of(jwt({"scp": "x"})) == ()
    assert Token("t", ("Directory.Read.All",)).missing_roles() == ()
    assert Token("t", ("User.Read.All",)).missing_roles() == ("Group.Read.All",)
    assert Token("t", ()).missing_roles() == ("User.Read.All", "Group.Read.All")
