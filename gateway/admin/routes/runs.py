"""Sync run reports of the tenant."""

from __future__ import annotations

from typing import Any

from gateway.admin.cursor import decode_cursor, encode_cursor
from gateway.admin.endpoint import Call, Endpoint
from gateway.admin.paging import page_size
from gateway.admin.schemas import PageQuery, RunDetail, RunPage, RunSummary
from gateway.errors import NotFoundError
from gateway.store.graph_sync import run_report, run_reports
from gateway.store.runs import RunRecord, get_run, list_runs

BASE = "/tenants/{tenant_id}/integrations/entra/sync-runs"


def _summary_fields(run: RunRecord, report: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "report": report,
        "id": str(run.id),
        "source": run.source,
        "kind": run.kind,
        "status": run.status,
        "dry_run": run.dry_run,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "counts": run.counts,
        "error": run.error,
    }


def _list(call: Call) -> RunPage:
    query = call.query_as(PageQuery)
    page = list_runs(
        call.engine,
        call.tenant_id,
        before_id=decode_cursor("runs", query.cursor),
        limit=page_size(query.limit, call.services.settings),
    )
    reports = run_reports(call.engine, call.tenant_id, [run.id for run in page.items])
    return RunPage(
        items=[RunSummary(**_summary_fields(run, reports.get(run.id))) for run in page.items],
        next_cursor=encode_cursor("runs", page.next_after),
    )


def _get(call: Call) -> RunDetail:
    run = get_run(call.engine, call.tenant_id, call.int_param("run_id"))
    if run is None:
        raise NotFoundError(f"No sync run with id {call.int_param('run_id')}.")
    report = run_report(call.engine, call.tenant_id, run.id)
    return RunDetail(**_summary_fields(run, report), warnings=run.warnings)


ENDPOINTS = (
    Endpoint(
        "GET",
        BASE,
        "list_sync_runs",
        "List sync runs, newest first",
        _list,
        RunPage,
        query=PageQuery,
    ),
    Endpoint("GET", f"{BASE}/{{run_id}}", "get_sync_run", "Read one sync run", _get, RunDetail),
)
