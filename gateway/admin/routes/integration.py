"""The tenant's Entra integration: credentials, on/off and sync preferences."""

from __future__ import annotations

from gateway.admin.endpoint import Call, Endpoint
from gateway.admin.schemas import (
    CloudEndpointsIn,
    CloudEndpointsOut,
    IntegrationOut,
    IntegrationPut,
    PreferencesOut,
    PreferencesPut,
    SiteGrantOut,
)
from gateway.clouds import Cloud, CloudEndpoints
from gateway.crypto import Secret
from gateway.errors import ConflictError, NotFoundError, ValidationFailedError
from gateway.graph.errors import GraphError
from gateway.graph.validation import validate_credentials
from gateway.store.graph_sync import VALIDATED, set_status
from gateway.store.integrations import (
    EntraCredentials,
    IntegrationRecord,
    Preferences,
    SiteGrantSpec,
    get_integration,
    get_preferences,
    save_integration,
    save_preferences,
    set_enabled,
)
from gateway.sync.expiry import secret_expiry

BASE = "/tenants/{tenant_id}/integrations/entra"


def integration_out(record: IntegrationRecord) -> IntegrationOut:
    cloud = record.cloud
    expiry = secret_expiry(record.secret_expires_at)
    return IntegrationOut(
        secret_expires_in_days=expiry.days,
        secret_warning=expiry.code,
        secret_warning_message=expiry.message,
        tenant_id=record.entra_tenant_id,
        client_id=record.client_id,
        cloud=(
            CloudEndpointsOut(login_url=cloud.login_url, graph_url=cloud.graph_url)
            if isinstance(cloud, CloudEndpoints)
            else cloud
        ),
        secret_expires_at=record.secret_expires_at,
        status=record.status,
        status_detail=record.status_detail,
        enabled=record.enabled,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def preferences_out(preferences: Preferences) -> PreferencesOut:
    return PreferencesOut(
        sync_enabled=preferences.sync_enabled,
        groups=list(preferences.groups),
        sites=[
            SiteGrantOut(site_id=str(s.site_id), remote_access=s.remote_access)
            for s in preferences.sites
        ],
        sync_interval_minutes=preferences.sync_interval_minutes,
    )


def _put(call: Call) -> IntegrationOut:
    body = call.body_as(IntegrationPut)
    cloud: Cloud = (
        CloudEndpoints(login_url=body.cloud.login_url, graph_url=body.cloud.graph_url)
        if isinstance(body.cloud, CloudEndpointsIn)
        else body.cloud
    )
    credentials = EntraCredentials(
        entra_tenant_id=body.tenant_id,
        client_id=body.client_id,
        client_secret=Secret(body.client_secret.get_secret_value()),
        cloud=cloud,
        secret_expires_at=body.secret_expires_at,
    )
    try:
        validate_credentials(
            call.services.graph,
            cloud,
            credentials.entra_tenant_id,
            credentials.client_id,
            credentials.client_secret,
        )
    except GraphError as exc:
        # Nothing is saved: the admin fixes what the message names and saves again.
        raise ValidationFailedError(
            f"Entra did not accept these credentials: {exc.message}", details=exc.detail()
        ) from None
    save_integration(
        call.engine, call.services.secrets, call.tenant_id, credentials, actor=call.actor
    )
    set_status(
        call.engine, call.tenant_id, VALIDATED, "Token, roles and a read of users and groups OK."
    )
    record = get_integration(call.engine, call.tenant_id)
    assert record is not None
    return integration_out(record)


def _get(call: Call) -> IntegrationOut:
    record = get_integration(call.engine, call.tenant_id)
    if record is None:
        raise NotFoundError(
            "This tenant has no Entra integration yet; configure it with PUT on this path."
        )
    return integration_out(record)


def _enable(call: Call) -> IntegrationOut:
    return integration_out(set_enabled(call.engine, call.tenant_id, True, actor=call.actor))


def _disable(call: Call) -> IntegrationOut:
    return integration_out(set_enabled(call.engine, call.tenant_id, False, actor=call.actor))


def require_validated(call: Call) -> IntegrationRecord:
    """The integration, once its credentials were validated (preferences and sync need it)."""
    record = get_integration(call.engine, call.tenant_id)
    if record is None:
        raise NotFoundError(
            "This tenant has no Entra integration yet; configure it with "
            "PUT /tenants/{tenant_id}/integrations/entra first."
        )
    if record.status != VALIDATED:
        raise ConflictError(
            "Preferences unlock once the Entra credentials are validated; save them with "
            "PUT /tenants/{tenant_id}/integrations/entra and fix what it reports.",
            details={"status": record.status},
        )
    return record


def _put_preferences(call: Call) -> PreferencesOut:
    body = call.body_as(PreferencesPut)
    require_validated(call)
    site_ids = [int(grant.site_id) for grant in body.sites]
    repeated = sorted({str(s) for s in site_ids if site_ids.count(s) > 1})
    if repeated:
        raise ValidationFailedError(
            f"Each site may be listed once; repeated: {', '.join(repeated)}.",
            details={"field": "sites", "repeated_site_ids": repeated},
        )
    preferences = Preferences(
        sync_enabled=body.sync_enabled,
        groups=tuple(dict.fromkeys(body.groups)),
        sites=tuple(SiteGrantSpec(int(g.site_id), g.remote_access) for g in body.sites),
        sync_interval_minutes=body.sync_interval_minutes,
    )
    saved = save_preferences(call.engine, call.tenant_id, preferences, actor=call.actor)
    return preferences_out(saved)


def _get_preferences(call: Call) -> PreferencesOut:
    return preferences_out(get_preferences(call.engine, call.tenant_id))


ENDPOINTS = (
    Endpoint(
        "PUT",
        BASE,
        "put_entra_integration",
        "Configure the Entra integration",
        _put,
        IntegrationOut,
        body=IntegrationPut,
        errors=(422,),
    ),
    Endpoint(
        "GET", BASE, "get_entra_integration", "Read the Entra integration", _get, IntegrationOut
    ),
    Endpoint(
        "POST",
        f"{BASE}/enable",
        "enable_entra_integration",
        "Enable the Entra integration",
        _enable,
        IntegrationOut,
    ),
    Endpoint(
        "POST",
        f"{BASE}/disable",
        "disable_entra_integration",
        "Disable the Entra integration",
        _disable,
        IntegrationOut,
    ),
    Endpoint(
        "PUT",
        f"{BASE}/preferences",
        "put_entra_preferences",
        "Set the sync preferences",
        _put_preferences,
        PreferencesOut,
        body=PreferencesPut,
        errors=(409,),
    ),
    Endpoint(
        "GET",
        f"{BASE}/preferences",
        "get_entra_preferences",
        "Read the sync preferences",
        _get_preferences,
        PreferencesOut,
    ),
)
