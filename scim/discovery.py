"""Discovery (RFC 7644 §4): ServiceProviderConfig, ResourceTypes and Schemas.

Built once from the attribute catalog, which lists every attribute the server
reads, filters and patches (including the ``type`` sub-attribute that Entra's
``emails[type eq "work"].value`` paths select on).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    ETag,
    Filter,
    Patch,
    ServiceProviderConfig,
    Sort,
)

from gateway.settings import Settings
from scim.attributes import GROUP_SCHEMA, RESOURCE_TYPES, SCHEMAS, USER_SCHEMA

DOCUMENTATION = "https://learn.microsoft.com/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups"


@dataclass(frozen=True, slots=True)
class Discovery:
    service_provider_config: dict[str, Any]
    resource_types: dict[str, dict[str, Any]]
    schemas: dict[str, dict[str, Any]]


def build_discovery(settings: Settings, base_url: str) -> Discovery:
    """The discovery documents, with ``meta.location`` under ``base_url``."""
    config = ServiceProviderConfig(
        documentation_uri=DOCUMENTATION,
        patch=Patch(supported=True),
        bulk=Bulk(
            supported=True,
            max_operations=settings.scim_bulk_max_operations,
            max_payload_size=settings.max_body_bytes,
        ),
        filter=Filter(supported=True, max_results=settings.scim_max_count),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=True),
        etag=ETag(supported=True),
        authentication_schemes=[
            AuthenticationScheme(
                type=AuthenticationScheme.Type.oauthbearertoken,
                name="OAuth Bearer Token",
                description="The secret token of the tenant's SCIM integration.",
                primary=True,
            )
        ],
    )
    spc = config.model_dump(mode="json", by_alias=True, exclude_none=True)
    spc.pop("meta", None)
    spc["meta"] = {
        "resourceType": "ServiceProviderConfig",
        "location": f"{base_url}/ServiceProviderConfig",
    }
    resource_types = {
        rtype.name: {
            **rtype.to_dict(),
            "meta": {
                "resourceType": "ResourceType",
                "location": f"{base_url}/ResourceTypes/{rtype.name}",
            },
        }
        for rtype in RESOURCE_TYPES
    }
    schemas = {
        schema.id: {
            **_published(schema.to_dict()),
            "meta": {"resourceType": "Schema", "location": f"{base_url}/Schemas/{schema.id}"},
        }
        for schema in SCHEMAS
    }
    return Discovery(spc, resource_types, schemas)


def _published(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema as this service enforces it: a user needs an e-mail address,
    the Primary Email the identity store keys users by (rule 2); a member's
    ``display`` is the user's name, read-only as RFC 7643 §2.4 says."""
    if schema["id"] == GROUP_SCHEMA:
        for attribute in schema["attributes"]:
            if attribute["name"] == "members":
                for sub in attribute.get("subAttributes", ()):
                    if sub["name"] == "display":
                        sub["mutability"] = "readOnly"
        return schema
    if schema["id"] != USER_SCHEMA:
        return schema
    for attribute in schema["attributes"]:
        if attribute["name"] == "emails":
            attribute["required"] = True
            for sub in attribute.get("subAttributes", ()):
                if sub["name"] == "value":
                    sub["required"] = True
    return schema
