"""The vault: encryption at rest, scopes, erasure semantics, original pages, keys."""

from __future__ import annotations

import os
import stat

import pytest
import sqlalchemy as sa

from pipelines.anonymising import Vault, VaultKeyError, load_or_create_key, parse_key

SECRET_VALUES = ["Jean Dupont", "jean.dupont@exemple.fr", "FR7630006000011234567890189"]


@pytest.fixture()
def db(tmp_path):
    return tmp_path / "vault.db"


@pytest.fixture()
def key() -> bytes:
    return os.urandom(32)


@pytest.fixture()
def vault(db, key) -> Vault:
    return Vault(sa.create_engine(f"sqlite:///{db}"), key)


def fill(scope, document_id="doc-1"):
    return scope.tokens_for(
        [("PERSON", SECRET_VALUES[0]), ("EMAIL_ADDRESS", SECRET_VALUES[1]), ("IBAN_CODE", SECRET_VALUES[2])],
        document_id,
    )


def test_round_trip(vault):
    scope = vault.scope("acme", "claims")
    t = fill(scope)
    assert t == ["<PERSON_1>", "<EMAIL_ADDRESS_1>", "<IBAN_CODE_1>"]
    assert scope.reveal(" / ".join(t)) == " / ".join(SECRET_VALUES)


def test_nothing_is_stored_in_clear(vault, db):
    scope = vault.scope("acme", "claims")
    fill(scope)
    scope.store_original_page("doc-1", 1, "Courrier de Jean Dupont, IBAN FR7630006000011234567890189")
    vault.engine.dispose()
    raw = db.read_bytes()
    for value in SECRET_VALUES + ["jean dupont", "dupont", "Courrier"]:
        assert value.encode() not in raw
        assert value.encode("utf-16-le") not in raw


def test_scopes_are_isolated(vault):
    a = vault.scope("acme", "claims")
    b = vault.scope("acme", "hr")
    other_tenant = vault.scope("globex", "claims")
    assert a.token_for("PERSON", "Jean Dupont", "d") == "<PERSON_1>"
    assert b.token_for("PERSON", "Marie Curie", "d") == "<PERSON_1>"
    assert b.reveal("<PERSON_1>") == "Marie Curie"
    assert other_tenant.reveal("<PERSON_1>") == "<PERSON_1>"
    assert b.lookup("PERSON", "Jean Dupont") is None


def test_reopening_with_the_same_key_finds_the_same_tokens(db, key):
    first = Vault(sa.create_engine(f"sqlite:///{db}"), key).scope("acme", "claims")
    fill(first)
    again = Vault(sa.create_engine(f"sqlite:///{db}"), key).scope("acme", "claims")
    assert fill(again, "doc-2") == ["<PERSON_1>", "<EMAIL_ADDRESS_1>", "<IBAN_CODE_1>"]


def test_a_wrong_key_is_refused(db, key, vault):
    fill(vault.scope("acme", "claims"))
    with pytest.raises(VaultKeyError):
        Vault(sa.create_engine(f"sqlite:///{db}"), os.urandom(32))


def test_forget_document_removes_only_entries_no_other_document_uses(vault):
    scope = vault.scope("acme", "claims")
    scope.tokens_for([("PERSON", "Jean Dupont"), ("PERSON", "Marie Curie")], "doc-1")
    scope.tokens_for([("PERSON", "Marie Curie")], "doc-2")
    assert scope.forget_document("doc-1") == 1
    assert scope.reveal("<PERSON_1> <PERSON_2>") == "<PERSON_1> Marie Curie"
    assert scope.lookup("PERSON", "Jean Dupont") is None
    # numbers are never reused: Jean Dupont comes back as a new person
    assert scope.token_for("PERSON", "Jean Dupont", "doc-3") == "<PERSON_3>"
    assert scope.forget_document("doc-2") == 1
    assert scope.count_entries() == 1


def test_entries_created_outside_documents_survive_document_erasure(vault):
    scope = vault.scope("acme", "claims")
    scope.token_for("PERSON", "Jean Dupont")  # e.g. /v1/anonymise with a collection
    scope.token_for("PERSON", "Jean Dupont", "doc-1")
    scope.forget_document("doc-1")
    assert scope.lookup("PERSON", "Jean Dupont") == "<PERSON_1>"


def test_forget_document_in_one_collection_leaves_the_other(vault):
    a, b = vault.scope("acme", "claims"), vault.scope("acme", "hr")
    a.token_for("PERSON", "Jean Dupont", "doc-1")
    b.token_for("PERSON", "Jean Dupont", "doc-1")
    a.forget_document("doc-1")
    assert b.lookup("PERSON", "Jean Dupont") == "<PERSON_1>"


