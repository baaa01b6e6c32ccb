"""Large, deterministic tenants for the sync benchmark, and a ~1% change to apply to them.

:func:`build_tenant` makes (by default) 100,000 users and 500 security groups in a
few seconds: nested groups a few levels deep with one cycle, about 200,000
memberships whose transitive closure covers more than 90% of the users, guests,
users without mail, users whose UPN differs from their mail, group names longer
than 29 characters and duplicate group names, plus a few devices and service
principals as members. :func:`mutate` then changes about ``share`` of the users and
memberships through the logged mutations, so delta queries see exactly that.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.entra.state import App, EntraState, ObjectType, Tenant

FIRST = [
    "ada",
    "alan",
    "grace",
    "linus",
    "margaret",
    "dennis",
    "barbara",
    "ken",
    "frances",
    "john",
    "radia",
    "tim",
    "edsger",
    "donald",
    "leslie",
    "hedy",
    "katherine",
    "claude",
    "niklaus",
    "bjarne",
    "guido",
    "james",
    "anita",
    "jean",
]
LAST = [
    "lovelace",
    "turing",
    "hopper",
    "torvalds",
    "hamilton",
    "ritchie",
    "liskov",
    "thompson",
    "allen",
    "backus",
    "perlman",
    "lee",
    "dijkstra",
    "knuth",
    "lamport",
    "lamarr",
    "johnson",
    "shannon",
    "wirth",
    "stroustrup",
    "rossum",
    "gosling",
    "borg",
    "sammet",
]
WORDS = [
    "sales",
    "finance",
    "legal",
    "support",
    "research",
    "design",
    "marketing",
    "operations",
    "security",
    "platform",
    "data",
    "mobile",
    "web",
    "cloud",
    "field",
    "partner",
    "training",
    "quality",
    "logistics",
    "audit",
]


@dataclass
class GeneratedTenant:
    """What :func:`build_tenant` made, for assertions and for choosing what to sync."""

    tenant: Tenant
    app: App
    group_ids: list[str]
    memberships: int
    long_names: list[str]
    duplicate_names: list[str]
    guests: int
    without_mail: int
    upn_differs: int


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _user(rng: random.Random, index: int, domain: str, created: str) -> dict[str, Any]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    nick = f"{first}.{last}{index}"
    upn = f"{nick}@{domain}"
    roll = rng.random()
    user_type = "Member"
    mail: str | None = upn
    if roll < 0.02:
        user_type = "Guest"
        mail = f"{first}.{last}{index}@partner{index % 50}.example"
        upn = f"{first}.{last}{index}_partner{index % 50}.example#EXT#@{domain}"
    elif roll < 0.03:
        mail = None
    elif roll < 0.06:
        mail = f"{first}.{last}{index}@contoso.example"
    return {
        "id": _guid(rng),
        "displayName": f"{first.title()} {last.title()} {index}",
        "userPrincipalName": upn,
        "mail": mail,
        "givenName": first.title(),
        "surname": last.title(),
        "accountEnabled": rng.random() >= 0.01,
        "userType": user_type,
        "jobTitle": None,
        "businessPhones": [],
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": None,
        "mailNickname": nick,
        "createdDateTime": created,
    }


def _group(rng: random.Random, name: str, created: str) -> dict[str, Any]:
    return {
        "id": _guid(rng),
        "displayName": name,
        "description": None,
        "securityEnabled": True,
        "mailEnabled": False,
        "mailNickname": "".join(c for c in name.lower() if c.isalnum())[:40],
        "mail": None,
        "groupTypes": [],
        "createdDateTime": created,
        "visibility": None,
        "isAssignableToRole": None,
        "membershipRule": None,
        "proxyAddresses": [],
    }


def _group_names(rng: random.Random, count: int) -> tuple[list[str], list[str], list[str]]:
    names = [f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} {i:03d}" for i in range(count)]
    long_names: list[str] = []
    for i in range(0, count, max(1, count // 10))[:10]:
        names[i] = f"Department of {WORDS[i % len(WORDS)].title()} and Long Names {i:03d}"
        long_names.append(names[i])
    duplicates: list[str] = []
    for i in range(1, min(count // 2, 6)):
        names[count - i] = names[i + 1]
        duplicates.append(names[i + 1])
    return names, long_names, duplicates


def build_tenant(
    state: EntraState,
    users: int = 100_000,
    groups: int = 500,
    seed: int = 0,
    roles: tuple[str, ...] = ("User.Read.All", "Group.Read.All", "GroupMember.Read.All"),
) -> GeneratedTenant:
    """A tenant of ``users`` users and ``groups`` security groups, loaded into ``state``."""
    rng = random.Random(seed)
    tenant = state.add_tenant(f"Bench {seed}", tenant_id=_guid(rng))
    app = tenant.add_app(roles=roles)
    created = "2024-01-01T00:00:00Z"
    domain = tenant.default_domain
    user_rows = [_user(rng, i, domain, created) for i in range(users)]
    names, long_names, duplicates = _group_names(rng, groups)
    group_rows = [_group(rng, name, created) for name in names]
    group_ids = [g["id"] for g in group_rows]
    others: list[tuple[ObjectType, dict[str, Any]]] = []
    for i in range(20):
        others.append(
            (
                "device",
                {
                    "id": _guid(rng),
                    "displayName": f"Kiosk {i}",
                    "deviceId": _guid(rng),
                    "accountEnabled": True,
                    "operatingSystem": "Windows",
                },
            )
        )
    for i in range(10):
        others.append(
            (
                "servicePrincipal",
                {
                    "id": _guid(rng),
                    "appId": _guid(rng),
                    "displayName": f"Robot {i}",
                    "servicePrincipalType": "Application",
                    "accountEnabled": True,
                },
            )
        )

    edges: set[tuple[str, str]] = set()
    # Nesting, a few levels (for 500 groups: 10 top groups hold 2-3 of the next 50, which
    # hold 1-2 of the next 100); one pair points at each other (a cycle).
    n_top, n_middle, n_lower = max(1, groups // 50), max(3, groups // 10), max(2, groups // 5)
    top = group_ids[:n_top]
    middle = group_ids[n_top : n_top + n_middle]
    lower = group_ids[n_top + n_middle : n_top + n_middle + n_lower]
    for parent in top:
        for child in rng.sample(middle, rng.randint(2, 3)):
            edges.add((parent, child))
    for parent in middle:
        for child in rng.sample(lower, rng.randint(1, 2)):
            edges.add((parent, child))
    edges.add((lower[0], middle[0]))
    edges.add((middle[0], lower[0]))
    # Users: 93% are in 1-3 groups (about 2.1 on average), the rest in none.
    for row in user_rows:
        roll = rng.random()
        if roll >= 0.93:
            continue
        count = 1 if roll < 0.093 else 3 if roll < 0.279 else 2
        for gid in rng.sample(group_ids, count):
            edges.add((gid, row["id"]))
    for _kind, row in others:
        edges.add((rng.choice(group_ids), row["id"]))
    tenant.load(users=user_rows, groups=group_rows, others=others, edges=sorted(edges))
    return GeneratedTenant(
        tenant=tenant,
        app=app,
        group_ids=group_ids,
        memberships=len(edges),
        long_names=long_names,
        duplicate_names=duplicates,
        guests=sum(1 for u in user_rows if u["userType"] == "Guest"),
        without_mail=sum(1 for u in user_rows if u["mail"] is None),
        upn_differs=sum(1 for u in user_rows if u["mail"] and u["mail"] != u["userPrincipalName"]),
    )


@dataclass
class Mutation:
    """The ids :func:`mutate` touched, by kind of change."""

    renamed: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    moved: list[tuple[str, str, str]] = field(default_factory=list)  # user, from, to
    renamed_groups: list[str] = field(default_factory=list)

    @property
    def users_changed(self) -> int:
        return len(self.renamed) + len(self.disabled) + len(self.deleted) + len(self.added)


def mutate(tenant: Tenant, share: float = 0.01, seed: int = 1) -> Mutation:
    """Change about ``share`` of the users and of the memberships, as Entra admins would.

    Of the chosen users a quarter are renamed, a fifth disabled, a tenth deleted (soft),
    and the rest move from one group to another; as many new users as were deleted
    join two groups each; one group in a hundred is renamed.
    """
    rng = random.Random(seed)
    result = Mutation()
    with tenant.state.lock:
        user_ids = tenant.sorted_ids("user")
        group_ids = tenant.sorted_ids("group")
        chosen = rng.sample(user_ids, max(1, round(share * len(user_ids))))
        count = len(chosen)
        renames = chosen[: count // 4]
        disables = chosen[count // 4 : count // 4 + count // 5]
        deletes = chosen[count // 4 + count // 5 : count // 4 + count // 5 + count // 10]
        moves = chosen[count // 4 + count // 5 + count // 10 :]
        for uid in renames:
            tenant.update_user(uid, displayName=tenant.users[uid]["displayName"] + " (renamed)")
            result.renamed.append(uid)
        for uid in disables:
            tenant.update_user(uid, accountEnabled=False)
            result.disabled.append(uid)
        for uid in deletes:
            tenant.delete_user(uid)
            result.deleted.append(uid)
        member_of: dict[str, list[str]] = {}
        moving = set(moves)
        for gid in group_ids:
            for member_id in tenant.members[gid]:
                if member_id in moving:
                    member_of.setdefault(member_id, []).append(gid)
        for uid in moves:
            target = rng.choice(group_ids)
            source = rng.choice(member_of[uid]) if uid in member_of else None
            if source is not None and source != target:
                tenant.remove_member(source, uid)
            tenant.add_member(target, uid)
            result.moved.append((uid, source or "", target))
        for i in range(len(deletes)):
            user = tenant.create_user(f"New Hire {seed}-{i}")
            for gid in rng.sample(group_ids, 2):
                tenant.add_member(gid, user["id"])
            result.added.append(user["id"])
        for gid in rng.sample(group_ids, max(1, len(group_ids) // 100)):
            tenant.rename_group(gid, tenant.groups[gid]["displayName"] + " v2")
            result.renamed_groups.append(gid)
    return result
