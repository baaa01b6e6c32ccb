"""Benchmark: CPU cost of the SCIM protocol core per request, without HTTP or SQL.

Usage: python -m bench.scim_core [--rounds N] [--json]

Times what the server does in Python for each of Entra's requests: the
``userName`` lookup filter, a create body, a user PATCH, removing one member,
adding 1,000 members in one PATCH. Each case runs ``--rounds`` times on fresh
text (so the parse cache does not hide the parser) and reports the median CPU
time (``time.process_time``) per call in microseconds, as a table or as JSON.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from scim.attributes import ENTERPRISE_USER_SCHEMA, GROUP, GROUP_SCHEMA, USER, USER_SCHEMA
from scim.filter import parse_filter
from scim.patch import apply_patch, normalise_resource

_SEQUENCE = itertools.count()


def _entra_user(n: int) -> dict[str, Any]:
    """A create body as Microsoft's "Develop a SCIM endpoint" shows it."""
    return {
        "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
        "externalId": f"{n:08d}-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": f"user{n}@contoso.example",
        "active": "True",
        "displayName": f"User {n}",
        "emails": [{"primary": "True", "type": "work", "value": f"user{n}@contoso.example"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": f"Given{n} Family", "familyName": "Family", "givenName": f"Given{n}"},
        "roles": [],
        ENTERPRISE_USER_SCHEMA: {"employeeNumber": str(n), "department": "Sales", "manager": "m1"},
    }


def _cases() -> dict[str, Callable[[], object]]:
    user = normalise_resource(_entra_user(0), USER)
    group = {"schemas": [GROUP_SCHEMA], "displayName": "All users"}
    thousand = [
        {"op": "Add", "path": "members", "value": [{"value": f"id-{i}", "$ref": None}]}
        for i in range(1000)
    ]
    one_add = [
        {
            "op": "Add",
            "path": "members",
            "value": [{"value": f"id-{i}", "$ref": None} for i in range(1000)],
        }
    ]

    def lookup() -> object:
        n = next(_SEQUENCE)
        return parse_filter(f'userName eq "user{n}@contoso.example"', resource_type=USER)

    def create() -> object:
        return normalise_resource(_entra_user(next(_SEQUENCE)), USER)

    def patch_user() -> object:
        n = next(_SEQUENCE)
        operations = [
            {
                "op": "Replace",
                "path": 'emails[type eq "work"].value',
                "value": f"u{n}@contoso.example",
            },
            {"op": "Replace", "path": "name.familyName", "value": f"Family{n}"},
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Add", "path": f"{ENTERPRISE_USER_SCHEMA}:manager", "value": f"m{n}"},
        ]
        return apply_patch(user, operations, resource_type=USER)

    def remove_member() -> object:
        n = next(_SEQUENCE)
        operations = [{"op": "Remove", "path": f'members[value eq "id-{n}"]'}]
        return apply_patch(group, operations, resource_type=GROUP)

    def add_1000_members() -> object:
        return apply_patch(group, one_add, resource_type=GROUP)

    def add_1000_members_one_per_operation() -> object:
        return apply_patch(group, thousand, resource_type=GROUP)

    return {
        "lookup filter (userName eq)": lookup,
        "create user body": create,
        "user PATCH (4 operations)": patch_user,
        "remove one member": remove_member,
        "add 1,000 members (one operation)": add_1000_members,
        "add 1,000 members (1,000 operations)": add_1000_members_one_per_operation,
    }


def _median_cpu_us(case: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.process_time_ns()
        case()
        samples.append(time.process_time_ns() - start)
    return statistics.median(samples) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    results = {name: round(_median_cpu_us(case, args.rounds), 1) for name, case in _cases().items()}
    if args.json:
        print(json.dumps({"median_cpu_us": results, "rounds": args.rounds}))
        return
    width = max(len(name) for name in results)
    print(f"{'case':<{width}}  median CPU µs")
    for name, micros in results.items():
        print(f"{name:<{width}}  {micros:>13.1f}")


if __name__ == "__main__":
    main()
