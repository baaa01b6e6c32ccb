"""Encryption of stored client secrets: round trip, rotation, tamper and key errors."""

from __future__ import annotations

import base64
import os
import stat
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select, update

from gateway.crypto import (
    DecryptionError,
    KeyConfigError,
    Secret,
    SecretBox,
    UnknownKeyError,
    check_keys_cover_store,
    client_secret_aad,
    generate_key,
    load_secret_box,
    rotate_secrets,
)
from gateway.settings import Settings
from gateway.store.tables import metadata, utcnow
from tests import store_seed as seed

tenants = metadata.tables["tenants"]
integrations = metadata.tables["integrations"]


def test_generate_key_is_32_bytes_urlsafe_and_random() -> None:
    key = generate_key()
    assert len(base64.urlsafe_b64decode(key)) == 32
    assert set(key) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")
    assert generate_key() != key


def test_round_trip() -> None:
    box = SecretBox.from_keys([generate_key()])
    aad = client_secret_aad("t1")
    ciphertext, key_id = box.encrypt("s3cr3t-välue", aad=aad)
    assert key_id == box.primary_key_id
    assert b"s3cr3t" not in ciphertext
    assert box.decrypt(ciphertext, key_id, aad=aad) == "s3cr3t-välue"
    assert box.decrypt_secret(ciphertext, key_id, aad=aad) == Secret("s3cr3t-välue")


def test_same_plaintext_encrypts_differently() -> None:
    box = SecretBox.from_keys([generate_key()])
    aad = client_secret_aad("t1")
    assert box.encrypt("x", aad=aad)[0] != box.encrypt("x", aad=aad)[0]


def test_encrypt_accepts_secret_wrapper() -> None:
    box = SecretBox.from_keys([generate_key()])
    ciphertext, key_id = box.encrypt(Secret("hidden"), aad=b"a")
    assert box.decrypt(ciphertext, key_id, aad=b"a") == "hidden"


def test_key_id_is_stable_and_does_not_reveal_key() -> None:
    key = generate_key()
    first, second = SecretBox.from_keys([key]), SecretBox.from_keys([key])
    assert first.primary_key_id == second.primary_key_id
    assert len(first.primary_key_id) == 12
    assert first.primary_key_id not in key
    assert first.primary_key_id not in base64.urlsafe_b64decode(key).hex()


def test_wrong_key_raises_not_garbage() -> None:
    ciphertext, key_id = SecretBox.from_keys([generate_key()]).encrypt("v", aad=b"a")
    other = SecretBox.from_keys([generate_key()])
    with pytest.raises(UnknownKeyError, match=key_id) as info:
        other.decrypt(ciphertext, key_id, aad=b"a")
    assert "GATEWAY_SECRET_KEYS" in str(info.value)
    # Same id claimed, different key: authentication fails.
    with pytest.raises(DecryptionError):
        other.decrypt(ciphertext, other.primary_key_id, aad=b"a")


@pytest.mark.parametrize("position", [0, 5, -1])
def test_tampered_ciphertext_raises(position: int) -> None:
    box = SecretBox.from_keys([generate_key()])
    ciphertext, key_id = box.encrypt("value", aad=b"a")
    tampered = bytearray(ciphertext)
    tampered[position] ^= 0x01
    with pytest.raises(DecryptionError):
        box.decrypt(bytes(tampered), key_id, aad=b"a")


def test_truncated_ciphertext_raises() -> None:
    box = SecretBox.from_keys([generate_key()])
    with pytest.raises(DecryptionError, match="truncated"):
        box.decrypt(b"short", box.primary_key_id, aad=b"a")


def test_aad_binds_ciphertext_to_tenant() -> None:
    box = SecretBox.from_keys([generate_key()])
    ciphertext, key_id = box.encrypt("tenant one's secret", aad=client_secret_aad("t1"))
    with pytest.raises(DecryptionError):
        box.decrypt(ciphertext, key_id, aad=client_secret_aad("t2"))


def test_repr_and_str_hide_keys_and_secrets() -> None:
    key = generate_key()
    box = SecretBox.from_keys([key])
    assert key not in repr(box)
    assert box.primary_key_id in repr(box)
    secret = Secret("hunter2")
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)
    assert "hunter2" not in f"{secret} {secret!r} {[secret]}"
    assert secret.reveal() == "hunter2"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("not base64!!", "not URL-safe base64"),
        ("abc+/def", "not URL-safe base64"),
        (base64.urlsafe_b64encode(b"x" * 16).decode(), "16 bytes"),
        (base64.urlsafe_b64encode(b"x" * 33).decode(), "33 bytes"),
        ("QUJDREVGR", "not valid base64"),
    ],
)
def test_malformed_keys_explain_and_do_not_echo(key: str, expected: str) -> None:
    with pytest.raises(KeyConfigError) as info:
        SecretBox.from_keys([generate_key(), key])
    message = str(info.value)
    assert expected in message
    assert "entry 2" in message
    assert "timus-gateway keys generate" in message
    assert key not in message


def test_duplicate_and_empty_keys_rejected() -> None:
    key = generate_key()
    with pytest.raises(KeyConfigError, match="more than once"):
        SecretBox.from_keys([key, key])
    with pytest.raises(KeyConfigError, match="no encryption key"):
        SecretBox.from_keys([])


def test_unpadded_key_accepted() -> None:
    key = generate_key()
    assert (
        SecretBox.from_keys([key.rstrip("=")]).primary_key_id
        == SecretBox.from_keys([key]).primary_key_id
    )


# --- load_secret_box -------------------------------------------------------------


