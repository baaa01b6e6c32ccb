"""Encryption of stored credentials (Entra client secrets) with AES-256-GCM.

Keys come from ``GATEWAY_SECRET_KEYS`` (newest first). Every ciphertext is
stored beside the id of the key that made it, so a key can be rotated without
a flag day: add the new key in front, restart, run ``timus-gateway keys rotate``,
then drop the old key. Key ids are derived from the key by a one-way hash and
may be shown; keys never are.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, bindparam, select, update

from gateway.settings import Settings
from gateway.store.engine import read_transaction, write_transaction
from gateway.store.tables import metadata

KEY_BYTES = 32
NONCE_BYTES = 12
KEY_FILE_NAME = "secret.key"
ROTATE_BATCH_SIZE = 500

_KEY_ID_CONTEXT = b"timus-gateway key id v1\x00"
_URLSAFE_B64 = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_GENERATE_HINT = "generate one with `timus-gateway keys generate`"


class CryptoError(Exception):
    """Base class of this module's errors; messages never contain key material."""


class KeyConfigError(CryptoError):
    """The configured keys are missing, malformed or do not cover the store."""


class UnknownKeyError(CryptoError):
    """A ciphertext names a key id that is not configured."""


class DecryptionError(CryptoError):
    """A ciphertext failed authentication: wrong key, wrong row or corrupted."""


class Secret:
    """A plaintext secret that does not show itself in reprs, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The plaintext; call only at the point where it is sent to its consumer."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would be a way for the plaintext to leave the process unnoticed.
        raise TypeError("Secret values cannot be pickled")


def generate_key() -> str:
    """A new random key: 32 bytes in URL-safe base64 (what ``keys generate`` prints)."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def key_id_for(key: bytes) -> str:
    """The public id of a key: a truncated one-way hash, safe to store and show."""
    return hashlib.sha256(_KEY_ID_CONTEXT + key).hexdigest()[:12]


def client_secret_aad(tenant_id: str) -> bytes:
    """Associated data binding an integration's client secret to its tenant row.

    A ciphertext copied into another tenant's row then fails to decrypt instead
    of handing that tenant someone else's credentials.
    """
    return f"{tenant_id}:client_secret".encode()


def _decode_key(text: str, position: int) -> bytes:
    where = f"GATEWAY_SECRET_KEYS entry {position}"
    if not _URLSAFE_B64.fullmatch(text):
        raise KeyConfigError(
            f"{where} is not URL-safe base64 (only A-Z, a-z, 0-9, '-', '_' and '=' padding "
            f"are allowed); {_GENERATE_HINT}"
        )
    padded = text + "=" * (-len(text) % 4)
    try:
        raw = base64.urlsafe_b64decode(padded)
    except (binascii.Error, ValueError):
        raise KeyConfigError(f"{where} is not valid base64; {_GENERATE_HINT}") from None
    if len(raw) != KEY_BYTES:
        raise KeyConfigError(
            f"{where} decodes to {len(raw)} bytes but a key must be {KEY_BYTES} bytes; "
            f"{_GENERATE_HINT}"
        )
    return raw


@dataclass(frozen=True, slots=True)
class _Key:
    key_id: str
    aead: AESGCM = field(repr=False)


class SecretBox:
    """Encrypts under the newest key and decrypts under any configured key."""

    __slots__ = ("_keys",)

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise KeyConfigError(f"no encryption key configured; {_GENERATE_HINT}")
        by_id: dict[str, _Key] = {}
        for raw in keys:
            if len(raw) != KEY_BYTES:
                raise KeyConfigError(f"a key must be {KEY_BYTES} bytes; {_GENERATE_HINT}")
            key_id = key_id_for(raw)
            if key_id in by_id:
                raise KeyConfigError(f"key {key_id} is configured more than once; list it once")
            by_id[key_id] = _Key(key_id, AESGCM(raw))
        # dicts keep insertion order, so the first entry is the newest key.
        self._keys = by_id

    @classmethod
    def from_keys(cls, keys: Sequence[str]) -> SecretBox:
        """Build from URL-safe base64 keys, newest first (``GATEWAY_SECRET_KEYS`` order)."""
        return cls([_decode_key(text.strip(), i) for i, text in enumerate(keys, start=1)])

    @property
    def primary_key_id(self) -> str:
        """The id of the newest key, under which everything new is encrypted."""
        return next(iter(self._keys))

    @property
    def key_ids(self) -> tuple[str, ...]:
        """All configured key ids, newest first."""
        return tuple(self._keys)

    def encrypt(self, plaintext: str | Secret, *, aad: bytes) -> tuple[bytes, str]:
        """Encrypt under the newest key; returns (nonce + ciphertext, key id)."""
        value = plaintext.reveal() if isinstance(plaintext, Secret) else plaintext
        key = self._keys[self.primary_key_id]
        nonce = os.urandom(NONCE_BYTES)
        return nonce + key.aead.encrypt(nonce, value.encode("utf-8"), aad), key.key_id

    def decrypt(self, ciphertext: bytes, key_id: str, *, aad: bytes) -> str:
        """Decrypt a value made by :meth:`encrypt`; raises rather than return garbage."""
        key = self._keys.get(key_id)
        if key is None:
            raise UnknownKeyError(
                f"a stored secret is encrypted under key {key_id}, which is not in "
                "GATEWAY_SECRET_KEYS; add that key back (after the newest one)"
            )
        if len(ciphertext) < NONCE_BYTES + 16:
            raise DecryptionError(f"stored secret under key {key_id} is truncated")
        nonce, body = ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:]
        try:
            plain = key.aead.decrypt(nonce, body, aad)
        except InvalidTag:
            raise DecryptionError(
                f"stored secret under key {key_id} failed authentication "
                "(corrupted, or not made for this row)"
            ) from None
        return plain.decode("utf-8")

    def decrypt_secret(self, ciphertext: bytes, key_id: str, *, aad: bytes) -> Secret:
        """Like :meth:`decrypt`, wrapped so the plaintext cannot leak through a repr."""
        return Secret(self.decrypt(ciphertext, key_id, aad=aad))

    def __repr__(self) -> str:
        return f"SecretBox(key_ids={list(self._keys)!r})"


