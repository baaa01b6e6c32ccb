"""Plain HTML pages of the sign-in: readable without CSS or scripts.

Every value is escaped here, at the one place HTML is made: usernames,
claims and Entra's error descriptions all come from outside.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

from starlette.responses import HTMLResponse

from gateway.identity.signin import Actor, Decision
from sso.errors import EntraError

_WHO = {
    Actor.USER: "You can fix this yourself.",
    Actor.ADMIN: "Your administrator has to act.",
    Actor.NOBODY: "",
}
# No caching and no framing: these pages carry personal data and a sign-in
# must not be clickjacked. No form-action: browsers apply it to the redirect
# after a form too, and "sign out at Entra" redirects to Entra.
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


def render(title: str, body: str, *, status: int = 200) -> HTMLResponse:
    """A whole page around ``body`` (already-safe HTML made by this module)."""
    document = (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title></head>\n<body>\n<h1>{escape(title)}</h1>\n{body}\n"
        "</body></html>\n"
    )
    return HTMLResponse(document, status_code=status, headers=_HEADERS)


def paragraph(text: str) -> str:
    return f"<p>{escape(text)}</p>"


def facts(rows: Iterable[tuple[str, Any]]) -> str:
    """A definition list of label/value pairs, skipping empty values."""
    items = "".join(
        f"<dt>{escape(label)}</dt><dd>{escape(str(value))}</dd>"
        for label, value in rows
        if value not in (None, "")
    )
    return f"<dl>{items}</dl>" if items else ""


def refusal_page(decision: Decision) -> HTMLResponse:
    """Rule 12 said no: what happened, what to change, who must act, the code."""
    body = [
        paragraph(decision.message),
        "<h2>What to do</h2>",
        paragraph(decision.fix),
        paragraph(_WHO[decision.actor]),
        facts([("Error code", decision.verdict.value)]),
    ]
    return render("Sign-in refused", "\n".join(body), status=403)


def problem_page(
    title: str,
    message: str,
    fix: str,
    *,
    code: str,
    status: int,
    extra: Iterable[tuple[str, Any]] = (),
) -> HTMLResponse:
    body = [
        paragraph(message),
        "<h2>What to do</h2>",
        paragraph(fix),
        facts([("Error code", code), *extra]),
    ]
    return render(title, "\n".join(body), status=status)


def signed_in_page(
    primary_email: str, display_name: str | None, tenant_name: str, logout_path: str
) -> HTMLResponse:
    body = [
        paragraph(f"You are signed in as {primary_email}."),
        facts([("Name", display_name), ("Organisation", tenant_name)]),
        _logout_form(logout_path),
    ]
    return render("Signed in", "\n".join(body))


def signed_out_page(login_hint: str) -> HTMLResponse:
    return render("Signed out", paragraph(f"You are signed out. {login_hint}"))


def logout_page(logout_path: str, signed_in_as: str | None) -> HTMLResponse:
    if signed_in_as is None:
        return render("Sign out", paragraph("You are not signed in."))
    body = [paragraph(f"You are signed in as {signed_in_as}."), _logout_form(logout_path)]
    return render("Sign out", "\n".join(body))


def _logout_form(logout_path: str) -> str:
    action = escape(logout_path)
    return (
        f'<form method=post action="{action}">'
        "<button type=submit>Sign out</button></form>\n"
        f'<form method=post action="{action}">'
        "<input type=hidden name=entra value=1>"
        "<button type=submit>Sign out of Microsoft Entra ID too</button></form>"
    )


def test_result_page(result: Mapping[str, Any]) -> HTMLResponse:
    """An admin's test sign-in: every claim and every check, and the verdict."""
    checks = "".join(
        f"<tr><td>{escape(str(c['name']))}</td><td>{'passed' if c['passed'] else 'FAILED'}</td>"
        f"<td>{escape(str(c['detail']))}</td></tr>"
        for c in result.get("checks", [])
    )
    claims = result.get("claims", {})
    claim_rows = "".join(
        f"<tr><td>{escape(str(name))}</td><td>{escape(_claim_text(value))}</td></tr>"
        for name, value in sorted(claims.items())
    )
    verdict = result.get("verdict", "")
    body = [
        paragraph("This was a test sign-in: no session was created."),
        facts(
            [
                ("Verdict", verdict),
                ("Message", result.get("message")),
                ("What to do", result.get("fix")),
            ]
        ),
        "<h2>Checks</h2>",
        f"<table><tr><th>Check</th><th>Result</th><th>Detail</th></tr>{checks}</table>",
        "<h2>Claims</h2>",
        paragraph(
            "Claims of a token whose signature did not verify are shown but were not trusted."
        ),
        f"<table><tr><th>Claim</th><th>Value</th></tr>{claim_rows}</table>",
    ]
    return render("Test sign-in", "\n".join(body))


def _claim_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def entra_error_page(error: EntraError, redirect_uri: str, *, status: int) -> HTMLResponse:
    """An Entra error: the AADSTS code explained, who must act, and the ids support needs."""
    advice = error.advice()
    return problem_page(
        advice.title,
        advice.explanation,
        f"{advice.fix.format(redirect_uri=redirect_uri)} {_WHO[advice.actor]}",
        code=error.code,
        status=status,
        extra=[
            ("Entra error", error.error),
            ("Entra's description", error.description),
            ("Trace ID", error.trace_id),
            ("Correlation ID", error.correlation_id),
            ("Timestamp", error.timestamp),
        ],
    )