def test_load_from_settings_newest_first(tmp_path: Path) -> None:
    new, old = generate_key(), generate_key()
    settings = Settings(secret_keys=f"{new}, {old}", var_dir=tmp_path)
    box = load_secret_box(settings)
    assert box.key_ids == (
        SecretBox.from_keys([new]).primary_key_id,
        SecretBox.from_keys([old]).primary_key_id,
    )
    assert not (tmp_path / "secret.key").exists()


def test_sqlite_without_keys_creates_key_file_once(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/g.db", var_dir=tmp_path / "var")
    first = load_secret_box(settings)
    key_file = tmp_path / "var" / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_secret_box(settings).primary_key_id == first.primary_key_id
    assert [p.name for p in key_file.parent.iterdir()] == ["secret.key"]


def test_concurrent_first_start_agrees_on_one_key(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/g.db", var_dir=tmp_path)
    ids: list[str] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        barrier.wait()
        ids.append(load_secret_box(settings).primary_key_id)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == 4
    assert len(set(ids)) == 1


def test_malformed_key_file_names_file_not_content(tmp_path: Path) -> None:
    (tmp_path / "secret.key").write_text("garbage-key")
    settings = Settings(database_url="sqlite://", var_dir=tmp_path)
    with pytest.raises(KeyConfigError) as info:
        load_secret_box(settings)
    assert str(tmp_path / "secret.key") in str(info.value)
    assert "garbage-key" not in str(info.value)


def test_production_requires_keys(tmp_path: Path) -> None:
    settings = Settings(database_url="postgresql+psycopg://db/x", var_dir=tmp_path)
    with pytest.raises(KeyConfigError, match="GATEWAY_SECRET_KEYS is required") as info:
        load_secret_box(settings)
    assert "timus-gateway keys generate" in str(info.value)
    assert not os.listdir(tmp_path)


# --- rotation and the start-up check, on both backends ---------------------------------


def _add_integration(engine: Engine, box: SecretBox, tenant_id: str, secret: str) -> None:
    with engine.begin() as conn:
        conn.execute(insert(tenants).values(id=tenant_id, name=tenant_id, created_at=utcnow()))
        seed.encrypted_integration(conn, box, tenant_id, secret)


def _stored(engine: Engine) -> dict[str, tuple[bytes, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                integrations.c.tenant_id,
                integrations.c.secret_ciphertext,
                integrations.c.secret_key_id,
            )
        ).all()
    return {tenant: (bytes(ct), key_id) for tenant, ct, key_id in rows}


def test_rotation_moves_old_secrets_to_newest_key(engine: Engine) -> None:
    old_key, new_key = generate_key(), generate_key()
    old_box = SecretBox.from_keys([old_key])
    for i in range(3):
        _add_integration(engine, old_box, f"t{i}", f"secret-{i}")
    both = SecretBox.from_keys([new_key, old_key])
    _add_integration(engine, both, "t9", "already-new")

    # Old secrets stay readable before rotation ...
    for tenant, (ciphertext, key_id) in _stored(engine).items():
        assert key_id in both.key_ids
        both.decrypt(ciphertext, key_id, aad=client_secret_aad(tenant))

    assert rotate_secrets(engine, both) == 3
    assert rotate_secrets(engine, both) == 0

    # ... and after it, everything is under the newest key and readable without the old one.
    new_only = SecretBox.from_keys([new_key])
    stored = _stored(engine)
    assert {key_id for _, key_id in stored.values()} == {new_only.primary_key_id}
    plain = {t: new_only.decrypt(ct, k, aad=client_secret_aad(t)) for t, (ct, k) in stored.items()}
    assert plain == {"t0": "secret-0", "t1": "secret-1", "t2": "secret-2", "t9": "already-new"}


def test_rotation_in_batches(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gateway.crypto.ROTATE_BATCH_SIZE", 2)
    old_key, new_key = generate_key(), generate_key()
    for i in range(5):
        _add_integration(engine, SecretBox.from_keys([old_key]), f"t{i}", f"s{i}")
    assert rotate_secrets(engine, SecretBox.from_keys([new_key, old_key])) == 5


def test_rotation_failure_changes_nothing(engine: Engine) -> None:
    old_key, new_key = generate_key(), generate_key()
    box = SecretBox.from_keys([old_key])
    _add_integration(engine, box, "t1", "one")
    _add_integration(engine, box, "t2", "two")
    # A ciphertext moved to another tenant's row must not decrypt there.
    with engine.begin() as conn:
        moved = conn.execute(
            select(integrations.c.secret_ciphertext).where(integrations.c.tenant_id == "t1")
        ).scalar_one()
        conn.execute(
            update(integrations)
            .where(integrations.c.tenant_id == "t2")
            .values(secret_ciphertext=moved)
        )
    before = _stored(engine)
    with pytest.raises(DecryptionError):
        rotate_secrets(engine, SecretBox.from_keys([new_key, old_key]))
    assert _stored(engine) == before


def test_keys_cover_store(engine: Engine) -> None:
    old_key, new_key = generate_key(), generate_key()
    old_box = SecretBox.from_keys([old_key])
    check_keys_cover_store(engine, SecretBox.from_keys([new_key]))  # empty store
    _add_integration(engine, old_box, "t1", "one")
    check_keys_cover_store(engine, SecretBox.from_keys([new_key, old_key]))
    with pytest.raises(KeyConfigError) as info:
        check_keys_cover_store(engine, SecretBox.from_keys([new_key]))
    assert old_box.primary_key_id in str(info.value)
    assert old_key not in str(info.value)
    assert new_key not in str(info.value)