def load_secret_box(settings: Settings) -> SecretBox:
    """The box for this process: ``GATEWAY_SECRET_KEYS``, else (SQLite only) a key file."""
    keys = settings.secret_key_list()
    if keys:
        return SecretBox.from_keys(keys)
    if not settings.is_sqlite:
        raise KeyConfigError(
            "GATEWAY_SECRET_KEYS is required when the database is not SQLite; "
            "run `timus-gateway keys generate` and set GATEWAY_SECRET_KEYS to its output"
        )
    path = settings.var_dir / KEY_FILE_NAME
    _create_key_file_once(path)
    text = path.read_text(encoding="ascii").strip()
    try:
        return SecretBox.from_keys([part for part in text.split(",") if part.strip()])
    except KeyConfigError as exc:
        raise KeyConfigError(f"key file {path}: {exc}") from None


def _create_key_file_once(path: Path) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write a complete temporary file, then link it into place: a concurrent
    # starter either wins the link or reads the winner's complete file, never
    # a half-written one. mkstemp creates the file with mode 0600.
    fd, tmp_name = tempfile.mkstemp(prefix=".secret.key.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(generate_key() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp_name, path)
    finally:
        os.unlink(tmp_name)


_integrations = metadata.tables["integrations"]


def rotate_secrets(engine: Engine, box: SecretBox) -> int:
    """Re-encrypt every stored client secret not under the newest key; returns the count.

    Runs in one transaction, so a failure (say an unknown key) changes nothing.
    """
    primary = box.primary_key_id
    changed = 0
    last_tenant = ""
    stmt = (
        update(_integrations)
        .where(_integrations.c.tenant_id == bindparam("b_tenant_id"))
        .where(_integrations.c.secret_key_id == bindparam("b_old_key_id"))
        .values(
            secret_ciphertext=bindparam("b_ciphertext"),
            secret_key_id=bindparam("b_key_id"),
        )
    )
    with write_transaction(engine) as conn:
        while True:
            rows = conn.execute(
                select(
                    _integrations.c.tenant_id,
                    _integrations.c.secret_ciphertext,
                    _integrations.c.secret_key_id,
                )
                .where(_integrations.c.secret_key_id != primary)
                .where(_integrations.c.tenant_id > last_tenant)
                .order_by(_integrations.c.tenant_id)
                .limit(ROTATE_BATCH_SIZE)
            ).all()
            if not rows:
                return changed
            params = []
            for tenant_id, ciphertext, key_id in rows:
                aad = client_secret_aad(tenant_id)
                plain = box.decrypt(bytes(ciphertext), key_id, aad=aad)
                new_ciphertext, new_key_id = box.encrypt(plain, aad=aad)
                params.append(
                    {
                        "b_tenant_id": tenant_id,
                        "b_old_key_id": key_id,
                        "b_ciphertext": new_ciphertext,
                        "b_key_id": new_key_id,
                    }
                )
            conn.execute(stmt, params)
            changed += len(params)
            last_tenant = rows[-1][0]


def stored_key_ids(engine: Engine) -> set[str]:
    """The key ids that stored secrets are encrypted under."""
    with read_transaction(engine) as conn:
        return set(conn.scalars(select(_integrations.c.secret_key_id).distinct()))


def check_keys_cover_store(engine: Engine, box: SecretBox) -> None:
    """Start-up check: refuse to run when a stored secret's key is not configured."""
    missing = sorted(stored_key_ids(engine) - set(box.key_ids))
    if missing:
        raise KeyConfigError(
            f"stored client secrets are encrypted under key id(s) {', '.join(missing)}, "
            f"which GATEWAY_SECRET_KEYS (key ids {', '.join(box.key_ids)}) does not "
            "contain; add the old key(s) after the newest one, then run "
            "`timus-gateway keys rotate`"
        )
