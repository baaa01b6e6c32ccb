from __future__ import annotations

from gateway.services import Services
from gateway.store.engine import write_transaction
from tests import store_seed as seed
from tests.admin.conftest import Tenant


def test_runs_are_paged_newest_first_and_read_one_by_one(services: Services, acme: Tenant) -> None:
    with write_transaction(services.engine) as conn:
        ids = [
            seed.sync_run(conn, acme.id, warnings=[{"code": "no_primary_email", "n": i}])
            for i in range(3)
        ]
    base = f"/tenants/{acme.id}/integrations/entra/sync-runs"

    first = acme.admin.get(base, params={"limit": "2"}).json()
    second = acme.admin.get(base, params={"limit": "2", "cursor": first["next_cursor"]}).json()
    one = acme.admin.get(f"{base}/{ids[0]}")

    assert [r["id"] for r in first["items"]] == [str(ids[2]), str(ids[1])]
    assert [r["id"] for r in second["items"]] == [str(ids[0])]
    assert second["next_cursor"] is None
    assert "warnings" not in first["items"][0]
    assert one.json()["warnings"] == [{"code": "no_primary_email", "n": 0}]
    assert one.json()["counts"] == {"users_created": 1}


def test_unknown_run_is_404(acme: Tenant) -> None:
    base = f"/tenants/{acme.id}/integrations/entra/sync-runs"

    assert acme.admin.get(f"{base}/77").status_code == 404
    assert acme.admin.get(f"{base}/abc").status_code == 404
