"""Graph sync from the admin API: the group picker, running a sync, confirming one."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from gateway.admin.endpoint import Call, Endpoint
from gateway.admin.routes.integration import require_validated
from gateway.admin.schemas import (
    EntraGroupOut,
    EntraGroupPage,
    GroupSearchQuery,
    SyncQuery,
    SyncRunOut,
)
from gateway.clouds import endpoints_for
from gateway.errors import ApiError, ValidationFailedError
from gateway.graph.errors import GraphError
from gateway.graph.reads import names_held_twice, search_groups
from gateway.identity.rules import TAG_NAME_MAX_LENGTH, tag_name_for_group
from gateway.store.integrations import load_client_secret
from gateway.store.runs import get_run
from gateway.sync.engine import RunOutcome, RunRequest
from gateway.sync.service import confirm_run, run_sync

BASE = "/tenants/{tenant_id}/integrations/entra"
DEFAULT_GROUP_PAGE = 100


class EntraUnavailableError(ApiError):
    """Entra or Graph refused or failed a read the admin asked for."""

    status = 502
    code = "entra_error"


def _groups(call: Call) -> EntraGroupPage:
    query = call.query_as(GroupSearchQuery)
    record = require_validated(call)
    graph_v1 = endpoints_for(record.cloud).graph_v1
    next_link = _decode_link(query.cursor, graph_v1)
    secret = load_client_secret(call.engine, call.services.secrets, call.tenant_id)
    assert secret is not None
    client = call.services.graph.client(
        record.cloud, record.entra_tenant_id, record.client_id, secret
    )
    try:
        page = search_groups(
            client,
            query.search.strip(),
            top=query.limit or DEFAULT_GROUP_PAGE,
            next_link=next_link,
        )
        items = [g for g in page.get("value", []) if isinstance(g.get("id"), str)]
        names = [str(g.get("displayName") or "").strip().lower() for g in items]
        elsewhere = names_held_twice(client, [str(g.get("displayName") or "") for g in items])
    except GraphError as exc:
        raise EntraUnavailableError(exc.message, details=exc.detail()) from None
    finally:
        client.close()
    out = []
    for group, key in zip(items, names, strict=True):
        name = str(group.get("displayName") or "")
        tagged = tag_name_for_group(name) is not None
        duplicate = names.count(key) > 1 or name.lower() in elsewhere
        warnings = []
        if not tagged:
            warnings.append(
                f"Name longer than {TAG_NAME_MAX_LENGTH} characters: will not be tagged."
            )
        if duplicate:
            warnings.append(
                "Another security group in the tenant has this name: both would give the same tag."
            )
        out.append(
            EntraGroupOut(
                id=group["id"],
                display_name=name,
                will_be_tagged=tagged,
                duplicate_name=duplicate,
                warnings=warnings,
            )
        )
    link = page.get("@odata.nextLink")
    return EntraGroupPage(items=out, next_cursor=_encode_link(str(link)) if link else None)


def _encode_link(link: str) -> str:
    return base64.urlsafe_b64encode(link.encode()).decode().rstrip("=")


def _decode_link(cursor: str | None, graph_v1: str) -> str | None:
    """Graph's next link, only if it points at this integration's Graph (no SSRF)."""
    if cursor is None:
        return None
    try:
        link = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        link = ""
    if not link.startswith(f"{graph_v1}/groups?"):
        raise ValidationFailedError(
            "Invalid cursor; pass the next_cursor of the previous page unchanged.",
            details=[{"field": "cursor", "message": "not a cursor of this listing"}],
        )
    return link


def run_out(outcome: RunOutcome, *, dry_run: bool, started: Any, finished: Any) -> SyncRunOut:
    return SyncRunOut(
        id=str(outcome.run_id),
        source="graph",
        kind=outcome.kind,
        status=outcome.status,
        dry_run=dry_run,
        started_at=started,
        finished_at=finished,
        counts=outcome.counts,
        error=outcome.error,
        report=outcome.report,
        warnings=outcome.warnings,
        changes=outcome.changes,
    )


def _outcome_out(call: Call, outcome: RunOutcome) -> SyncRunOut:
    run = get_run(call.engine, call.tenant_id, outcome.run_id)
    assert run is not None
    return run_out(outcome, dry_run=run.dry_run, started=run.started_at, finished=run.finished_at)


def _sync(call: Call) -> SyncRunOut:
    query = call.query_as(SyncQuery)
    require_validated(call)
    request = RunRequest(
        call.tenant_id,
        dry_run=query.dry_run == "true",
        force_full=query.full == "true",
        trigger=f"api:{call.token.id}",
    )
    return _outcome_out(call, run_sync(call.services, request))


def _confirm(call: Call) -> SyncRunOut:
    require_validated(call)
    outcome = confirm_run(call.services, call.tenant_id, call.int_param("run_id"))
    return _outcome_out(call, outcome)


ENDPOINTS = (
    Endpoint(
        "GET",
        f"{BASE}/groups",
        "search_entra_groups",
        "List security groups of the Entra tenant (group picker)",
        _groups,
        EntraGroupPage,
        query=GroupSearchQuery,
        errors=(409, 502),
    ),
    Endpoint(
        "POST",
        f"{BASE}/sync",
        "run_entra_sync",
        "Sync from Microsoft Graph now (dry_run=true: preview the exact diff)",
        _sync,
        SyncRunOut,
        query=SyncQuery,
        errors=(409,),
    ),
    Endpoint(
        "POST",
        f"{BASE}/sync-runs/{{run_id}}/confirm",
        "confirm_entra_sync",
        "Confirm a run stopped at the deactivation threshold, and apply it",
        _confirm,
        SyncRunOut,
        errors=(409,),
    ),
)
