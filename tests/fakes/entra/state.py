"""The fake's state: Entra tenants, their app registrations and directory objects.

A plain object that tests mutate directly. Every mutation of a user, a group or a
membership is appended to the tenant's change log, which is what delta queries
read; app and secret changes go to an audit list. Objects are kept as plain dicts
of Graph property names so a page serialises without conversion.
"""

from __future__ import annotations

import bisect
import random
import secrets as _secrets
import string
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from tests.fakes.entra.faults import Faults, RequestLog

# Application permissions of Microsoft Graph that the sync can be granted.
GRAPH_ROLES = (
    "User.Read.All",
    "Group.Read.All",
    "GroupMember.Read.All",
    "Directory.Read.All",
)

ObjectType = Literal["user", "group", "device", "servicePrincipal"]
Collection = Literal["users", "groups"]
RemovedReason = Literal["changed", "deleted"]

# Properties of microsoft.graph.user the fake knows; a $select of anything else is a 400.
USER_PROPERTIES = frozenset(
    {
        "id",
        "userPrincipalName",
        "mail",
        "displayName",
        "givenName",
        "surname",
        "accountEnabled",
        "userType",
        "jobTitle",
        "department",
        "businessPhones",
        "mobilePhone",
        "officeLocation",
        "preferredLanguage",
        "mailNickname",
        "createdDateTime",
        "otherMails",
        "proxyAddresses",
    }
)
# What GET /users returns without $select (Graph v1.0 default set): no accountEnabled, no userType.
USER_DEFAULT_SELECT = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)
GROUP_PROPERTIES = frozenset(
    {
        "id",
        "displayName",
        "description",
        "securityEnabled",
        "mailEnabled",
        "mailNickname",
        "mail",
        "groupTypes",
        "createdDateTime",
        "visibility",
        "isAssignableToRole",
        "membershipRule",
        "proxyAddresses",
    }
)
GROUP_DEFAULT_SELECT = tuple(sorted(GROUP_PROPERTIES))
DEVICE_PROPERTIES = frozenset(
    {"id", "displayName", "deviceId", "accountEnabled", "operatingSystem"}
)
SERVICE_PRINCIPAL_PROPERTIES = frozenset(
    {"id", "appId", "displayName", "servicePrincipalType", "accountEnabled"}
)
PROPERTIES: Mapping[ObjectType, frozenset[str]] = {
    "user": USER_PROPERTIES,
    "group": GROUP_PROPERTIES,
    "device": DEVICE_PROPERTIES,
    "servicePrincipal": SERVICE_PRINCIPAL_PROPERTIES,
}
DEFAULT_SELECT: Mapping[ObjectType, tuple[str, ...]] = {
    "user": USER_DEFAULT_SELECT,
    "group": GROUP_DEFAULT_SELECT,
    "device": tuple(sorted(DEVICE_PROPERTIES)),
    "servicePrincipal": tuple(sorted(SERVICE_PRINCIPAL_PROPERTIES)),
}


def new_guid(rng: random.Random | None = None) -> str:
    if rng is None:
        return str(uuid.uuid4())
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Clock:
    """The fake's notion of now: real UTC time, shifted by what a test advances."""

    def __init__(self) -> None:
        self._offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> None:
        self._offset += delta if delta is not None else timedelta(**kwargs)


@dataclass
class Secret:
    """A client secret of an app registration: the value is shown once in Entra, the id always."""

    id: str
    value: str
    expires_at: datetime

    @property
    def hint(self) -> str:
        return self.value[:3]


@dataclass
class App:
    """An app registration with its service principal in the tenant and its granted roles."""

    client_id: str
    display_name: str
    service_principal_id: str
    roles: set[str] = field(default_factory=set)
    secrets: list[Secret] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of a tenant's change log, read by delta queries."""

    seq: int
    object_id: str
    # Properties whose value changed ("*" for a created or restored object).
    props: frozenset[str] = frozenset()
    removed: RemovedReason | None = None
    member_id: str | None = None
    member_type: ObjectType | None = None
    member_added: bool = False


