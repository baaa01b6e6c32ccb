"""The attribute catalog: RFC 7643 §4 and §7 shapes, case-insensitive lookups."""

from __future__ import annotations

import pytest
from scim2_models import ResourceType as ModelResourceType
from scim2_models import Schema as ModelSchema

from scim.attributes import (
    ENTERPRISE_USER_SCHEMA,
    GROUP,
    GROUP_SCHEMA,
    RESOURCE_TYPES,
    SCHEMAS,
    USER,
    USER_SCHEMA,
    AttributeType,
    Mutability,
    Returned,
    Uniqueness,
    resource_type,
)

RFC7643_7_KEYS = {
    "name",
    "type",
    "multiValued",
    "description",
    "required",
    "caseExact",
    "mutability",
    "returned",
    "uniqueness",
}


def test_rfc7643_7_every_published_attribute_carries_every_characteristic() -> None:
    for schema in SCHEMAS:
        body = schema.to_dict()
        assert body["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:Schema"]
        pending = list(body["attributes"])
        while pending:
            attribute = pending.pop()
            assert attribute.keys() >= RFC7643_7_KEYS, attribute["name"]
            if attribute["type"] == "complex":
                assert attribute["subAttributes"], attribute["name"]
                pending.extend(attribute["subAttributes"])
            if attribute["type"] == "reference":
                assert attribute["referenceTypes"], attribute["name"]


def test_rfc7643_7_schemas_validate_as_scim2_models_schema_resources() -> None:
    for schema in SCHEMAS:
        parsed = ModelSchema.model_validate(schema.to_dict())
        assert parsed.id == schema.id
        assert len(parsed.attributes or []) == len(schema.attributes)


def test_rfc7643_6_resource_types_validate_and_name_their_schemas() -> None:
    for rtype in RESOURCE_TYPES:
        parsed = ModelResourceType.model_validate(rtype.to_dict())
        assert parsed.schema_ == rtype.schema.id
    assert USER.to_dict()["schemaExtensions"] == [
        {"schema": ENTERPRISE_USER_SCHEMA, "required": False}
    ]
    assert USER.to_dict()["endpoint"] == "/Users"
    assert GROUP.to_dict()["schemaExtensions"] == []


@pytest.mark.parametrize(
    "name",
    [
        "userName",
        "name",
        "displayName",
        "nickName",
        "profileUrl",
        "title",
        "userType",
        "preferredLanguage",
        "locale",
        "timezone",
        "active",
        "password",
        "emails",
        "phoneNumbers",
        "ims",
        "photos",
        "addresses",
        "groups",
        "entitlements",
        "roles",
        "x509Certificates",
    ],
)
def test_rfc7643_4_1_user_core_attributes_are_all_present(name: str) -> None:
    assert USER.schema.attribute(name) is not None


def test_rfc7643_4_3_enterprise_extension_and_manager() -> None:
    names = {attr.name for attr in SCHEMAS[1].attributes}
    assert names == {
        "employeeNumber",
        "costCenter",
        "organization",
        "division",
        "department",
        "manager",
    }
    manager = USER.lookup(f"{ENTERPRISE_USER_SCHEMA}:manager")
    assert manager is not None
    assert [sub.name for sub in manager.attribute.sub_attributes] == [
        "value",
        "$ref",
        "displayName",
    ]
    # Entra clears the manager with "": nothing under it can be required.
    assert not any(sub.required for sub in manager.attribute.sub_attributes)
    display = manager.attribute.sub_attribute("DISPLAYNAME")
    assert display is not None
    assert display.mutability is Mutability.READ_ONLY


def test_rfc7643_4_2_group_members_and_unique_display_name() -> None:
    members = GROUP.lookup("members")
    assert members is not None
    assert members.attribute.multi_valued
    assert [sub.name for sub in members.attribute.sub_attributes] == [
        "value",
        "$ref",
        "type",
        "display",
    ]
    display_name = GROUP.lookup("displayName")
    assert display_name is not None
    assert display_name.target.uniqueness is Uniqueness.SERVER


def test_characteristics_used_by_the_server() -> None:
    user_name = USER.lookup("userName")
    assert user_name is not None
    assert user_name.target.required
    assert not user_name.target.case_exact
    assert user_name.target.uniqueness is Uniqueness.SERVER
    active = USER.lookup("active")
    assert active is not None
    assert active.target.type is AttributeType.BOOLEAN
    primary = USER.lookup("emails.primary")
    assert primary is not None
    assert primary.target.type is AttributeType.BOOLEAN
    email_type = USER.lookup("emails.type")
    assert email_type is not None
    assert email_type.target.canonical_values == ("work", "home", "other")
    password = USER.lookup("password")
    assert password is not None
    assert password.target.returned is Returned.NEVER
    assert password.target.mutability is Mutability.WRITE_ONLY


@pytest.mark.parametrize(
    ("text", "schema", "path"),
    [
        ("userName", None, "userName"),
        ("USERNAME", None, "userName"),
        (f"{USER_SCHEMA}:userName", None, "userName"),
        (f"{USER_SCHEMA.upper()}:username", None, "userName"),
        ("name.givenName", None, "name.givenName"),
        ("Name.GivenName", None, "name.givenName"),
        ("emails.value", None, "emails.value"),
        (
            f"{ENTERPRISE_USER_SCHEMA}:manager.value",
            ENTERPRISE_USER_SCHEMA,
            f"{ENTERPRISE_USER_SCHEMA}:manager.value",
        ),
        (
            f"{ENTERPRISE_USER_SCHEMA.lower()}:EMPLOYEENUMBER",
            ENTERPRISE_USER_SCHEMA,
            f"{ENTERPRISE_USER_SCHEMA}:employeeNumber",
        ),
        ("employeeNumber", ENTERPRISE_USER_SCHEMA, f"{ENTERPRISE_USER_SCHEMA}:employeeNumber"),
        ("id", None, "id"),
        ("externalId", None, "externalId"),
        ("meta.lastModified", None, "meta.lastModified"),
        (f"{USER_SCHEMA}:meta.created", None, "meta.created"),
    ],
)
def test_user_lookup_is_case_insensitive_and_accepts_urns(
    text: str, schema: str | None, path: str
) -> None:
    found = USER.lookup(text)
    assert found is not None
    assert found.schema == schema
    assert found.path == path


@pytest.mark.parametrize(
    "text",
    [
        "nope",
        "name.nope",
        "userName.value",
        f"{GROUP_SCHEMA}:userName",
        "urn:example:unknown:2.0:User:userName",
        f"{ENTERPRISE_USER_SCHEMA}:userName",
        "members",
        "",
        "urn:",
        ".value",
    ],
)
def test_user_lookup_refuses_what_the_user_schemas_do_not_declare(text: str) -> None:
    assert USER.lookup(text) is None


def test_group_lookup() -> None:
    found = GROUP.lookup(f"{GROUP_SCHEMA}:members.value")
    assert found is not None
    assert found.path == "members.value"
    assert found.target.case_exact
    assert GROUP.lookup("externalId") is not None
    assert GROUP.lookup("userName") is None
    assert GROUP.lookup("employeeNumber") is None


def test_resource_type_by_name() -> None:
    assert resource_type("user") is USER
    assert resource_type("Group") is GROUP
    with pytest.raises(KeyError):
        resource_type("Device")
