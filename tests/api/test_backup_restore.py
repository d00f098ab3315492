"""Backup and restore, fast variant (fake embedder and parser, real registry, vault,
audit and on-disk embedded Qdrant): what restore refuses and why, and that nothing is
touched when it refuses. The end-to-end round trip with real files and models is
``tests/e2e/test_backup_restore_e2e.py``."""

from __future__ import annotations

import base64
import json
import re
import secrets
import shutil

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from services.api.settings import Settings
from services.backup import BackupError, create_backup, restore_backup, verify_backup
from services.cli import app as cli
from services.maintenance import ServiceRunning
from tests.conftest import KEYS

ADMIN = {"Authorization": f"Bearer {KEYS['admin']['key']}"}


def _settings(tmp_path, **extra) -> Settings:
    from tests.fakes import HashingEmbedder

    return Settings(data_dir=tmp_path / "data", api_keys=json.dumps(list(KEYS.values())), preload_models=False,
                    default_embedder=HashingEmbedder.name, embedders=[HashingEmbedder.name], **extra)


def _app(settings: Settings):
    from services.api.app import create_app
    from tests.fakes import HashingEmbedder, PatternDetector, TextParser

    return create_app(settings, overrides={"embedders": {HashingEmbedder.name: HashingEmbedder()},
                                           "parser": TextParser(), "pii_detector": PatternDetector(),
                                           "extraction_ner": None})


@pytest.fixture
def deployment(tmp_path):
    """A stopped deployment with one pseudonymised document, and its backup."""
    settings = _settings(tmp_path)
    with TestClient(_app(settings)) as client:
        assert client.post("/v1/collections", json={"name": "hr", "anonymise": True}, headers=ADMIN).status_code == 201
        response = client.post("/v1/collections/hr/documents", params={"wait": "true"},
                               files={"file": ("a.txt", b"Jean Dupont earns B7.")}, headers=ADMIN)
        assert response.json()["documents"][0]["status"] == "indexed"
    backup = create_backup(settings, tmp_path / "backup", include_keys=True)
    return settings, backup.path


def test_manifest_lists_every_part_with_sizes_hashes_and_versions(deployment):
    _, path = deployment
    manifest = verify_backup(path)
    assert {"registry.db", "vault.db", "audit.head", "keys/vault.key", "keys/audit.key"} <= set(manifest["files"])
    assert any(name.startswith("qdrant/") for name in manifest["files"])
    assert not any(name.endswith(".lock") for name in manifest["files"])
    assert manifest["parts"] == {"registry": "sqlite", "vault": "sqlite", "index": "embedded",
                                 "keys": "vault.key,audit.key"}
    from pipelines.migrations import head_revision

    assert manifest["versions"]["registry_schema"] == head_revision()
    assert manifest["embedders"] == ["test-hashing 1"]
    assert all(len(f["sha256"]) == 64 and f["size"] > 0 for f in manifest["files"].values())


def _flip_a_byte(path):
    target = path / "registry.db"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))


def _truncate(path):
    (path / "vault.db").write_bytes((path / "vault.db").read_bytes()[:100])


def _remove(path):
    (path / "audit.head").unlink()


def _add(path):
    (path / "qdrant" / "stray.bin").write_bytes(b"x")


def _drop_manifest(path):
    (path / "manifest.json").unlink()


def _from_the_future(path):
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["versions"]["registry_schema"] = "9999"
    (path / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_flip_a_byte, "registry.db: content altered (sha256 mismatch)"),
        (_truncate, "vault.db: size 100, expected"),
        (_remove, "audit.head: missing"),
        (_add, "qdrant/stray.bin: not in the manifest"),
        (_drop_manifest, "is not a docintel backup (no manifest.json"),
        (_from_the_future, "schema revision '9999', unknown to this docintel"),
    ],
    ids=["altered", "truncated", "missing", "unexpected", "no manifest", "newer schema"],
)
def test_a_damaged_backup_is_refused_and_nothing_is_touched(deployment, tmp_path, damage, message):
    _, path = deployment
    damage(path)
    fresh = _settings(tmp_path / "elsewhere")
    with pytest.raises(BackupError, match=re.escape(message)):
        restore_backup(fresh, path)
    assert not fresh.data_dir.exists()


def test_a_non_empty_data_dir_needs_force_and_is_moved_aside(deployment):
    settings, path = deployment
    before = sorted(p.name for p in settings.data_dir.iterdir())
    with pytest.raises(BackupError, match="is not empty"):
        restore_backup(settings, path)
    assert sorted(p.name for p in settings.data_dir.iterdir()) == before
    result = restore_backup(settings, path, force=True)
    assert [p.name for p in result.moved_aside] == [p.name for p in result.moved_aside if ".pre-restore-" in p.name]
    assert len(result.moved_aside) == 1 and sorted(p.name for p in result.moved_aside[0].iterdir()) == before
    with TestClient(_app(settings)) as client:
        docs = client.get("/v1/collections/hr/documents", headers=ADMIN).json()["documents"]
        assert [d["status"] for d in docs] == ["indexed"]


def test_keys_that_do_not_open_the_backup_are_refused(deployment, tmp_path):
    _, path = deployment
    shutil.rmtree(path / "keys")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"] = {k: v for k, v in manifest["files"].items() if not k.startswith("keys/")}
    (path / "manifest.json").write_text(json.dumps(manifest))
    other = base64.b64encode(secrets.token_bytes(32)).decode()
    fresh = _settings(tmp_path / "elsewhere", vault_key=other)
    with pytest.raises(BackupError, match="does not open the backup's vault"):
        restore_backup(fresh, path)
    assert not any(fresh.data_dir.parent.glob(".data.restoring-*")), "the staging copy is cleaned up"
    fresh = _settings(tmp_path / "elsewhere2")
    with pytest.raises(BackupError, match="no vault key"):
        restore_backup(fresh, path)


def test_backup_refuses_while_the_api_runs(tmp_path):
    settings = _settings(tmp_path)
    with TestClient(_app(settings)), pytest.raises(ServiceRunning, match="stop it first"):
        create_backup(settings, tmp_path / "backup")
    assert not (tmp_path / "backup").exists() and not (tmp_path / "backup.partial").exists()


def _out(result) -> str:
    """stdout + stderr as one line (rich wraps at the terminal width)."""
    return " ".join((result.stdout + result.stderr).split())


def test_cli_backup_and_restore_report_and_refuse(deployment, tmp_path, monkeypatch):
    settings, _ = deployment
    monkeypatch.setenv("DOCINTEL_DATA_DIR", str(settings.data_dir))
    runner = CliRunner()
    result = runner.invoke(cli, ["backup", str(tmp_path / "b2")])
    assert result.exit_code == 0, _out(result)
    assert "vault.key is not in the backup (--include-keys)" in _out(result)
    assert "backup written to" in _out(result) and "'keys': 'none'" in _out(result)
    result = runner.invoke(cli, ["restore", str(tmp_path / "b2")])
    assert result.exit_code == 1 and "is not empty" in _out(result)
    result = runner.invoke(cli, ["restore", str(tmp_path / "b2"), "--force"])
    assert result.exit_code == 0 and "moved aside" in _out(result), _out(result)
