"""Value format, key wrapping and the secret-field registry (pure, no database)."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from store import SECRET_FIELDS, DecryptError, KdfParams, crypto
from store.keyring import Keyring, MissingKey, parse_material
from store.registry import secret_values, transform

DEK = bytes(range(32))
OTHER = bytes(range(1, 33))
FORMAT = re.compile(r"^enc:v1:(\d+):[A-Za-z0-9_-]+$")
names = st.text(
    st.characters(exclude_characters="|", codec="utf-8"), min_size=1, max_size=20
)


@given(plaintext=st.text(), version=st.integers(1, 2**31), row=names, column=names)
def test_value_round_trip_and_format(plaintext: str, version: int, row: str, column: str) -> None:
    stored = crypto.encrypt_value(DEK, version, plaintext, "providers", row, column)
    match = FORMAT.match(stored)
    assert match and int(match.group(1)) == version == crypto.value_version(stored)
    assert crypto.decrypt_value(DEK, stored, "providers", row, column) == plaintext


@given(plaintext=st.text(min_size=1), position=st.integers(0, 10_000), bit=st.integers(0, 5))
def test_any_tampered_character_fails(plaintext: str, position: int, bit: int) -> None:
    stored = crypto.encrypt_value(DEK, 3, plaintext, "providers", "r", "api_key")
    body_start = len("enc:v1:3:")
    index = body_start + position % (len(stored) - body_start)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    flipped = alphabet[(alphabet.index(stored[index]) ^ (1 << bit)) % 64]
    tampered = stored[:index] + flipped + stored[index + 1 :]
    if tampered == stored:
        return
    with pytest.raises(DecryptError):
        crypto.decrypt_value(DEK, tampered, "providers", "r", "api_key")


@given(row=names, other_row=names, column=names, other_column=names)
def test_aad_binds_row_and_column(row: str, other_row: str, column: str, other_column: str) -> None:
    stored = crypto.encrypt_value(DEK, 1, "sk-secret", "providers", row, column)
    if other_row != row:
        with pytest.raises(DecryptError):
            crypto.decrypt_value(DEK, stored, "providers", other_row, column)
    if other_column != column:
        with pytest.raises(DecryptError):
            crypto.decrypt_value(DEK, stored, "providers", row, other_column)


def test_version_relabel_and_wrong_key_fail() -> None:
    stored = crypto.encrypt_value(DEK, 1, "sk", "providers", "r", "api_key")
    with pytest.raises(DecryptError):
        crypto.decrypt_value(
            DEK, stored.replace("enc:v1:1:", "enc:v1:2:"), "providers", "r", "api_key"
        )
    with pytest.raises(DecryptError):
        crypto.decrypt_value(OTHER, stored, "providers", "r", "api_key")
    with pytest.raises(DecryptError):
        crypto.value_version("enc:v1:x:abc")
    with pytest.raises(DecryptError):
        crypto.decrypt_value(DEK, "enc:v1:1:AAAA", "providers", "r", "api_key")


@settings(max_examples=50)
@given(value=st.text())
def test_plain_escape_round_trip(value: str) -> None:
    stored = crypto.encode_plain(value)
    assert crypto.value_version(stored) is None
    assert crypto.decode_plain(stored) == value


def test_wrap_check_and_fingerprint() -> None:
    kek, other = crypto.new_dek(), crypto.new_dek()
    wrapped = crypto.wrap_dek(kek, DEK, 4, 2)
    assert crypto.unwrap_dek(kek, wrapped, 4, 2) == DEK
    for args in ((other, wrapped, 4, 2), (kek, wrapped, 5, 2), (kek, wrapped, 4, 3)):
        with pytest.raises(DecryptError):
            crypto.unwrap_dek(*args)
    check = crypto.make_check(kek, 2)
    assert crypto.verify_check(kek, 2, check)
    assert not crypto.verify_check(other, 2, check) and not crypto.verify_check(kek, 3, check)
    assert crypto.fingerprint(DEK) == crypto.fingerprint(DEK) != crypto.fingerprint(OTHER)


def test_kdf_is_deterministic_and_parameterised() -> None:
    fast, salt = KdfParams(1, 1024, 1), crypto.new_salt()
    assert crypto.derive_kek("pw", salt, fast) == crypto.derive_kek("pw", salt, fast)
    assert crypto.derive_kek("pw", salt, fast) != crypto.derive_kek("pw2", salt, fast)
    assert KdfParams.from_json(fast.to_json()) == fast
    assert KdfParams() == KdfParams(3, 65536, 4)  # RFC 9106 second recommendation
    with pytest.raises(ValueError):
        KdfParams.from_json({"alg": "scrypt"})


def full_document() -> dict[str, object]:
    """A provider document holding a value for EVERY registered secret field."""
    doc: dict[str, object] = {"type": "openai", "model": "gpt-4o"}
    for i, field in enumerate(SECRET_FIELDS):
        node = doc
        for part in field.path[:-1]:
            node = node.setdefault(part, {})  # type: ignore[assignment]
        leaf = field.path[-1]
        node[("h1" if leaf == "*" else leaf)] = f"secret-{i}-{leaf}"
        if leaf == "*":
            node["h2"] = f"secret-{i}-second"
    return doc


def test_every_registered_field_is_encrypted() -> None:
    doc = full_document()
    expected = {v for _, v in secret_values("providers", doc)}
    assert len(expected) == len(SECRET_FIELDS) + 1  # the "*" mapping has two entries
    ring = Keyring(deks={1: DEK}, active=1)
    stored = ring.encrypt_doc("providers", "p", doc)
    for column, value in secret_values("providers", stored):
        assert crypto.value_version(value) == 1, column
        assert value not in expected
    assert stored["model"] == "gpt-4o" and stored["type"] == "openai"
    assert ring.decrypt_doc("providers", "p", stored) == doc
    with pytest.raises(MissingKey):
        Keyring(deks={}, active=2).decrypt_doc("providers", "p", stored)


def test_transform_ignores_non_strings_and_other_tables() -> None:
    doc = {"api_key": 5, "extra_headers": "not-a-mapping", "proxy": None}
    assert transform("providers", doc, lambda c, v: "x") == doc
    assert transform("nothing", {"api_key": "k"}, lambda c, v: "x") == {"api_key": "k"}


def test_key_material_blob() -> None:
    ring = Keyring(keks={3: DEK}, active=1, active_kek=3)
    assert parse_material(ring.export_material()) == (3, DEK)
    with pytest.raises(DecryptError):
        parse_material(b"junk")


def test_argon2_default_cost_is_measurable() -> None:
    started = time.perf_counter()
    crypto.derive_kek("passphrase", crypto.new_salt(), KdfParams())
    elapsed = time.perf_counter() - started
    print(f"argon2id t=3 m=64MiB p=4: {elapsed * 1000:.0f} ms")
    assert elapsed < 10
