"""SCIM 2.0 (RFC 7643/7644) server for the Entra provisioning service."""
