"""Vault key rotation (``docintel vault rotate-key``): a pseudonymised document's
pseudonyms are still revealed after the rotation with the new key, the old key is
refused, encrypted original pages and spooled uploads follow, and a running server
blocks the rotation."""

from __future__ import annotations

import base64
import secrets

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pipelines.anonymising.vault import Vault, VaultKeyError, parse_key
from services.cli import app as cli
from services.documents import Spool
from tests.conftest import KEYS, build_test_app

ADMIN = {"Authorization": f"Bearer {KEYS['admin']['key']}"}
TEXT = "Le dossier de Jean Dupont est suivi par marie@example.org depuis mars."


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def _ingest_and_reveal(tmp_path, **settings) -> tuple[str, str]:
    """Upload a pseudonymised document; returns (a stored page text, its revealed form)."""
    app = build_test_app(tmp_path, **settings)
    with TestClient(app) as client:
        assert client.post("/v1/collections", json={"name": "hr", "anonymise": True}, headers=ADMIN).status_code == 201
        doc = client.post("/v1/collections/hr/documents", params={"wait": "true"},
                          files={"file": ("a.txt", TEXT.encode())}, headers=ADMIN).json()["documents"][0]
        assert doc["status"] == "indexed"
        stored = client.get(f"/v1/collections/hr/documents/{doc['document_id']}/pages/1", headers=ADMIN).json()
        stored_text = stored["text"]
        assert "Jean Dupont" not in stored_text and "<PERSON_1>" in stored_text
        revealed = client.post("/v1/deanonymise", json={"collection": "hr", "text": stored_text}, headers=ADMIN)
        assert revealed.status_code == 200 and revealed.json()["text"] == TEXT
    return stored_text, doc["document_id"]


def _reveal(tmp_path, stored_text: str, **settings) -> str:
    app = build_test_app(tmp_path, **settings)
    with TestClient(app) as client:
        response = client.post("/v1/deanonymise", json={"collection": "hr", "text": stored_text}, headers=ADMIN)
        assert response.status_code == 200, response.text
        return response.json()["text"]


def _vault_engine(tmp_path):
    return sa.create_engine(f"sqlite:///{tmp_path / 'data' / 'vault.db'}")


@pytest.mark.parametrize("key_mode", ["generated key file", "new key from a file", "key from the environment"])
def test_rotation_keeps_pseudonyms_revealable_and_refuses_the_old_key(tmp_path, monkeypatch, key_mode):
    data = tmp_path / "data"
    env_key = secrets.token_bytes(32) if key_mode == "key from the environment" else None
    app_settings = {"vault_key": _b64(env_key)} if env_key else {}
    stored_text, document_id = _ingest_and_reveal(tmp_path, **app_settings)
    old = env_key or parse_key((data / "vault.key").read_bytes())
    Spool(data / "spool", old).put("doc_pending", b"%PDF- an upload waiting for its job")

    monkeypatch.setenv("DOCINTEL_DATA_DIR", str(data))
    monkeypatch.setenv("DOCINTEL_QDRANT_PATH", ":memory:")
    args = ["vault", "rotate-key"]
    given = None
    if key_mode != "generated key file":
        given = secrets.token_bytes(32)
        (tmp_path / "new.key").write_text(given.hex())
        args += ["--new-key-file", str(tmp_path / "new.key")]
    if env_key:
        monkeypatch.setenv("DOCINTEL_VAULT_KEY", _b64(env_key))
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "re-encrypted 2 vault entries, 1 original pages, 1 spooled uploads" in result.output

    if env_key:
        new = given
        assert "DOCINTEL_VAULT_KEY" in result.output and not (data / "vault.key").exists()
        app_settings = {"vault_key": _b64(new)}
    else:
        new = parse_key((data / "vault.key").read_bytes())
        assert new != old and (given is None or new == given)
        assert not (data / "vault.key.next").exists()
    assert _reveal(tmp_path, stored_text, **app_settings) == TEXT

    engine = _vault_engine(tmp_path)
    with pytest.raises(VaultKeyError):
        Vault(engine, old)
    vault = Vault(engine, new)
    assert vault.scope("acme", "hr").load_original_pages(document_id) == {1: TEXT}
    assert vault.scope("acme", "hr").lookup("PERSON", "Jean Dupont") == "<PERSON_1>", "lookup HMACs follow"
    engine.dispose()
    assert Spool(data / "spool", new).get("doc_pending") == b"%PDF- an upload waiting for its job"
    assert not (data / "spool.rekey").exists()

    if env_key:  # the API started with the old key refuses to start
        with pytest.raises(VaultKeyError), TestClient(build_test_app(tmp_path, vault_key=_b64(old))):
            pass


def test_rotation_refuses_while_the_server_holds_the_index(tmp_path, monkeypatch):
    _ingest_and_reveal(tmp_path)
    monkeypatch.setenv("DOCINTEL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DOCINTEL_QDRANT_PATH", str(tmp_path / "qdrant"))
    from services.api.container import build_index
    from services.api.settings import Settings

    index = build_index(Settings(data_dir=tmp_path / "data", qdrant_path=str(tmp_path / "qdrant")))  # as an API holds it
    try:
        result = CliRunner().invoke(cli, ["vault", "rotate-key"])
    finally:
        index.close()
    assert result.exit_code == 1 and "running docintel server: stop it first" in result.output
    result = CliRunner().invoke(cli, ["vault", "rotate-key"])
    assert result.exit_code == 0, result.output


def test_an_interrupted_rotation_is_finished_by_the_next_run(tmp_path, monkeypatch):
    """Crash after the vault transaction committed, before the key file was replaced."""
    from services.vault_rotation import write_key_file

    stored_text, _ = _ingest_and_reveal(tmp_path)
    data = tmp_path / "data"
    new = secrets.token_bytes(32)
    engine = _vault_engine(tmp_path)
    Vault(engine, parse_key((data / "vault.key").read_bytes())).rotate_key(new)
    engine.dispose()
    write_key_file(data / "vault.key.next", new)
    monkeypatch.setenv("DOCINTEL_DATA_DIR", str(data))
    monkeypatch.setenv("DOCINTEL_QDRANT_PATH", ":memory:")
    result = CliRunner().invoke(cli, ["vault", "rotate-key"])
    assert result.exit_code == 0 and "interrupted" in result.output, result.output
    assert parse_key((data / "vault.key").read_bytes()) == new
    assert _reveal(tmp_path, stored_text) == TEXT
