"""Properties of the apply engine over generated sequences of source states.

Small pools of ids, addresses and group names make collisions (shared or
swapped addresses, duplicate group names, names around the 29-character limit)
common, which is where the rules are easy to get wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from gateway.errors import NotFoundError
from gateway.identity.emails import email_key
from gateway.identity.model import Source, SourceGroup, SourceUser
from gateway.identity.rules import TAG_NAME_MAX_LENGTH, tag_name_for_group
from gateway.store.access import UserAccess, effective_access
from gateway.store.engine import make_engine, read_transaction
from gateway.store.integrations import Preferences, SiteGrantSpec, save_preferences, set_enabled
from gateway.store.migrate import upgrade_schema
from gateway.store.sites import create_site
from gateway.store.teams import add_member, create_team, remove_member
from tests import store_seed as seed
from tests.store.apply_helpers import changed, new_tenant, snapshot, user_count

ADDRESSES = ["a@x.com", "A@X.com ", "b@x.com", "c@x.com", "", "not-an-address"]
GROUP_NAMES = ["Sales", "sales", "Ops", "x" * 29, "y" * 30, "Engineering Platform Reliability"]
USER_IDS = [f"oid-{n}" for n in range(5)]
GROUP_IDS = ["g1", "g2", "g3"]

users_strategy = st.builds(
    SourceUser,
    external_id=st.sampled_from(USER_IDS),
    primary_email=st.sampled_from(ADDRESSES),
    user_name=st.sampled_from(["a@x.com", "b@x.com", "someone@x.onmicrosoft.com"]),
    display_name=st.sampled_from(["Ann", "Bob", None]),
    enabled=st.booleans(),
).map(
    lambda u: SourceUser(
        u.external_id, u.primary_email, u.user_name, u.display_name, u.enabled, u.external_id
    )
)
groups_strategy = st.builds(
    SourceGroup,
    external_id=st.sampled_from(GROUP_IDS),
    display_name=st.sampled_from(GROUP_NAMES),
    members=st.frozensets(st.sampled_from(USER_IDS)),
)


@dataclass(frozen=True)
class Step:
    users: list[SourceUser]
    groups: list[SourceGroup]
    complete: bool


steps_strategy = st.lists(
    st.builds(
        Step,
        users=st.lists(users_strategy, max_size=6),
        groups=st.lists(groups_strategy, max_size=3),
        complete=st.booleans(),
    ),
    min_size=1,
    max_size=4,
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One store for all examples; each example works in a tenant of its own."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('props') / 'gateway.db'}")
    upgrade_schema(engine)
    yield engine
    engine.dispose()


PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@PROPERTY_SETTINGS
@given(steps=steps_strategy)
def test_invariants_hold_after_every_step(store: Engine, steps: list[Step]) -> None:
    tenant = new_tenant(store)
    manual_team = create_team(store, tenant, "Manual", actor="admin").id
    manual: set[int] = set()
    users_before = 0
    for step in steps:
        _apply(store, tenant, step)
        # Deactivation never deletes a user record.
        assert user_count(store, tenant) >= users_before
        users_before = user_count(store, tenant)
        _assert_consistent(store, tenant, manual_team, manual)
        # Between syncs an admin adds somebody to a manual team, and takes the
        # first user out of the Entra team (the next sync puts them back).
        newest = _user_ids(store, tenant)
        if newest:
            add_member(store, tenant, manual_team, newest[-1], actor="admin")
            manual.add(newest[-1])
            entra_team = _entra_team_id(store, tenant)
            if entra_team is not None:
                with suppress(NotFoundError):
                    remove_member(store, tenant, entra_team, newest[0], actor="admin")

    last = steps[-1]
    again = snapshot(store, tenant, last.users, last.groups, confirm_deactivations=True)
    settled = snapshot(store, tenant, last.users, last.groups, confirm_deactivations=True)
    # Applying the same complete state twice: the second changes nothing.
    assert {k: v for k, v in changed(settled).items() if k != "users_skipped"} == {}
    assert settled.counts["users_skipped"] == again.counts["users_skipped"]
    _assert_matches_complete_state(store, tenant, last)


def _apply(store: Engine, tenant: str, step: Step) -> None:
    snapshot(
        store, tenant, step.users, step.groups, complete=step.complete, confirm_deactivations=True
    )


def _assert_consistent(engine: Engine, tenant: str, manual_team: int, manual: set[int]) -> None:
    with engine.connect() as conn:
        q = lambda sql: conn.execute(text(sql), {"t": tenant}).all()  # noqa: E731
        # No tag longer than 29 characters ever exists.
        assert all(
            len(name) <= TAG_NAME_MAX_LENGTH
            for (name,) in q("SELECT name FROM tags WHERE tenant_id = :t")
        )
        # Two users never share a Primary Email in a tenant.
        keys = [k for (k,) in q("SELECT email_key FROM users WHERE tenant_id = :t") if k]
        assert len(keys) == len(set(keys))
        active_addresses = [
            email_key(e)
            for (e,) in q("SELECT primary_email FROM users WHERE tenant_id = :t AND active")
        ]
        assert len(active_addresses) == len(set(active_addresses))
        # Active exactly while some source has the user enabled.
        inconsistent = q(
            """
            SELECT u.id FROM users u WHERE u.tenant_id = :t AND u.active <> EXISTS (
                SELECT 1 FROM user_sources us WHERE us.user_id = u.id AND us.enabled)
            """
        )
        assert inconsistent == []
        # The Entra team holds, as graph's, exactly the users graph has enabled.
        team = {
            r[0]
            for r in q(
                "SELECT tm.user_id FROM team_memberships tm JOIN teams t ON t.id = tm.team_id"
                " WHERE t.tenant_id = :t AND t.system_key = 'entra' AND tm.owner = 'graph'"
            )
        }
        enabled = {
            r[0]
            for r in q(
                "SELECT user_id FROM user_sources WHERE tenant_id = :t AND source = 'graph'"
                " AND enabled"
            )
        }
        assert team == enabled
        # A source's group has as members only users linked to that source in
        # the group's tenant (the snapshot diff relies on it).
        unlinked_members = q(
            """
            SELECT gm.group_id, gm.user_id FROM group_memberships gm
            JOIN groups g ON g.id = gm.group_id
            WHERE (g.tenant_id = :t OR gm.tenant_id = :t) AND (
                gm.tenant_id <> g.tenant_id OR NOT EXISTS (
                    SELECT 1 FROM user_sources us
                    WHERE us.user_id = gm.user_id AND us.tenant_id = g.tenant_id
                      AND us.source = g.source))
            """
        )
        assert unlinked_members == []
        # Manual memberships survive every sync.
        kept = {
            r[0]
            for r in conn.execute(
                text(
                    "SELECT user_id FROM team_memberships"
                    " WHERE team_id = :team AND owner = 'manual'"
                ),
                {"team": manual_team},
            ).all()
        }
        assert manual <= kept


def _assert_matches_complete_state(engine: Engine, tenant: str, step: Step) -> None:
    """After a complete snapshot, what graph links is what the state has."""
    staged = _first_by_external_id(step.users)
    with engine.connect() as conn:
        links = dict(
            conn.execute(
                text("SELECT external_id, enabled FROM user_sources WHERE tenant_id = :t"),
                {"t": tenant},
            ).all()
        )
        group_tags = dict(
            conn.execute(
                text(
                    "SELECT g.external_id, t.name FROM groups g LEFT JOIN tags t ON t.id = g.tag_id"
                    " WHERE g.tenant_id = :t"
                ),
                {"t": tenant},
            ).all()
        )
    assert set(links) <= set(staged)
    for external_id, enabled in links.items():
        # Disabled in the source is disabled here, whatever else is wrong with
        # the record (an unusable record is not re-enabled, so no converse).
        if not staged[external_id].enabled:
            assert not enabled
    staged_groups = {g.external_id: g for g in reversed(step.groups)}
    assert set(group_tags) == set(staged_groups)
    for external_id, tag in group_tags.items():
        expected = tag_name_for_group(staged_groups[external_id].display_name)
        assert (tag is None) == (expected is None)
        if tag is not None and expected is not None:
            assert tag.lower() == expected.lower()


def _first_by_external_id(users: list[SourceUser]) -> dict[str, SourceUser]:
    first: dict[str, SourceUser] = {}
    for user in users:
        first.setdefault(user.external_id, user)
    return first


def _entra_team_id(engine: Engine, tenant: str) -> int | None:
    with engine.connect() as conn:
        team_id = conn.execute(
            text("SELECT id FROM teams WHERE tenant_id = :t AND system_key = 'entra'"),
            {"t": tenant},
        ).scalar()
    return None if team_id is None else int(team_id)


def _user_ids(engine: Engine, tenant: str) -> list[int]:
    with engine.connect() as conn:
        return [
            int(r[0])
            for r in conn.execute(
                text("SELECT id FROM users WHERE tenant_id = :t ORDER BY id"), {"t": tenant}
            ).all()
        ]


@PROPERTY_SETTINGS
@given(
    steps=steps_strategy,
    dry_step=st.builds(
        Step,
        users=st.lists(users_strategy, max_size=6),
        groups=st.lists(groups_strategy, max_size=3),
        complete=st.booleans(),
    ),
)
def test_dry_run_predicts_exactly_what_the_real_run_does(
    store: Engine, steps: list[Step], dry_step: Step
) -> None:
    tenant = new_tenant(store)
    for step in steps:
        _apply(store, tenant, step)
    args = (dry_step.users, dry_step.groups)
    preview = snapshot(
        store, tenant, *args, complete=dry_step.complete, dry_run=True, confirm_deactivations=True
    )
    real = snapshot(
        store,
        tenant,
        *args,
        complete=dry_step.complete,
        collect_changes=True,
        confirm_deactivations=True,
    )

    assert preview.counts == real.counts
    assert [(c.action, c.subject_type, c.before, c.after) for c in preview.changes] == [
        (c.action, c.subject_type, c.before, c.after) for c in real.changes
    ]


@PROPERTY_SETTINGS
@given(
    step=st.builds(
        Step,
        users=st.lists(users_strategy, max_size=6),
        groups=st.lists(groups_strategy, max_size=3),
        complete=st.just(True),
    )
)
def test_graph_and_scim_never_remove_each_others_memberships(store: Engine, step: Step) -> None:
    tenant = new_tenant(store)
    snapshot(store, tenant, step.users, step.groups, source=Source.SCIM)
    with store.connect() as conn:
        scim_rows = conn.execute(
            text(
                "SELECT team_id, user_id FROM team_memberships"
                " WHERE tenant_id = :t AND owner = 'scim'"
            ),
            {"t": tenant},
        ).all()

    snapshot(store, tenant, step.users, step.groups, source=Source.GRAPH)
    snapshot(store, tenant, [], [], source=Source.GRAPH, confirm_deactivations=True)

    with store.connect() as conn:
        after = conn.execute(
            text(
                "SELECT team_id, user_id FROM team_memberships"
                " WHERE tenant_id = :t AND owner = 'scim'"
            ),
            {"t": tenant},
        ).all()
    assert sorted(after) == sorted(scim_rows)


@PROPERTY_SETTINGS
@given(steps=steps_strategy)
def test_disable_then_enable_restores_the_same_mappings(store: Engine, steps: list[Step]) -> None:
    tenant = new_tenant(store)
    seed.integration(store, seed.secret_box(), tenant)
    site = create_site(store, tenant, "Frankfurt", actor="admin").id
    save_preferences(store, tenant, Preferences(True, (), (SiteGrantSpec(site, True),)), actor="a")
    for step in steps:
        _apply(store, tenant, step)
    user_ids = _user_ids(store, tenant)
    before = _access(store, tenant, user_ids)

    set_enabled(store, tenant, False, actor="admin")
    suspended = _access(store, tenant, user_ids)
    set_enabled(store, tenant, True, actor="admin")

    # Disabling keeps users and team memberships, and suspends tags and sites.
    assert {uid: a.teams for uid, a in suspended.items()} == {
        uid: a.teams for uid, a in before.items()
    }
    assert all(a.tags == () and a.sites == () for a in suspended.values())
    assert _access(store, tenant, user_ids) == before


def _access(engine: Engine, tenant: str, user_ids: list[int]) -> dict[int, UserAccess]:
    with read_transaction(engine) as conn:
        return effective_access(conn, tenant, user_ids)
