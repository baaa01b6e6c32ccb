"""Validation of Entra ID tokens (OpenID Connect Core 1.0, section 3.1.3.7).

Every check is explicit and named, so an admin's test sign-in can show each
verdict, and a sign-in is refused on the first failure:

* signature: RS256 only, by a key of the tenant's key set found by ``kid``;
* issuer: exactly the tenant's v2.0 issuer, or, for a ``{tenantid}`` template
  issuer (multi-tenant metadata), the template resolved with the token's
  ``tid``, which must be a GUID;
* tenant: ``tid`` is the configured Entra tenant;
* audience: ``aud`` is exactly our client id. authlib's ``CodeIDToken`` also
  accepts a token for another audience when ``azp`` names our client; Entra
  never issues such tokens to us, so we do not;
* nonce, ``exp``, ``nbf`` and ``iat`` with a bounded clock skew.

Microsoft: "Validate tokens" in the Microsoft identity platform ID token docs.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

ALGORITHMS = ("RS256",)
MAX_CLOCK_SKEW = 300
TEMPLATE = "{tenantid}"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_guid(value: object) -> bool:
    return isinstance(value, str) and _GUID.fullmatch(value) is not None


class TokenRejectedError(Exception):
    """The ID token failed a check; ``code`` is stable, the message says which."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Expectation:
    """What a valid token must say, fixed before the token arrives."""

    client_id: str
    # The configured Entra tenant as a GUID (resolved from the issuer when the
    # admin configured a domain name).
    tenant_id: str
    # The issuer of the tenant's OpenID configuration: exact, or a template.
    issuer: str
    nonce: str
    now: float
    clock_skew: int

    def __post_init__(self) -> None:
        if not 0 <= self.clock_skew <= MAX_CLOCK_SKEW:
            raise ValueError(f"clock skew must be between 0 and {MAX_CLOCK_SKEW} seconds")


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    passed: bool
    detail: str
    code: str = ""


@dataclass(frozen=True, slots=True)
class TokenReport:
    """Every check on one token; ``claims`` are only trustworthy when ``valid``."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    checks: tuple[Check, ...] = field(default=())

    @property
    def valid(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    @property
    def first_failure(self) -> Check | None:
        return next((check for check in self.checks if not check.passed), None)

    def require_valid(self) -> Mapping[str, Any]:
        failure = self.first_failure
        if failure is not None:
            raise TokenRejectedError(failure.code, failure.detail)
        return self.claims


def read_header(raw: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS (unverified); raises when it is not one."""
    try:
        header = jws.extract_compact(raw.encode("ascii")).protected
    except (JoseError, ValueError, UnicodeError) as exc:
        raise TokenRejectedError("malformed_token", "The ID token is not a signed JWT.") from exc
    return dict(header)


def inspect_token(raw: str, keys: KeySet, expected: Expectation) -> TokenReport:
    """Run every check on ``raw`` and report each (signature first)."""
    header = read_header(raw)
    checks: list[Check] = []
    claims: Mapping[str, Any]
    try:
        claims = _verified_claims(raw, header, keys)
        checks.append(Check("signature", True, f"signed with key {header.get('kid')!r}"))
    except TokenRejectedError as exc:
        checks.append(Check("signature", False, exc.message, exc.code))
        # Shown to an admin testing a sign-in, labelled unverified; never trusted.
        claims = _unverified_claims(raw)
    checks.extend(claim_checks(claims, expected))
    return TokenReport(header=header, claims=claims, checks=tuple(checks))


def validate_id_token(raw: str, keys: KeySet, expected: Expectation) -> Mapping[str, Any]:
    """The claims of a valid ID token, or :class:`TokenRejectedError` naming the first failure."""
    return inspect_token(raw, keys, expected).require_valid()


def _verified_claims(raw: str, header: Mapping[str, Any], keys: KeySet) -> Mapping[str, Any]:
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise TokenRejectedError(
            "unsupported_algorithm", f"The token is signed with {alg!r}; only RS256 is accepted."
        )
    kid = header.get("kid")
    try:
        key = keys.get_by_kid(kid) if isinstance(kid, str) else None
    except JoseError:
        key = None
    if key is None:
        raise TokenRejectedError(
            "unknown_kid",
            f"No key {kid!r} in the tenant's signing keys, even after refreshing them.",
        )
    try:
        token = jwt.decode(raw, key, algorithms=list(ALGORITHMS))
    except (JoseError, ValueError) as exc:
        raise TokenRejectedError("bad_signature", "The token's signature does not verify.") from exc
    return dict(token.claims)


def _unverified_claims(raw: str) -> Mapping[str, Any]:
    try:
        payload = jws.extract_compact(raw.encode("ascii")).payload
        value = json.loads(payload)
    except (JoseError, ValueError, UnicodeError):
        return {}
    return value if isinstance(value, dict) else {}


def claim_checks(claims: Mapping[str, Any], expected: Expectation) -> list[Check]:
    """The checks on the claims themselves (everything but the signature)."""
    return [
        _issuer(claims, expected),
        _tenant(claims, expected),
        _audience(claims, expected),
        _nonce(claims, expected),
        _expiry(claims, expected),
        _not_before(claims, expected),
        _issued_at(claims, expected),
    ]


