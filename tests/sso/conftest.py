"""The SSO end-to-end stack: the gateway under uvicorn and a real OpenID Provider, on loopback.

One stack per module and backend (SQLite, PostgreSQL): Timus tenants seeded
through the apply engine, each with an Entra integration whose custom cloud
points at the provider, and the provider's accounts set up like the issue
asks (username equal to, different from, or only differently cased than the
Primary Email; no mail; another tenant; an ``email`` claim naming someone else).
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine, text, update
from sqlalchemy.engine import make_url

from gateway.app import create_app
from gateway.clouds import CloudEndpoints
from gateway.crypto import Secret, SecretBox, generate_key
from gateway.identity.model import SourceUser
from gateway.settings import Settings
from gateway.store.engine import make_engine
from gateway.store.integrations import (
    EntraCredentials,
    Preferences,
    SiteGrantSpec,
    save_integration,
    save_preferences,
    set_enabled,
)
from gateway.store.migrate import upgrade_schema
from gateway.store.queries import table
from gateway.store.sites import create_site
from gateway.store.tenants import create_tenant
from gateway.store.tokens import create_token
from tests.sso.browser import Browser, forms_of
from tests.sso.op import Account, Provider, install_provider, run_provider
from tests.store.apply_helpers import group, person, snapshot

ENTRA_TENANT = "5b1d7a3e-7c1f-4e8a-9d2b-3f6a1c0e9d41"
OTHER_TENANT = "9e0c4b7a-2d5f-4a1b-8c3e-6f7d8a9b0c12"
CLIENT_ID = "3f2a1b4c-5d6e-4f70-8192-a3b4c5d6e7f8"
CLIENT_SECRET = "op-client-secret~for.tests"
DOMAIN = "contoso.onmicrosoft.com"
RETURN_PREFIX_PATH = "/app/"


def mark_validated(engine: Engine, tenant_id: str) -> None:
    """What a successful credentials check leaves behind (that check is another issue's)."""
    with engine.begin() as conn:
        conn.execute(
            update(table("integrations"))
            .where(table("integrations").c.tenant_id == tenant_id)
            .values(status="validated")
        )


ACCOUNTS = [
    # Username equals the Primary Email.
    Account(
        "ann",
        ENTRA_TENANT,
        {"preferred_username": "ann@contoso.com", "oid": "oid-ann", "email": "ann@contoso.com"},
    ),
    # Username differs from the Primary Email (bob.smith@contoso.com).
    Account(
        "bob",
        ENTRA_TENANT,
        {"preferred_username": "bob@contoso.com", "oid": "oid-bob", "email": "bob@contoso.com"},
    ),
    # Differs only in letter case.
    Account(
        "carol",
        ENTRA_TENANT,
        {"preferred_username": "Carol.Jones@Contoso.com", "oid": "oid-carol"},
    ),
    # No mail in Entra, so sync never took the user in.
    Account("nomail", ENTRA_TENANT, {"preferred_username": "nomail@contoso.com", "oid": "oid-nm"}),
    # A token saying it is from another Entra tenant.
    Account(
        "eve",
        ENTRA_TENANT,
        {"preferred_username": "ann@contoso.com", "oid": "oid-ann", "tid": OTHER_TENANT},
    ),
    # Sets `email` to someone else's address (nOAuth).
    Account(
        "mallory",
        ENTRA_TENANT,
        {
            "preferred_username": "mallory@fabrikam.example",
            "oid": "oid-mallory",
            "email": "ann@contoso.com",
        },
    ),
    # Disabled in Entra after the first sync.
    Account("dave", ENTRA_TENANT, {"preferred_username": "dave@contoso.com", "oid": "oid-dave"}),
    # A new account that got a former employee's username.
    Account(
        "frank",
        ENTRA_TENANT,
        {"preferred_username": "frank@contoso.com", "oid": "oid-frank-new"},
    ),
    Account(
        "olga",
        OTHER_TENANT,
        {"preferred_username": "olga@fabrikam.example", "oid": "oid-olga"},
    ),
]


@dataclass(frozen=True)
class Stack:
    gateway: str
    provider: Provider
    engine: Engine
    contoso: str
    disabled: str
    unvalidated: str
    bad_secret: str
    by_domain: str
    site_id: int
    operator_token: str

    @property
    def callback(self) -> str:
        return f"{self.gateway}/user/external"

    def login_url(self, tenant: str | None = None, **params: str) -> str:
        query = urlencode({"tenant": tenant or self.contoso, **params})
        return f"{self.gateway}/user/external/login?{query}"

    def sign_in(
        self, browser: Browser, login: str, *, tenant: str | None = None, **params: str
    ) -> httpx.Response:
        """Start at the gateway, sign in and consent at the provider, land where it ends."""
        page = browser.get(self.login_url(tenant, **params))
        return self.at_provider(browser, page, login)

    def at_provider(self, browser: Browser, page: httpx.Response, login: str) -> httpx.Response:
        for _ in range(5):
            forms = forms_of(page)
            if not forms or str(page.url).startswith(self.gateway):
                return page
            if "login" in forms[0].fields:
                page = browser.submit(page, {"login": login, "password": "correct horse"})
            elif forms[0].fields.get("prompt") == "consent" or "forms[0].submit()" in page.text:
                # Consent, or a page a browser's script submits (signing the
                # previous account out at the provider).
                page = browser.submit(page)
            else:
                return page
        raise AssertionError("the provider kept asking")

    def admin(self) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.gateway}/api/v1",
            headers={"Authorization": f"Bearer {self.operator_token}"},
            trust_env=False,
        )


