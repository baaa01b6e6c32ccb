"""Value types that sources hand to the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Source(StrEnum):
    """Where synced identities come from. Each owns what it created."""

    GRAPH = "graph"
    SCIM = "scim"


MANUAL_OWNER = "manual"


class WarningCode(StrEnum):
    NO_PRIMARY_EMAIL = "no_primary_email"
    SSO_USERNAME_MISMATCH = "sso_username_mismatch"
    GROUP_NAME_TOO_LONG = "group_name_too_long"
    DUPLICATE_GROUP_NAME = "duplicate_group_name"
    DUPLICATE_PRIMARY_EMAIL = "duplicate_primary_email"
    PRIMARY_EMAIL_TAKEN = "primary_email_taken"


@dataclass(frozen=True, slots=True)
class SyncWarning:
    """Something a run could not do as asked, or that will bite later."""

    code: WarningCode
    subject: str
    message: str
    detail: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "code": str(self.code),
            "subject": self.subject,
            "message": self.message,
            "detail": dict(self.detail),
        }


@dataclass(frozen=True, slots=True)
class SourceUser:
    """A user as one source currently sees it.

    ``external_id`` is the source's own key for the user (the Graph object id,
    or the SCIM resource id); ``entra_object_id`` is set when the source knows
    the Entra object id.
    """

    external_id: str
    primary_email: str | None
    user_name: str
    display_name: str | None = None
    enabled: bool = True
    entra_object_id: str | None = None


@dataclass(frozen=True, slots=True)
class SourceGroup:
    """A group as one source currently sees it (members are user external ids)."""

    external_id: str
    display_name: str
    members: frozenset[str] = frozenset()
