"""Entra object ids (rule 4: identities match by object id first)."""

from __future__ import annotations

import uuid


def entra_object_id(value: str | None) -> str | None:
    """``value`` as an Entra object id (a GUID, lower case), or ``None``.

    Entra's provisioning service usually maps ``objectId`` to SCIM
    ``externalId``; any other external id (an employee number, a mail
    nickname) is not an object id and matches nothing.
    """
    if value is None:
        return None
    text = value.strip()
    if len(text) != 36:
        return None
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None