@pytest.fixture(scope="session")
def provider_dir() -> Path:
    return install_provider()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def stack(
    request: pytest.FixtureRequest,
    provider_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sso') / 'gateway.db'}"
        yield from _stack(url, provider_dir, tmp_path_factory)
        return
    # A schema of its own in the session's database: dropping a whole database
    # waits for a checkpoint, which takes long on a busy server.
    session_url: str = request.getfixturevalue("postgres_url")
    admin = make_engine(session_url, isolation_level="AUTOCOMMIT", pool_size=1)
    schema = f"gw_sso_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(session_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield from _stack(url.render_as_string(hide_password=False), provider_dir, tmp_path_factory)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _stack(
    database_url: str, provider_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    gateway = f"http://127.0.0.1:{listener.getsockname()[1]}"
    key = generate_key()
    settings = Settings(
        database_url=database_url,
        secret_keys=key,
        var_dir=tmp_path_factory.mktemp("var"),
        public_url=gateway,
        sso_return_to_allowed=f"{gateway}{RETURN_PREFIX_PATH}",
    )
    engine = make_engine(database_url)
    upgrade_schema(engine)
    box = SecretBox.from_keys([key])
    try:
        with run_provider(
            provider_dir,
            tenants=[ENTRA_TENANT, OTHER_TENANT],
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            redirect_uris=[f"{gateway}/user/external"],
            accounts=ACCOUNTS,
            aliases={DOMAIN: ENTRA_TENANT},
        ) as provider:
            seeded = _seed(engine, box, provider)
            _, operator_token = create_token(engine, tenant_id=None, kind="admin", actor="test")
            with _serve(create_app(settings), listener):
                yield Stack(
                    gateway=gateway,
                    provider=provider,
                    engine=engine,
                    operator_token=operator_token,
                    **seeded,
                )
    finally:
        engine.dispose()


def _integration(
    engine: Engine,
    box: SecretBox,
    provider: Provider,
    name: str,
    secret: str = CLIENT_SECRET,
    entra_tenant: str = ENTRA_TENANT,
) -> str:
    tenant = create_tenant(engine, name, actor="test").id
    credentials = EntraCredentials(
        entra_tenant_id=entra_tenant,
        client_id=CLIENT_ID,
        client_secret=Secret(secret),
        # The provider stands in for Entra; Graph is not used by sign-in.
        cloud=CloudEndpoints(login_url=provider.login_url, graph_url="http://127.0.0.1:9"),
    )
    save_integration(engine, box, tenant, credentials, actor="test")
    return tenant


def _seed(engine: Engine, box: SecretBox, provider: Provider) -> dict[str, object]:
    contoso = _integration(engine, box, provider, "Contoso")
    mark_validated(engine, contoso)
    site = create_site(engine, contoso, "Berlin", actor="test").id
    save_preferences(
        engine, contoso, Preferences(True, ("g-sales",), (SiteGrantSpec(site, True),)), actor="t"
    )
    users = [
        person("ann", email="ann@contoso.com"),
        person("bob", email="bob.smith@contoso.com", user_name="bob@contoso.com"),
        person("carol", email="carol.jones@contoso.com", user_name="Carol.Jones@Contoso.com"),
        # No mail in Entra: the sync reports the user and does not take it in (rule 2).
        SourceUser("oid-nm", None, "nomail@contoso.com", entra_object_id="oid-nm"),
        person("dave", email="dave@contoso.com"),
        person("frank-old", email="frank@contoso.com"),
    ]
    snapshot(engine, contoso, users, [group("g-sales", "Sales", ["ann", "carol"])])
    disabled_dave = [
        u
        if u.external_id != "oid-dave"
        else person("dave", email="dave@contoso.com", enabled=False)
        for u in users
    ]
    snapshot(engine, contoso, disabled_dave, [group("g-sales", "Sales", ["ann", "carol"])])

    disabled = _integration(engine, box, provider, "Initech")
    mark_validated(engine, disabled)
    set_enabled(engine, disabled, False, actor="test")
    snapshot(engine, disabled, [person("ann", email="ann@contoso.com")])

    unvalidated = _integration(engine, box, provider, "Globex")
    snapshot(engine, unvalidated, [person("ann", email="ann@contoso.com")])

    bad_secret = _integration(engine, box, provider, "Umbrella", secret="not-the-secret")
    mark_validated(engine, bad_secret)
    snapshot(engine, bad_secret, [person("ann", email="ann@contoso.com")])
    # Configured by domain name: the tenant's GUID comes from its issuer.
    by_domain = _integration(engine, box, provider, "Contoso Domain", entra_tenant=DOMAIN)
    mark_validated(engine, by_domain)
    snapshot(engine, by_domain, [person("ann", email="ann@contoso.com")])
    return {
        "by_domain": by_domain,
        "contoso": contoso,
        "disabled": disabled,
        "unvalidated": unvalidated,
        "bad_secret": bad_secret,
        "site_id": site,
    }


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:
        # Runs in a thread: the test process keeps its own signal handling.
        pass


class _serve:  # noqa: N801 - used like a function in a with statement
    """uvicorn on an already bound socket, in a thread, for the duration of a ``with``."""

    def __init__(self, app: object, listener: socket.socket) -> None:
        config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False)  # type: ignore[arg-type]
        self.server = _Server(config)
        self.listener = listener
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [listener]}, daemon=True
        )

    def __enter__(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive(), "the gateway did not start"
            assert time.monotonic() < deadline, "the gateway did not start in time"
            time.sleep(0.02)

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.listener.close()


@pytest.fixture
def browser() -> Iterator[Browser]:
    instance = Browser()
    yield instance
    instance.close()
