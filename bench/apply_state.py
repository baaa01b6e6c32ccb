"""Benchmark: apply a 100k-user, 500-group state, then a 1% change.

Usage: python -m bench.apply_state [--database-url URL] [--users N] [--groups N]

Reports wall time of each apply and the process's peak resident memory. With no
URL it uses a fresh SQLite file in a temporary directory (durable writes: WAL,
synchronous=NORMAL, as the service runs).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import tempfile
import time
import uuid
from array import array
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import Engine, text

from gateway.identity.model import Source, SourceGroup, SourceUser
from gateway.store.apply import ApplyOptions, ApplyResult, apply_changes, apply_state
from gateway.store.engine import make_engine
from gateway.store.migrate import upgrade_schema
from gateway.store.users import UserFilter, list_users


class Tenant:
    """A synthetic Entra tenant generated lazily, so the benchmark measures the
    apply and not the memory of its own fixture."""

    def __init__(self, users: int, groups: int, per_user: int, seed: int) -> None:
        rng = random.Random(seed)
        self.users = users
        self.groups = groups
        self.renamed: set[int] = set()
        self.new_email: set[int] = set()
        # Group indexes per user, as compact arrays.
        self.membership = [array("H", rng.sample(range(groups), per_user)) for _ in range(users)]

    @staticmethod
    def object_id(i: int) -> str:
        return f"{i:08d}-0000-4000-8000-000000000000"

    @staticmethod
    def group_id(g: int) -> str:
        return f"{g:08d}-0000-4000-8000-00000000beef"

    def user(self, i: int) -> SourceUser:
        email = (
            f"user{i}.new@contoso.example" if i in self.new_email else f"user{i}@contoso.example"
        )
        name = f"Renamed {i}" if i in self.renamed else f"User {i}"
        oid = self.object_id(i)
        return SourceUser(oid, email, email, name, True, oid)

    def iter_users(self) -> Iterator[SourceUser]:
        return (self.user(i) for i in range(self.users))

    def group_name(self, g: int) -> str:
        return f"Group {g}" if g % 50 else f"A group name far too long to tag {g}"

    def iter_groups(self) -> Iterator[SourceGroup]:
        members: list[list[int]] = [[] for _ in range(self.groups)]
        for i, groups in enumerate(self.membership):
            for g in groups:
                members[g].append(i)
        for g in range(self.groups):
            yield SourceGroup(
                self.group_id(g),
                self.group_name(g),
                frozenset(self.object_id(i) for i in members[g]),
            )
            members[g] = []

    def change_one_percent(self, seed: int) -> Changes:
        """1% of users change: a third are renamed, a third get a new e-mail, a
        third move from one group to another."""
        rng = random.Random(seed)
        changes = Changes()
        for n, i in enumerate(rng.sample(range(self.users), self.users // 100)):
            if n % 3 == 0:
                self.renamed.add(i)
                changes.users.append(self.user(i))
            elif n % 3 == 1:
                self.new_email.add(i)
                changes.users.append(self.user(i))
            else:
                old = self.membership[i][0]
                new = rng.choice([g for g in range(self.groups) if g not in self.membership[i]])
                self.membership[i][0] = new
                changes.removed.append((self.group_id(old), self.object_id(i)))
                changes.added.append((self.group_id(new), self.object_id(i)))
        return changes


class Changes:
    def __init__(self) -> None:
        self.users: list[SourceUser] = []
        self.added: list[tuple[str, str]] = []
        self.removed: list[tuple[str, str]] = []


def _fresh_tenant(engine: Engine) -> str:
    tenant_id = uuid.uuid4().hex
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO tenants (id, name, created_at) "
                "VALUES (:id, 'bench', CURRENT_TIMESTAMP)"
            ),
            {"id": tenant_id},
        )
    return tenant_id


def _listing_ms(engine: Engine, tenant_id: str, filters: UserFilter, repeat: int = 20) -> float:
    """Median time of the admin API's store call for one page of 100 users."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        list_users(engine, tenant_id, filters=filters, limit=100)
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 2)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(label: str, results: dict[str, object], action: Callable[[], ApplyResult]) -> None:
    started = time.perf_counter()
    outcome = action()
    results[f"{label}_s"] = round(time.perf_counter() - started, 3)
    results[f"{label}_counts"] = {k: v for k, v in outcome.counts.items() if v}


def run(database_url: str, users: int, groups: int, per_user: int) -> dict[str, object]:
    engine = make_engine(database_url)
    upgrade_schema(engine)
    tenant_id = _fresh_tenant(engine)
    tenant = Tenant(users, groups, per_user, seed=1)
    options = ApplyOptions(confirm_deactivations=True)
    results: dict[str, object] = {
        "backend": engine.dialect.name,
        "users": users,
        "groups": groups,
        "memberships": users * per_user,
        "peak_rss_before_apply_mb": round(_peak_rss_mb(), 1),
    }

    state: tuple[list[SourceUser], list[SourceGroup]] = ([], [])

    def snapshot() -> ApplyResult:
        # Built before the clock starts: the benchmark times the apply, not
        # the making of its input (the initial apply streams it instead, to
        # show that memory stays bounded).
        return apply_state(
            engine, tenant_id, Source.GRAPH, users=state[0], groups=state[1], options=options
        )

    def streamed_snapshot() -> ApplyResult:
        return apply_state(
            engine,
            tenant_id,
            Source.GRAPH,
            users=tenant.iter_users(),
            groups=tenant.iter_groups(),
            options=options,
        )

    _timed("initial_apply", results, streamed_snapshot)
    results["peak_rss_after_initial_apply_mb"] = round(_peak_rss_mb(), 1)
    results["admin_list_page_of_100_ms"] = _listing_ms(engine, tenant_id, UserFilter())
    results["admin_list_page_of_100_by_tag_ms"] = _listing_ms(
        engine, tenant_id, UserFilter(tag=tenant.group_name(7))
    )
    changes = tenant.change_one_percent(seed=2)
    _timed(
        "one_percent_change_as_delta",
        results,
        lambda: apply_changes(
            engine,
            tenant_id,
            Source.GRAPH,
            users=changes.users,
            added_members=changes.added,
            removed_members=changes.removed,
            options=options,
        ),
    )
    tenant.change_one_percent(seed=3)
    state = (list(tenant.iter_users()), list(tenant.iter_groups()))
    _timed("one_percent_change_as_snapshot", results, snapshot)
    _timed("unchanged_snapshot", results, snapshot)
    results["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument("--memberships-per-user", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        print(json.dumps(run(url, args.users, args.groups, args.memberships_per_user), indent=2))


if __name__ == "__main__":
    main()
