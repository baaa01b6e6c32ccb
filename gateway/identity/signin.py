"""The sign-in rule (rule 12) as a pure decision with a stable verdict code.

A user may sign in only when the Entra token is for the configured tenant,
its ``preferred_username`` equals an active synced user's Primary Email
(compared as :func:`~gateway.identity.emails.email_key` does), and, where sync
knows the user's Entra object id, the token's ``oid`` matches it. The ``email``
claim is never read: it is mutable and unverified in Entra (the "nOAuth" attack).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from gateway.identity.emails import email_key


class Verdict(StrEnum):
    """Stable codes: logs, the audit trail, pages and monitoring name outcomes by these."""

    ADMITTED = "admitted"
    INTEGRATION_MISSING = "integration_missing"
    INTEGRATION_DISABLED = "integration_disabled"
    INTEGRATION_NOT_VALIDATED = "integration_not_validated"
    WRONG_TENANT = "wrong_tenant"
    NO_USERNAME = "no_username"
    USERNAME_MISMATCH = "username_mismatch"
    NO_SYNCED_USER = "no_synced_user"
    OBJECT_ID_MISMATCH = "object_id_mismatch"
    USER_DEACTIVATED = "user_deactivated"


class Actor(StrEnum):
    """Who has to act so that the next sign-in succeeds."""

    NOBODY = "nobody"
    USER = "user"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class IntegrationState:
    enabled: bool
    validated: bool
    entra_tenant_id: str


@dataclass(frozen=True, slots=True)
class KnownUser:
    """A user of the Timus tenant as the store knows it."""

    id: int
    primary_email: str
    active: bool
    synced: bool
    entra_object_id: str | None


@dataclass(frozen=True, slots=True)
class SignInClaims:
    """The claims the rule reads (validated already); deliberately no ``email``."""

    preferred_username: str | None
    oid: str | None
    tid: str | None


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    user_id: int | None
    message: str
    fix: str
    actor: Actor
    # Values the page and the audit entry show (never a secret).
    details: dict[str, str] = field(default_factory=dict)

    @property
    def admitted(self) -> bool:
        return self.verdict is Verdict.ADMITTED


SAME_VALUES_FIX = "Make the Primary Email and the Username the same in Entra ID."


def decide(
    claims: SignInClaims,
    integration: IntegrationState | None,
    by_username: KnownUser | None,
    by_object_id: KnownUser | None,
) -> Decision:
    """Rule 12: admit or refuse, and say why and who must act.

    ``by_username`` is the tenant's user whose Primary Email has the key of
    ``preferred_username``; ``by_object_id`` the tenant's user whose Entra
    object id is the token's ``oid`` (either may be ``None``).
    """
    if integration is None:
        return _refuse(
            Verdict.INTEGRATION_MISSING,
            "This organisation has not connected Microsoft Entra ID.",
            "An administrator configures the Entra integration first.",
        )
    if not integration.enabled:
        return _refuse(
            Verdict.INTEGRATION_DISABLED,
            "Sign-in with Microsoft Entra ID is turned off for this organisation.",
            "An administrator enables the Entra integration again.",
        )
    if not integration.validated:
        return _refuse(
            Verdict.INTEGRATION_NOT_VALIDATED,
            "The Entra ID connection of this organisation has not been validated yet.",
            "An administrator saves working Entra credentials so they can be validated.",
        )
    if claims.tid is None or claims.tid.lower() != integration.entra_tenant_id.lower():
        return _refuse(
            Verdict.WRONG_TENANT,
            "You signed in with an account of another Entra ID tenant.",
            "Sign in with your account in this organisation's Entra ID tenant.",
            Actor.USER,
            token_tenant=claims.tid or "(none)",
            expected_tenant=integration.entra_tenant_id,
        )
    username = (claims.preferred_username or "").strip()
    if not username:
        return _refuse(
            Verdict.NO_USERNAME,
            "Entra ID sent no username (preferred_username) for this account.",
            "An administrator checks that the app registration issues the "
            "preferred_username claim (scope 'profile').",
        )
    user = by_username if by_username is not None and by_username.synced else None
    if user is None:
        owner = by_object_id
        if owner is not None and email_key(owner.primary_email) != email_key(username):
            return _refuse(
                Verdict.USERNAME_MISMATCH,
                f"You signed in as {username}; your Primary Email is {owner.primary_email}. "
                "They must be the same.",
                SAME_VALUES_FIX,
                user_id=owner.id,
                user_name=username,
                primary_email=owner.primary_email,
            )
        return _refuse(
            Verdict.NO_SYNCED_USER,
            f"No user with the Primary Email {username} has been synced to this organisation: "
            "you may not be in a group selected for sync, or the next sync has not run yet.",
            "An administrator adds you to a group selected for sync in Entra ID, or runs a sync. "
            "If your Username and Primary Email differ, make them the same in Entra ID.",
            user_name=username,
        )
    if user.entra_object_id is not None and (
        claims.oid is None or claims.oid.lower() != user.entra_object_id.lower()
    ):
        return _refuse(
            Verdict.OBJECT_ID_MISMATCH,
            f"The username {username} belongs to a different Entra ID account than the one "
            "that was synced (a username that was reused).",
            "An administrator runs a sync so the gateway learns the current account, "
            "or removes the old user.",
            user_id=user.id,
            user_name=username,
        )
    if not user.active:
        return _refuse(
            Verdict.USER_DEACTIVATED,
            f"The account {user.primary_email} is deactivated: disabled or deleted in Entra ID, "
            "or no longer in a group selected for sync.",
            "An administrator re-enables the account in Entra ID or adds it to a synced group.",
            user_id=user.id,
            primary_email=user.primary_email,
        )
    return Decision(
        Verdict.ADMITTED,
        user.id,
        f"Signed in as {user.primary_email}.",
        "",
        Actor.NOBODY,
        {"primary_email": user.primary_email},
    )


def _refuse(
    verdict: Verdict,
    message: str,
    fix: str,
    actor: Actor = Actor.ADMIN,
    *,
    user_id: int | None = None,
    **details: str,
) -> Decision:
    return Decision(verdict, user_id, message, fix, actor, dict(details))
