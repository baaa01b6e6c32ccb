"""Every admin API operation, in one list: routes and the OpenAPI document come from it."""

from __future__ import annotations

from gateway.admin.endpoint import Endpoint
from gateway.admin.routes import (
    entra_sync,
    integration,
    runs,
    sites,
    sso_tests,
    tags,
    teams,
    tenants,
    tokens,
    users,
)

ENDPOINTS: tuple[Endpoint, ...] = (
    *tenants.ENDPOINTS,
    *integration.ENDPOINTS,
    *runs.ENDPOINTS,
    *entra_sync.ENDPOINTS,
    *sites.ENDPOINTS,
    *teams.ENDPOINTS,
    *tags.ENDPOINTS,
    *users.ENDPOINTS,
    *tokens.ENDPOINTS,
    *sso_tests.ENDPOINTS,
)
