"""The SCIM endpoints, one module per part of RFC 7644."""
