"""The route registry's entry: one admin operation, declared once.

Both the Starlette routes and the OpenAPI document are built from these
declarations, so they cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar

from pydantic import BaseModel
from sqlalchemy import Engine

from gateway.services import Services
from gateway.store.tokens import TokenRecord

Method = Literal["GET", "POST", "PUT", "DELETE"]
M = TypeVar("M", bound=BaseModel)

# Path parameters and how they are parsed; a value that does not parse is 404.
HEX_PARAMS = frozenset({"tenant_id", "token_id", "sign_in_test_id"})
INT_PARAMS = frozenset({"team_id", "user_id", "run_id", "tag_id"})


@dataclass(frozen=True, slots=True)
class Call:
    """Everything a handler gets: authenticated, parsed and validated."""

    services: Services
    token: TokenRecord
    path: Mapping[str, str | int]
    body: BaseModel | None
    query: BaseModel | None

    @property
    def engine(self) -> Engine:
        return self.services.engine

    @property
    def actor(self) -> str:
        """Who the audit log names for this call."""
        return f"token:{self.token.id}"

    @property
    def tenant_id(self) -> str:
        return self.str_param("tenant_id")

    def str_param(self, name: str) -> str:
        value = self.path[name]
        if not isinstance(value, str):
            raise TypeError(f"path parameter {name} is not a string")
        return value

    def int_param(self, name: str) -> int:
        value = self.path[name]
        if not isinstance(value, int):
            raise TypeError(f"path parameter {name} is not an integer")
        return value

    def body_as(self, model: type[M]) -> M:
        if not isinstance(self.body, model):
            raise TypeError(f"request body is not a {model.__name__}")
        return self.body

    def query_as(self, model: type[M]) -> M:
        if not isinstance(self.query, model):
            raise TypeError(f"query is not a {model.__name__}")
        return self.query


Handler = Callable[[Call], BaseModel | None]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One operation of the admin API.

    ``handler`` is synchronous and runs in the threadpool; it returns an
    instance of ``response`` (or ``None`` for 204).
    """

    method: Method
    path: str
    name: str
    summary: str
    handler: Handler
    response: type[BaseModel] | None
    status: int = 200
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    operator_only: bool = False

    def __post_init__(self) -> None:
        unknown = set(self.path_params) - HEX_PARAMS - INT_PARAMS
        if unknown:
            raise ValueError(f"{self.name}: no parser for path parameters {sorted(unknown)}")
        if (self.response is None) != (self.status == 204):
            raise ValueError(f"{self.name}: only 204 answers have no response model")

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(re.findall(r"{(\w+)}", self.path))

    @property
    def tenant_scoped(self) -> bool:
        return "tenant_id" in self.path_params

    @property
    def error_statuses(self) -> tuple[int, ...]:
        """Every 4xx this operation can answer, for the document."""
        statuses = {401, *self.errors}
        if self.operator_only:
            statuses.add(403)
        if self.path_params:
            statuses.add(404)
        if self.body is not None:
            statuses.update({400, 413, 415, 422})
        if self.query is not None:
            statuses.add(422)
        return tuple(sorted(statuses))