def _secret_value(rng: random.Random) -> str:
    # Shaped like Entra's generated secrets: 3 characters, a digit, "Q~", 34 more.
    alphabet = string.ascii_letters + string.digits + "_-.~"
    head = "".join(rng.choice(string.ascii_letters) for _ in range(3))
    tail = "".join(rng.choice(alphabet) for _ in range(34))
    return f"{head}{rng.randrange(10)}Q~{tail}"


class Tenant:
    """One Entra tenant: apps, users, groups, other directory objects and memberships."""

    def __init__(self, state: EntraState, tenant_id: str, display_name: str, domain: str) -> None:
        self.state = state
        self.id = tenant_id
        self.display_name = display_name
        self.domains = [domain]
        self.apps: dict[str, App] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.others: dict[str, dict[str, Any]] = {}
        self.types: dict[str, ObjectType] = {}
        # group id -> member id -> member type
        self.members: dict[str, dict[str, ObjectType]] = {}
        # soft-deleted users (restorable): id -> (properties, group ids they were in)
        self.deleted_users: dict[str, tuple[dict[str, Any], list[str]]] = {}
        self.changes: dict[Collection, list[Change]] = {"users": [], "groups": []}
        self.seq = 0
        self.audit: list[tuple[datetime, str, str]] = []
        self._sorted: dict[str, list[str]] = {}
        self._sorted_members: dict[str, list[str]] = {}
        self._transitive: dict[str, list[str]] = {}

    @property
    def default_domain(self) -> str:
        return self.domains[0]

    # -- apps, secrets and roles -------------------------------------------------

    def add_app(
        self,
        display_name: str = "Timus gateway",
        roles: Iterable[str] = ("User.Read.All", "Group.Read.All"),
        client_id: str | None = None,
        secret_days: float = 365,
    ) -> App:
        """Register an app with one secret valid for ``secret_days`` and the given roles granted."""
        with self.state.lock:
            app = App(
                client_id=client_id or new_guid(self.state.rng),
                display_name=display_name,
                service_principal_id=new_guid(self.state.rng),
                roles=set(roles),
            )
            self.apps[app.client_id] = app
            self.add_secret(app.client_id, days=secret_days)
            self._audit("add_app", app.client_id)
            return app

    def add_secret(self, client_id: str, days: float = 365) -> Secret:
        with self.state.lock:
            secret = Secret(
                id=new_guid(self.state.rng),
                value=_secret_value(self.state.rng),
                expires_at=self.state.clock.now() + timedelta(days=days),
            )
            self.apps[client_id].secrets.append(secret)
            self._audit("add_secret", f"{client_id} {secret.id}")
            return secret

    def rotate_secret(self, client_id: str, days: float = 365) -> Secret:
        """Replace every secret of the app by a new one."""
        with self.state.lock:
            self.apps[client_id].secrets.clear()
            return self.add_secret(client_id, days=days)

    def expire_secret(self, client_id: str, secret_id: str | None = None) -> None:
        """Make one secret (or all of them) of the app expire now."""
        with self.state.lock:
            past = self.state.clock.now() - timedelta(seconds=1)
            for secret in self.apps[client_id].secrets:
                if secret_id is None or secret.id == secret_id:
                    secret.expires_at = past
            self._audit("expire_secret", f"{client_id} {secret_id or '*'}")

    def grant(self, client_id: str, *roles: str) -> None:
        with self.state.lock:
            self.apps[client_id].roles.update(roles)
            self._audit("grant", f"{client_id} {' '.join(roles)}")

    def revoke(self, client_id: str, *roles: str) -> None:
        with self.state.lock:
            self.apps[client_id].roles.difference_update(roles)
            self._audit("revoke", f"{client_id} {' '.join(roles)}")

    # -- users ---------------------------------------------------------------------

    def create_user(
        self,
        display_name: str,
        *,
        mail: str | None = "",
        user_principal_name: str | None = None,
        account_enabled: bool = True,
        user_type: Literal["Member", "Guest"] = "Member",
        user_id: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Create a user; ``mail=""`` derives it from the UPN, ``mail=None`` leaves it null."""
        with self.state.lock:
            uid = user_id or new_guid(self.state.rng)
            nick = "".join(c for c in display_name.lower() if c.isalnum()) or "user"
            upn = user_principal_name or f"{nick}.{uid[:4]}@{self.default_domain}"
            props: dict[str, Any] = {
                "id": uid,
                "displayName": display_name,
                "userPrincipalName": upn,
                "mail": upn if mail == "" else mail,
                "givenName": None,
                "surname": None,
                "accountEnabled": account_enabled,
                "userType": user_type,
                "jobTitle": None,
                "businessPhones": [],
                "mobilePhone": None,
                "officeLocation": None,
                "preferredLanguage": None,
                "mailNickname": upn.split("@", 1)[0],
                "createdDateTime": _iso(self.state.clock.now()),
            }
            self._set_props("user", props, extra)
            self._insert("user", props)
            self._log("users", Change(self._next_seq(), uid, frozenset({"*"})))
            return props

    def update_user(self, user_id: str, **props: Any) -> None:
        """Change user properties by Graph name (``displayName=...``, ``accountEnabled=...``)."""
        with self.state.lock:
            changed = self._update(self.users[user_id], "user", props)
            if changed:
                self._log("users", Change(self._next_seq(), user_id, changed))

    def delete_user(self, user_id: str, *, permanent: bool = False) -> None:
        """Delete a user: soft (restorable, ``@removed`` reason ``changed``) or permanent."""
        with self.state.lock:
            props = self.users.pop(user_id)
            del self.types[user_id]
            self._sorted.pop("user", None)
            groups = [gid for gid, members in self.members.items() if user_id in members]
            for gid in groups:
                self._unlink(gid, user_id)
            if not permanent:
                self.deleted_users[user_id] = (props, groups)
            reason: RemovedReason = "deleted" if permanent else "changed"
            self._log("users", Change(self._next_seq(), user_id, removed=reason))

    def restore_user(self, user_id: str) -> None:
        """Restore a soft-deleted user with the group memberships it had."""
        with self.state.lock:
            props, groups = self.deleted_users.pop(user_id)
            self._insert("user", props)
            self._log("users", Change(self._next_seq(), user_id, frozenset({"*"})))
            for gid in groups:
                if gid in self.groups:
                    self.add_member(gid, user_id)

    def purge_user(self, user_id: str) -> None:
        """Permanently delete a soft-deleted user."""
        with self.state.lock:
            del self.deleted_users[user_id]
            self._log("users", Change(self._next_seq(), user_id, removed="deleted"))

    # -- groups --------------------------------------------------------------------

    def create_group(
        self,
        display_name: str,
        *,
        security_enabled: bool = True,
        mail_enabled: bool = False,
        group_types: Iterable[str] = (),
        group_id: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        with self.state.lock:
            gid = group_id or new_guid(self.state.rng)
            nick = "".join(c for c in display_name.lower() if c.isalnum())[:40] or "group"
            props: dict[str, Any] = {
                "id": gid,
                "displayName": display_name,
                "description": None,
                "securityEnabled": security_enabled,
                "mailEnabled": mail_enabled,
                "mailNickname": nick,
                "mail": f"{nick}@{self.default_domain}" if mail_enabled else None,
                "groupTypes": list(group_types),
                "createdDateTime": _iso(self.state.clock.now()),
                "visibility": None,
                "isAssignableToRole": None,
                "membershipRule": None,
                "proxyAddresses": [],
            }
            self._set_props("group", props, extra)
            self._insert("group", props)
            self.members[gid] = {}
            self._log("groups", Change(self._next_seq(), gid, frozenset({"*"})))
            return props

    def update_group(self, group_id: str, **props: Any) -> None:
        with self.state.lock:
            changed = self._update(self.groups[group_id], "group", props)
            if changed:
                self._log("groups", Change(self._next_seq(), group_id, changed))

    def rename_group(self, group_id: str, display_name: str) -> None:
        self.update_group(group_id, displayName=display_name)

    def delete_group(self, group_id: str) -> None:
        """Delete a security group (permanent: ``@removed`` reason ``deleted``)."""
        with self.state.lock:
            del self.groups[group_id]
            del self.types[group_id]
            self._sorted.pop("group", None)
            for gid, members in self.members.items():
                if group_id in members and gid != group_id:
                    self._unlink(gid, group_id)
            self.members.pop(group_id, None)
            self._sorted_members.pop(group_id, None)
            self._transitive.clear()
            self._log("groups", Change(self._next_seq(), group_id, removed="deleted"))

    def add_device(self, display_name: str, **extra: Any) -> dict[str, Any]:
        with self.state.lock:
            did = new_guid(self.state.rng)
            props = {
                "id": did,
                "displayName": display_name,
                "deviceId": new_guid(self.state.rng),
                "accountEnabled": True,
                "operatingSystem": "Windows",
            }
            props.update(extra)
            self._insert("device", props)
            return props

    def add_service_principal(self, display_name: str, **extra: Any) -> dict[str, Any]:
        with self.state.lock:
            sid = new_guid(self.state.rng)
            props = {
                "id": sid,
                "appId": new_guid(self.state.rng),
                "displayName": display_name,
                "servicePrincipalType": "Application",
                "accountEnabled": True,
            }
            props.update(extra)
            self._insert("servicePrincipal", props)
            return props

    # -- memberships -----------------------------------------------------------------

    def add_member(self, group_id: str, member_id: str) -> None:
        """Add a user, group, device or service principal to a group (cycles allowed)."""
        with self.state.lock:
            members = self.members[group_id]
            if member_id in members:
                return
            member_type = self.types[member_id]
            members[member_id] = member_type
            self._membership_changed(group_id)
            self._log(
                "groups",
                Change(
                    self._next_seq(),
                    group_id,
                    member_id=member_id,
                    member_type=member_type,
                    member_added=True,
                ),
            )

    def remove_member(self, group_id: str, member_id: str) -> None:
        with self.state.lock:
            if member_id in self.members[group_id]:
                self._unlink(group_id, member_id)

    def load(
        self,
        users: Iterable[dict[str, Any]] = (),
        groups: Iterable[dict[str, Any]] = (),
        others: Iterable[tuple[ObjectType, dict[str, Any]]] = (),
        edges: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Bulk-load objects as the tenant's existing state, without change-log entries.

        For generators: everything loaded here is what an initial delta round returns.
        Objects are complete property dicts (as :meth:`create_user` builds them).
        """
        with self.state.lock:
            for props in users:
                self.users[props["id"]] = props
                self.types[props["id"]] = "user"
            for props in groups:
                self.groups[props["id"]] = props
                self.types[props["id"]] = "group"
                self.members.setdefault(props["id"], {})
            for kind, props in others:
                self.others[props["id"]] = props
                self.types[props["id"]] = kind
            types = self.types
            members = self.members
            for group_id, member_id in edges:
                members[group_id][member_id] = types[member_id]
            self._sorted.clear()
            self._sorted_members.clear()
            self._transitive.clear()

    # -- reads used by the Graph routes -----------------------------------------------

    def get(self, object_id: str) -> dict[str, Any] | None:
        kind = self.types.get(object_id)
        if kind == "user":
            return self.users[object_id]
        if kind == "group":
            return self.groups[object_id]
        if kind is not None:
            return self.others[object_id]
        return None

    def sorted_ids(self, kind: Literal["user", "group"]) -> list[str]:
        """Object ids in a stable order, cached until an object of that kind is added or removed."""
        cached = self._sorted.get(kind)
        if cached is None:
            source = self.users if kind == "user" else self.groups
            cached = self._sorted[kind] = sorted(source)
        return cached

    def sorted_members(self, group_id: str) -> list[str]:
        cached = self._sorted_members.get(group_id)
        if cached is None:
            cached = self._sorted_members[group_id] = sorted(self.members[group_id])
        return cached

    def transitive_members(self, group_id: str) -> list[str]:
        """Every object reachable through nested groups (cycle-safe), without the group itself."""
        cached = self._transitive.get(group_id)
        if cached is None:
            seen: set[str] = set()
            stack = [group_id]
            while stack:
                for member_id, member_type in self.members.get(stack.pop(), {}).items():
                    if member_id in seen:
                        continue
                    seen.add(member_id)
                    if member_type == "group":
                        stack.append(member_id)
            seen.discard(group_id)
            cached = self._transitive[group_id] = sorted(seen)
        return cached

    def changes_between(self, collection: Collection, after: int, upto: int) -> Iterator[Change]:
        """Change-log entries with ``after < seq <= upto``."""
        log = self.changes[collection]
        start = bisect.bisect_right(log, after, key=lambda change: change.seq)
        for change in log[start:]:
            if change.seq > upto:
                break
            yield change

    # -- internals -------------------------------------------------------------------

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def _log(self, collection: Collection, change: Change) -> None:
        self.changes[collection].append(change)

    def _audit(self, action: str, detail: str) -> None:
        self.audit.append((self.state.clock.now(), action, detail))

    def _insert(self, kind: ObjectType, props: dict[str, Any]) -> None:
        oid = props["id"]
        if oid in self.types:
            raise ValueError(f"object {oid} exists")
        if kind == "user":
            self.users[oid] = props
        elif kind == "group":
            self.groups[oid] = props
        else:
            self.others[oid] = props
        self.types[oid] = kind
        self._sorted.pop(kind, None)

    def _set_props(self, kind: ObjectType, props: dict[str, Any], extra: Mapping[str, Any]) -> None:
        unknown = set(extra) - PROPERTIES[kind]
        if unknown:
            raise ValueError(f"unknown {kind} properties: {sorted(unknown)}")
        props.update(extra)

    def _update(
        self, props: dict[str, Any], kind: ObjectType, new: Mapping[str, Any]
    ) -> frozenset[str]:
        unknown = set(new) - PROPERTIES[kind] | ({"id"} & set(new))
        if unknown:
            raise ValueError(f"cannot set {kind} properties: {sorted(unknown)}")
        changed = frozenset(name for name, value in new.items() if props.get(name) != value)
        props.update(new)
        return changed

    def _membership_changed(self, group_id: str) -> None:
        self._sorted_members.pop(group_id, None)
        self._transitive.clear()

    def _unlink(self, group_id: str, member_id: str) -> None:
        member_type = self.members[group_id].pop(member_id)
        self._membership_changed(group_id)
        self._log(
            "groups",
            Change(self._next_seq(), group_id, member_id=member_id, member_type=member_type),
        )


@dataclass
class FakeConfig:
    """Knobs a test turns to exercise a client's edge cases."""

    # Objects per delta page, and members@delta entries per page (a larger group is split).
    delta_page_size: int = 200
    delta_members_per_page: int = 1000
    # Delta links older than this answer 400 syncStateNotFound (Graph: seven days).
    delta_token_max_age: timedelta = timedelta(days=7)
    # Lifetime of issued access tokens (Entra: 60-90 minutes).
    access_token_lifetime: timedelta = timedelta(minutes=60)
    # Graph answers batch items in any order; the fake shuffles them (seeded) to prove it.
    shuffle_batch_responses: bool = True


class EntraState:
    """Everything the fake knows: tenants, config, faults, a request counter and a clock."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.lock = threading.RLock()
        self.clock = Clock()
        self.config = FakeConfig()
        self.faults = Faults()
        self.requests = RequestLog()
        self.tenants: dict[str, Tenant] = {}
        # Key material for signing tokens and page tokens; made once per state.
        self.token_key_seed = _secrets.token_bytes(32)

    def add_tenant(
        self,
        display_name: str = "Contoso",
        domain: str | None = None,
        tenant_id: str | None = None,
    ) -> Tenant:
        with self.lock:
            tid = tenant_id or new_guid(self.rng)
            slug = "".join(c for c in display_name.lower() if c.isalnum()) or "tenant"
            tenant = Tenant(self, tid, display_name, domain or f"{slug}.onmicrosoft.com")
            self.tenants[tid] = tenant
            return tenant

    def find_tenant(self, name_or_id: str) -> Tenant | None:
        """A tenant by GUID or by one of its domain names, as the authority path allows."""
        tenant = self.tenants.get(name_or_id.lower())
        if tenant is not None:
            return tenant
        for candidate in self.tenants.values():
            if name_or_id.lower() in (d.lower() for d in candidate.domains):
                return candidate
        return None
