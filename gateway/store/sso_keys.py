"""The gateway's own SSO keys, shared by every replica through the store.

``sig`` keys sign the bridge's ID tokens (the public halves are the JWKS);
the ``cookie`` key authenticates session cookies. Private material is
encrypted under ``GATEWAY_SECRET_KEYS`` with the row's kid as associated data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, insert, select, update

from gateway.crypto import CryptoError, Secret, SecretBox
from gateway.store.engine import read_transaction, write_transaction
from gateway.store.queries import table
from gateway.store.tables import utcnow

logger = logging.getLogger("gateway.store.sso_keys")

_keys = table("sso_keys")

SIGNING = "sig"
COOKIE = "cookie"


@dataclass(frozen=True, slots=True)
class StoredKey:
    kid: str
    created_at: datetime
    private: Secret = field(repr=False)


def _aad(kid: str, use: str) -> bytes:
    return f"sso_key:{use}:{kid}".encode()


def active_keys(
    engine: Engine, box: SecretBox, use: str, generate: Callable[[], tuple[str, str]]
) -> list[StoredKey]:
    """The usable keys of ``use``, newest first; creates one when there is none.

    ``generate`` returns ``(kid, private key text)``. A stored key that the
    configured encryption keys cannot open (its key was dropped) is retired
    and a new one made, which only costs sessions or tokens signed with it.
    """
    keys = _readable(engine, box, use)
    if keys:
        return keys
    kid, private = generate()
    ciphertext, key_id = box.encrypt(private, aad=_aad(kid, use))
    with write_transaction(engine) as conn:
        conn.execute(
            insert(_keys).values(
                kid=kid,
                use=use,
                ciphertext=ciphertext,
                secret_key_id=key_id,
                created_at=utcnow(),
            )
        )
    return _readable(engine, box, use)


def _readable(engine: Engine, box: SecretBox, use: str) -> list[StoredKey]:
    with read_transaction(engine) as conn:
        rows = conn.execute(
            select(_keys.c.kid, _keys.c.ciphertext, _keys.c.secret_key_id, _keys.c.created_at)
            .where(_keys.c.use == use, _keys.c.retired_at.is_(None))
            .order_by(_keys.c.created_at.desc(), _keys.c.kid)
        ).all()
    keys: list[StoredKey] = []
    unreadable: list[str] = []
    for row in rows:
        try:
            private = box.decrypt_secret(
                bytes(row.ciphertext), row.secret_key_id, aad=_aad(row.kid, use)
            )
        except CryptoError as exc:
            logger.warning("retiring SSO %s key %s: %s", use, row.kid, type(exc).__name__)
            unreadable.append(row.kid)
            continue
        keys.append(StoredKey(kid=row.kid, created_at=row.created_at, private=private))
    if unreadable:
        with write_transaction(engine) as conn:
            conn.execute(
                update(_keys).where(_keys.c.kid.in_(unreadable)).values(retired_at=utcnow())
            )
    return keys
