"""The domain rules of DESIGN.md, as pure functions."""

from __future__ import annotations

import math

from gateway.identity.emails import email_key
from gateway.identity.model import SyncWarning, WarningCode

ENTRA_TEAM_NAME = "Microsoft Entra ID Users"
ENTRA_TEAM_KEY = "entra"
TAG_NAME_MAX_LENGTH = 29


def tag_name_for_group(display_name: str) -> str | None:
    """The static tag a synced group gives its members, or ``None`` (rule 6).

    Names longer than 29 characters give no tag; the run reports them.
    """
    name = display_name.strip()
    if not name or len(name) > TAG_NAME_MAX_LENGTH:
        return None
    return name


def name_key(name: str) -> str:
    """Case-insensitive comparison key of a tag, team or site name."""
    return name.strip().lower()


def sso_will_fail(primary_email: str, user_name: str) -> bool:
    """Sign-in requires the Username (UPN) to equal the Primary Email (rule 3)."""
    return email_key(primary_email) != email_key(user_name)


def user_warnings(external_id: str, primary_email: str | None, user_name: str) -> list[SyncWarning]:
    """What a run reports about one incoming user (rules 2 and 3)."""
    if primary_email is None:
        return [
            SyncWarning(
                WarningCode.NO_PRIMARY_EMAIL,
                subject=user_name or external_id,
                message=(
                    "User has no Primary Email and was not synced; "
                    "set the Email (mail) attribute in Entra ID."
                ),
                detail={"external_id": external_id, "user_name": user_name},
            )
        ]
    if sso_will_fail(primary_email, user_name):
        return [
            SyncWarning(
                WarningCode.SSO_USERNAME_MISMATCH,
                subject=primary_email,
                message=(
                    f"SSO will fail for this user: Username {user_name!r} differs from "
                    f"Primary Email {primary_email!r}; make them the same in Entra ID."
                ),
                detail={"user_name": user_name, "primary_email": primary_email},
            )
        ]
    return []


def group_name_warning(external_id: str, display_name: str) -> SyncWarning | None:
    """The warning for a group whose name is too long to be a tag (rule 6)."""
    if tag_name_for_group(display_name) is not None:
        return None
    return SyncWarning(
        WarningCode.GROUP_NAME_TOO_LONG,
        subject=display_name,
        message=(
            f"Group name is longer than {TAG_NAME_MAX_LENGTH} characters, so its members "
            "get no tag; shorten the group's name in Entra ID."
        ),
        detail={"external_id": external_id},
    )


def deactivation_needs_confirmation(
    synced_users: int, deactivating: int, share: float, min_users: int
) -> bool:
    """Whether a run deactivates an unusual share of users (rule 10).

    It stops when it would deactivate more than ``share`` of the synced users and
    at least ``min_users`` of them.
    """
    if deactivating == 0 or deactivating < max(min_users, 1):
        return False
    allowed = math.floor(synced_users * share)
    return deactivating > allowed
