"""Entra's error answers turned into something a person can act on.

Entra reports failures as ``error`` / ``error_description`` on the redirect
(RFC 6749 section 4.1.2.1) or in the token endpoint's JSON answer (section
5.2). The description starts with an AADSTS code and ends with the trace and
correlation ids Microsoft support asks for. Microsoft: "Microsoft Entra
authentication and authorization error codes".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.identity.signin import Actor

_AADSTS = re.compile(r"\bAADSTS(\d{4,7})\b")
_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_TRACE = re.compile(rf"Trace ID:\s*({_GUID})")
_CORRELATION = re.compile(rf"Correlation ID:\s*({_GUID})")
_TIMESTAMP = re.compile(r"Timestamp:\s*([0-9:\- TZ.]{10,40})")
# The description is shown escaped, but still not at any length.
DESCRIPTION_LIMIT = 600


@dataclass(frozen=True, slots=True)
class Advice:
    title: str
    explanation: str
    actor: Actor
    fix: str


ADVICE: dict[str, Advice] = {
    "50011": Advice(
        "The redirect URI is not registered",
        "Entra refused to send you back to this gateway: the app registration does not "
        "list this gateway's redirect URI.",
        Actor.ADMIN,
        "In Entra ID, add {redirect_uri} as a Web redirect URI of the app registration.",
    ),
    "65001": Advice(
        "Consent is missing",
        "The app has not been granted the permissions it asks for in this tenant.",
        Actor.ADMIN,
        "An Entra administrator grants admin consent for the app registration "
        "(API permissions, 'Grant admin consent').",
    ),
    "65004": Advice(
        "Consent was declined",
        "You declined to give the app the permissions it asks for.",
        Actor.USER,
        "Sign in again and accept, or ask your administrator to grant consent for everyone.",
    ),
    "700016": Advice(
        "The app is not found in this tenant",
        "The client id configured in the gateway is not an app in this Entra tenant.",
        Actor.ADMIN,
        "Check the tenant id and client id of the Entra integration, or install the app "
        "in this tenant.",
    ),
    "50105": Advice(
        "You are not assigned to the app",
        "The app requires user assignment and your account is not assigned to it.",
        Actor.ADMIN,
        "An administrator assigns you (or a group you are in) to the app in Entra ID "
        "(Enterprise applications, Users and groups).",
    ),
    "53003": Advice(
        "Blocked by Conditional Access",
        "A Conditional Access policy of your organisation blocked this sign-in.",
        Actor.ADMIN,
        "Your administrator checks the sign-in logs in Entra ID for the policy that blocked it.",
    ),
    "7000215": Advice(
        "The client secret is wrong",
        "Entra did not accept the client secret configured in the gateway.",
        Actor.ADMIN,
        "Create a new client secret for the app registration and save its value (not its "
        "id) in the Entra integration.",
    ),
    "7000222": Advice(
        "The client secret has expired",
        "The client secret configured in the gateway has expired.",
        Actor.ADMIN,
        "Create a new client secret for the app registration and save it in the Entra integration.",
    ),
}

_GENERIC = Advice(
    "Microsoft Entra ID refused the sign-in",
    "Entra ID answered with an error.",
    Actor.ADMIN,
    "Your administrator can look the code up in Microsoft's list of AADSTS error codes "
    "and in the Entra sign-in logs, using the trace and correlation ids below.",
)


@dataclass(frozen=True, slots=True)
class EntraError:
    """One Entra error, parsed; every field is attacker-influenced text to escape."""

    error: str
    description: str
    aadsts: str | None
    trace_id: str | None
    correlation_id: str | None
    timestamp: str | None

    @property
    def code(self) -> str:
        """The stable code pages and the audit log use."""
        return f"aadsts_{self.aadsts}" if self.aadsts else f"entra_{_word(self.error)}"

    def advice(self) -> Advice:
        return ADVICE.get(self.aadsts or "", _GENERIC)

    def as_audit(self) -> dict[str, str | None]:
        return {
            "code": self.code,
            "error": self.error,
            "aadsts": self.aadsts,
            "trace_id": self.trace_id,
            "correlation_id": self.correlation_id,
        }


def from_redirect(params: Mapping[str, str]) -> EntraError:
    """The error of an authorization response (``error`` was present)."""
    return _parse(params.get("error", ""), params.get("error_description", ""), None, None)


def from_token_response(body: Any, status: int) -> EntraError:
    """The error of a token endpoint answer that was not a token."""
    if not isinstance(body, dict):
        return _parse(f"http_{status}", "", None, None)
    codes = body.get("error_codes")
    first = str(codes[0]) if isinstance(codes, list) and codes else None
    return _parse(
        str(body.get("error", f"http_{status}")),
        str(body.get("error_description", "")),
        _str_or_none(body.get("trace_id")),
        _str_or_none(body.get("correlation_id")),
        aadsts=first if first and first.isdigit() else None,
    )


def _parse(
    error: str,
    description: str,
    trace_id: str | None,
    correlation_id: str | None,
    *,
    aadsts: str | None = None,
) -> EntraError:
    found = _AADSTS.search(description)
    trace = _TRACE.search(description)
    correlation = _CORRELATION.search(description)
    stamp = _TIMESTAMP.search(description)
    return EntraError(
        error=error[:100],
        description=description[:DESCRIPTION_LIMIT],
        aadsts=aadsts or (found.group(1) if found else None),
        trace_id=_guid_or_none(trace_id) or (trace.group(1) if trace else None),
        correlation_id=_guid_or_none(correlation_id)
        or (correlation.group(1) if correlation else None),
        timestamp=stamp.group(1).strip() if stamp else None,
    )


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _guid_or_none(value: str | None) -> str | None:
    return value if value is not None and re.fullmatch(_GUID, value) else None


def _word(value: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", value.lower())[:40] or "error"