def test_original_pages_round_trip_and_erasure(vault):
    scope = vault.scope("acme", "claims")
    scope.store_original_page("doc-1", 1, "page un: Jean Dupont")
    scope.store_original_page("doc-1", 2, "page deux")
    scope.store_original_page("doc-1", 2, "page deux, corrigée")  # re-index overwrites
    scope.store_original_page("doc-2", 1, "autre")
    assert scope.load_original_pages("doc-1") == {1: "page un: Jean Dupont", 2: "page deux, corrigée"}
    scope.forget_document("doc-1")
    assert scope.load_original_pages("doc-1") == {}
    assert scope.load_original_pages("doc-2") == {1: "autre"}


def test_original_pages_can_be_turned_off(db, key):
    scope = Vault(sa.create_engine(f"sqlite:///{db}"), key, keep_original_pages=False).scope("acme", "c")
    scope.store_original_page("doc-1", 1, "Jean Dupont")
    assert scope.load_original_pages("doc-1") == {}


def test_drop_erases_the_whole_collection(vault):
    scope = vault.scope("acme", "claims")
    fill(scope)
    scope.store_original_page("doc-1", 1, "texte")
    scope.drop()
    assert scope.count_entries() == 0
    assert scope.load_original_pages("doc-1") == {}
    assert scope.reveal("<PERSON_1>") == "<PERSON_1>"
    assert scope.token_for("PERSON", "Jean Dupont", "doc-1") == "<PERSON_1>"  # counters restart


def test_rotate_key(db, key, vault):
    scope = vault.scope("acme", "claims")
    fill(scope)
    scope.store_original_page("doc-1", 1, "original")
    new_key = os.urandom(32)
    vault.rotate_key(new_key)
    assert scope.reveal("<PERSON_1>") == "Jean Dupont"
    assert scope.lookup("EMAIL_ADDRESS", "JEAN.DUPONT@exemple.fr") == "<EMAIL_ADDRESS_1>"
    reopened = Vault(sa.create_engine(f"sqlite:///{db}"), new_key).scope("acme", "claims")
    assert reopened.load_original_pages("doc-1") == {1: "original"}
    assert reopened.lookup("PERSON", "Dupont") == "<PERSON_1>"
    with pytest.raises(VaultKeyError):
        Vault(sa.create_engine(f"sqlite:///{db}"), key)


def test_ciphertexts_are_bound_to_their_row(vault):
    scope = vault.scope("acme", "claims")
    scope.tokens_for([("PERSON", "Jean Dupont"), ("PERSON", "Marie Curie")], "d")
    entries = vault.entries
    with vault.engine.begin() as conn:
        rows = conn.execute(sa.select(entries.c.id, entries.c.value_ct).order_by(entries.c.id)).all()
        conn.execute(entries.update().where(entries.c.id == rows[0].id).values(value_ct=rows[1].value_ct))
    with pytest.raises(VaultKeyError):
        scope.reveal("<PERSON_1>")


def test_derived_keys_differ_by_purpose(vault):
    assert vault.derive_key("hash operator") != vault.derive_key("other")
    assert len(vault.derive_key("hash operator")) == 32


def test_load_or_create_key(tmp_path):
    path = tmp_path / "keys" / "vault.key"
    key = load_or_create_key(path)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key


@pytest.mark.parametrize(
    "writing",
    [
        lambda k: k.hex(),
        lambda k: __import__("base64").b64encode(k).decode(),
        lambda k: __import__("base64").urlsafe_b64encode(k).decode(),
        lambda k: k,
    ],
)
def test_parse_key_accepts_hex_base64_and_raw(writing):
    key = bytes(range(32))
    assert parse_key(writing(key)) == key


@pytest.mark.parametrize("bad", ["", "abc", "00" * 31, b"short"])
def test_parse_key_refuses_bad_keys(bad):
    with pytest.raises(VaultKeyError):
        parse_key(bad)


def test_concurrent_writers_get_distinct_consistent_tokens(vault):
    from concurrent.futures import ThreadPoolExecutor

    scope = vault.scope("acme", "claims")
    names = [f"Personne Numero{i % 20}" for i in range(200)]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda n: scope.token_for("PERSON", n, "d"), names))
    by_name = {}
    for name, token in zip(names, got):
        assert by_name.setdefault(name, token) == token
    assert len(set(got)) == 20