def expected_issuer(template_or_issuer: str, tid: object) -> str | None:
    """The issuer a token with ``tid`` must carry; ``None`` when a template
    cannot be resolved (the ``tid`` is not a GUID)."""
    if TEMPLATE not in template_or_issuer:
        return template_or_issuer
    if not is_guid(tid):
        return None
    assert isinstance(tid, str)
    return template_or_issuer.replace(TEMPLATE, tid)


def _issuer(claims: Mapping[str, Any], expected: Expectation) -> Check:
    iss, tid = claims.get("iss"), claims.get("tid")
    wanted = expected_issuer(expected.issuer, tid)
    if wanted is None:
        return Check(
            "issuer",
            False,
            f"The issuer is a {TEMPLATE} template and the token's tid {tid!r} is not a GUID.",
            "bad_issuer",
        )
    if iss != wanted:
        return Check("issuer", False, f"Issuer {iss!r} is not {wanted!r}.", "bad_issuer")
    return Check("issuer", True, f"issuer {iss!r}")


def _tenant(claims: Mapping[str, Any], expected: Expectation) -> Check:
    tid = claims.get("tid")
    if not is_guid(tid):
        return Check("tenant", False, f"The token's tid {tid!r} is not a GUID.", "wrong_tenant")
    assert isinstance(tid, str)
    if tid.lower() != expected.tenant_id.lower():
        return Check(
            "tenant",
            False,
            f"The token is from Entra tenant {tid}, not the configured {expected.tenant_id}.",
            "wrong_tenant",
        )
    return Check("tenant", True, f"tenant {tid}")


def _audience(claims: Mapping[str, Any], expected: Expectation) -> Check:
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if audiences != [expected.client_id]:
        # No exception for azp: a token for another audience is someone else's.
        return Check(
            "audience",
            False,
            f"The token is for audience {aud!r}, not this app's client id.",
            "bad_audience",
        )
    azp = claims.get("azp")
    if azp is not None and azp != expected.client_id:
        return Check("audience", False, f"azp {azp!r} is not this app.", "bad_audience")
    return Check("audience", True, "audience is this app's client id")


def _nonce(claims: Mapping[str, Any], expected: Expectation) -> Check:
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not hmac.compare_digest(
        nonce.encode(), expected.nonce.encode()
    ):
        return Check("nonce", False, "The nonce is not the one this sign-in sent.", "bad_nonce")
    return Check("nonce", True, "nonce matches this sign-in")


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _expiry(claims: Mapping[str, Any], expected: Expectation) -> Check:
    exp = _number(claims, "exp")
    if exp is None:
        return Check("expiry", False, "The token has no numeric exp.", "expired")
    if expected.now > exp + expected.clock_skew:
        return Check("expiry", False, f"The token expired at {int(exp)}.", "expired")
    return Check("expiry", True, f"expires at {int(exp)}")


def _not_before(claims: Mapping[str, Any], expected: Expectation) -> Check:
    if "nbf" not in claims:
        return Check("not_before", True, "no nbf")
    nbf = _number(claims, "nbf")
    if nbf is None or expected.now < nbf - expected.clock_skew:
        return Check(
            "not_before",
            False,
            f"The token is not valid before {claims.get('nbf')!r}.",
            "not_yet_valid",
        )
    return Check("not_before", True, f"valid from {int(nbf)}")


def _issued_at(claims: Mapping[str, Any], expected: Expectation) -> Check:
    iat = _number(claims, "iat")
    if iat is None or iat > expected.now + expected.clock_skew:
        return Check(
            "issued_at",
            False,
            f"The token's iat {claims.get('iat')!r} is in the future.",
            "not_yet_valid",
        )
    return Check("issued_at", True, f"issued at {int(iat)}")


class IssuerMismatchError(Exception):
    """The tenant's OpenID configuration names an issuer that is not the tenant's."""


def pinned_tenant(configured: str, issuer: str, login_url: str) -> str:
    """The Entra tenant GUID tokens must carry, from the configured tenant and
    the issuer its OpenID configuration names.

    An admin may configure a domain name (``contoso.onmicrosoft.com``); Entra's
    configuration for it names the tenant's GUID issuer, which pins the GUID.
    A template issuer (multi-tenant metadata) pins only a configured GUID.
    """
    if TEMPLATE in issuer:
        if issuer != f"{login_url}/{TEMPLATE}/v2.0" or not is_guid(configured):
            raise IssuerMismatchError(
                f"the OpenID configuration names the template issuer {issuer!r}; "
                "configure the integration with the tenant's GUID"
            )
        return configured.lower()
    prefix, suffix = f"{login_url}/", "/v2.0"
    middle = issuer[len(prefix) : -len(suffix)] if issuer.endswith(suffix) else ""
    if not issuer.startswith(prefix) or not is_guid(middle):
        raise IssuerMismatchError(f"the OpenID configuration names the issuer {issuer!r}")
    if is_guid(configured) and configured.lower() != middle.lower():
        raise IssuerMismatchError(
            f"the OpenID configuration of tenant {configured} names another tenant's issuer"
        )
    return middle.lower()
