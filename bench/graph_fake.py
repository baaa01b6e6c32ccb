"""How fast the Entra/Graph fake serves a 100k-user tenant, so it is never the sync's bottleneck.

A plain httpx client (one connection, no concurrency) gets a token, then pages through
everything a full sync reads and through both delta rounds, from the fake served on
loopback. Prints one table row per step: requests, items and seconds.

    .venv/bin/python -m bench.graph_fake [--users 100000] [--groups 500] [--https]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from typing import Any

import httpx

from tests.fakes.entra import EntraState, serve
from tests.fakes.entra.generator import build_tenant, mutate

USER_SELECT = "id,userPrincipalName,mail,displayName,accountEnabled,userType"


def _pages(http: httpx.Client, url: str) -> Iterator[dict[str, Any]]:
    next_url: str | None = url
    while next_url is not None:
        response = http.get(next_url)
        response.raise_for_status()
        page: dict[str, Any] = response.json()
        yield page
        next_url = page.get("@odata.nextLink")


def _measure(
    rows: list[tuple[str, int, int, float]], step: str, http: httpx.Client, urls: list[str]
) -> dict[str, Any]:
    started = time.perf_counter()
    requests = items = 0
    last: dict[str, Any] = {}
    for url in urls:
        for page in _pages(http, url):
            requests += 1
            items += len(page["value"])
            last = page
    rows.append((step, requests, items, time.perf_counter() - started))
    return last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument("--https", action="store_true", help="serve over HTTPS (private CA)")
    args = parser.parse_args()

    state = EntraState(seed=1)
    started = time.perf_counter()
    generated = build_tenant(state, users=args.users, groups=args.groups)
    build_seconds = time.perf_counter() - started
    tenant, app = generated.tenant, generated.app
    rows: list[tuple[str, int, int, float]] = [
        ("build tenant", 0, generated.memberships, build_seconds)
    ]

    with serve(state, https=args.https) as served:
        verify: Any = served.ssl_context() if args.https else True
        with httpx.Client(base_url=served.base_url, verify=verify, timeout=60) as http:
            token = http.post(
                f"/{tenant.id}/oauth2/v2.0/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": app.client_id,
                    "client_secret": app.secrets[0].value,
                    "scope": f"{served.base_url}/.default",
                },
            ).json()["access_token"]
            http.headers["Authorization"] = f"Bearer {token}"
            _measure(
                rows, "list users ($top=999)", http, [f"/v1.0/users?$select={USER_SELECT}&$top=999"]
            )
            _measure(rows, "list groups", http, ["/v1.0/groups?$select=id,displayName&$top=999"])
            member_urls = [
                f"/v1.0/groups/{gid}/members?$select=id&$top=999" for gid in generated.group_ids
            ]
            _measure(rows, "members of every group", http, member_urls)
            transitive_urls = [
                f"/v1.0/groups/{gid}/transitiveMembers/microsoft.graph.user?$select=id&$top=999"
                for gid in generated.group_ids
            ]
            _measure(rows, "transitive user members", http, transitive_urls)
            users_last = _measure(
                rows, "users delta, first round", http, [f"/v1.0/users/delta?$select={USER_SELECT}"]
            )
            filters = [
                " or ".join(f"id eq '{gid}'" for gid in generated.group_ids[i : i + 50])
                for i in range(0, len(generated.group_ids), 50)
            ]
            group_lasts = []
            started = time.perf_counter()
            requests = items = 0
            for text in filters:
                for page in _pages(
                    http, f"/v1.0/groups/delta?$select=displayName,members&$filter={text}"
                ):
                    requests += 1
                    items += sum(len(g.get("members@delta", [])) for g in page["value"])
                    last = page
                group_lasts.append(last["@odata.deltaLink"])
            rows.append(
                (
                    "groups delta, first round (members)",
                    requests,
                    items,
                    time.perf_counter() - started,
                )
            )
            started = time.perf_counter()
            change = mutate(tenant, share=0.01, seed=2)
            rows.append(
                (
                    "mutate 1%",
                    0,
                    change.users_changed + len(change.moved),
                    time.perf_counter() - started,
                )
            )
            _measure(rows, "users delta after 1%", http, [users_last["@odata.deltaLink"]])
            _measure(rows, "groups delta after 1% (groups)", http, group_lasts)

    width = max(len(r[0]) for r in rows)
    print(f"{'step':<{width}}  {'requests':>8}  {'items':>8}  {'seconds':>8}")
    for step, requests, items, seconds in rows:
        print(f"{step:<{width}}  {requests:>8}  {items:>8}  {seconds:>8.2f}")
    print(f"\nGraph requests counted by the fake: {state.requests.count(prefix='/v1.0')}")


if __name__ == "__main__":
    main()
