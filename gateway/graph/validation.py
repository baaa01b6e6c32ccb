"""Checking an admin's Entra credentials for real, before they unlock preferences.

A fresh token (never a cached one, so consent granted a minute ago counts),
its ``roles`` claim, then one small read of ``/users`` and of ``/groups``:
whatever fails is raised as a :class:`GraphError` naming the cause and what
to do.
"""

from __future__ import annotations

from gateway.clouds import Cloud
from gateway.crypto import Secret
from gateway.graph.connector import GraphConnector
from gateway.graph.errors import GraphError, MissingPermissionError


def validate_credentials(
    connector: GraphConnector,
    cloud: Cloud,
    entra_tenant_id: str,
    client_id: str,
    client_secret: Secret,
) -> None:
    """Return when the credentials can read users and groups; raise otherwise."""
    client = connector.client(cloud, entra_tenant_id, client_id, client_secret)
    try:
        client.check_access()
        missing: list[str] = []
        for path, role in (
            ("/users?$select=id&$top=1", "User.Read.All"),
            ("/groups?$select=id&$top=1", "Group.Read.All"),
        ):
            try:
                client.get(path)
            except MissingPermissionError:
                missing.append(role)
        if missing:
            raise MissingPermissionError(tuple(missing))
    except GraphError:
        raise
    finally:
        client.close()
