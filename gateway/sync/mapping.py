"""Graph JSON to the identity rules' value types, and the run warnings only Graph knows."""

from __future__ import annotations

from typing import Any

from gateway.identity.model import Source, SourceUser

SOURCE = Source.GRAPH
# Properties a delta item must carry to stand for the whole user.
FULL_USER_KEYS = ("mail", "userPrincipalName", "accountEnabled", "displayName")


def source_user(item: dict[str, Any]) -> SourceUser:
    """A Graph user (``id``, ``mail``, ``userPrincipalName``, ...) as the rules see it."""
    object_id = str(item["id"])
    mail = item.get("mail")
    upn = item.get("userPrincipalName")
    name = item.get("displayName")
    return SourceUser(
        external_id=object_id,
        entra_object_id=object_id,
        primary_email=str(mail) if isinstance(mail, str) else None,
        user_name=str(upn) if isinstance(upn, str) else "",
        display_name=str(name) if isinstance(name, str) else None,
        # Absent means Graph did not say; only an explicit false disables.
        enabled=item.get("accountEnabled") is not False,
    )


def is_complete_user(item: dict[str, Any]) -> bool:
    return all(key in item for key in FULL_USER_KEYS)


def is_guest(item: dict[str, Any]) -> bool:
    return str(item.get("userType") or "").lower() == "guest"


def guest_warning(item: dict[str, Any]) -> dict[str, Any]:
    subject = item.get("mail") or item.get("userPrincipalName") or item.get("id")
    return {
        "code": "guest_user",
        "subject": str(subject),
        "message": (
            "This user is a guest in Entra ID; it is synced like a member. Remove it from "
            "the synced groups if guests should not get access."
        ),
        "detail": {"external_id": str(item.get("id"))},
    }


def group_not_found_warning(group_id: str) -> dict[str, Any]:
    return {
        "code": "group_not_found",
        "subject": group_id,
        "message": (
            "A selected group no longer exists in Entra ID; its tag and memberships were "
            "removed. Update the selected groups in the preferences."
        ),
        "detail": {"external_id": group_id},
    }


def read_failed_warning(what: str, error: str) -> dict[str, Any]:
    return {
        "code": "read_failed",
        "subject": what,
        "message": (
            f"Reading {what} from Microsoft Graph failed ({error}); this run added and "
            "updated what it read but removed nothing. The next run retries."
        ),
        "detail": {},
    }
