"""Vault key rotation: every vault entry and encrypted original page (and every spooled
upload, which the vault key also encrypts) is re-encrypted under a new key; afterwards
the old key no longer opens the vault.

Procedure (``docintel vault rotate-key``), with every API process stopped (checked
through the embedded index's lock, see ``services.maintenance``):

1. the new key comes from ``--new-key-file`` or is generated;
2. key kept in the data dir (the default, ``<data_dir>/vault.key``): the new key is
   first written beside it as ``vault.key.next`` (mode 0600, fsync'd);
3. spooled uploads are re-encrypted into ``spool.rekey/``;
4. the vault database is re-encrypted in **one transaction** (``Vault.rotate_key``):
   all entries and pages switch keys together or none do;
5. the re-encrypted spool files replace the old ones, then ``vault.key.next`` replaces
   ``vault.key`` (one ``rename``: the single step that makes the new key current).

A crash between 4 and 5 leaves ``vault.key.next``; the next ``rotate-key`` run sees
that it opens the vault and finishes steps 5 (``resume_interrupted``), or throws the
leftovers away when the transaction never committed.

Key given by ``DOCINTEL_VAULT_KEY`` (a secret manager): pass ``--new-key-file``; after
the command succeeds, replace the secret's value with that file's content before
starting the API again. That replacement is the single step; a server started with the
old key refuses to start (the vault's key check), it never writes under a wrong key.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from pipelines.anonymising.vault import KEY_BYTES, Vault, VaultKeyError, parse_key
from services.api.settings import Settings
from services.documents import Spool
from services.maintenance import Layout, MaintenanceError, service_stopped, vault_url


@dataclass(frozen=True)
class RotationResult:
    entries: int
    pages: int
    spool_files: int
    key_file: Path | None
    """Where the new key now is (None: the operator updates DOCINTEL_VAULT_KEY)."""
    resumed: bool = False


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def write_key_file(path: Path, key: bytes) -> None:
    """Base64 key, mode 0600, flushed to disk before returning."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(key).decode("ascii") + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def current_vault_key(settings: Settings) -> bytes:
    layout = Layout.of(settings)
    if settings.vault_key:
        return parse_key(settings.vault_key.get_secret_value())
    if layout.vault_key_file is None or not layout.vault_key_file.exists():
        raise MaintenanceError(f"no vault key at {layout.vault_key_file}: there is no vault to rotate")
    return parse_key(layout.vault_key_file.read_bytes())


def _engine(settings: Settings) -> sa.Engine:
    url = vault_url(settings)
    return sa.create_engine(url, connect_args={"timeout": 30} if url.startswith("sqlite") else {})


def _opens(engine: sa.Engine, key: bytes) -> bool:
    try:
        Vault(engine, key)
    except VaultKeyError:
        return False
    return True


def _staged_spool(layout: Layout) -> Path:
    return layout.spool.with_name(layout.spool.name + ".rekey")


def _commit_spool(layout: Layout) -> int:
    staged = _staged_spool(layout)
    if not staged.exists():
        return 0
    moved = 0
    for path in sorted(staged.glob("*.bin")):
        os.replace(path, layout.spool / path.name)
        moved += 1
    shutil.rmtree(staged)
    return moved


def resume_interrupted(settings: Settings) -> RotationResult | None:
    """Finish (or discard) a rotation a crash interrupted; None when there was none."""
    layout = Layout.of(settings)
    pending = layout.vault_key_file.with_name("vault.key.next") if layout.vault_key_file else None
    if pending is None or not pending.exists():
        return None
    engine = _engine(settings)
    try:
        committed = _opens(engine, parse_key(pending.read_bytes()))
    finally:
        engine.dispose()
    if not committed:  # the transaction never committed: the old key is still the one
        pending.unlink()
        shutil.rmtree(_staged_spool(layout), ignore_errors=True)
        return None
    moved = _commit_spool(layout)
    os.replace(pending, layout.vault_key_file)
    return RotationResult(entries=0, pages=0, spool_files=moved, key_file=layout.vault_key_file, resumed=True)


def rotate_vault_key(settings: Settings, new: bytes | None = None) -> RotationResult:
    """Re-encrypt the vault (and spool) under ``new`` (generated when None); see the
    module docstring for the steps and what a crash leaves behind."""
    layout = Layout.of(settings)
    with service_stopped(settings):
        resumed = resume_interrupted(settings)
        if resumed is not None:
            return resumed
        if settings.vault_key and new is None:
            raise MaintenanceError(
                "the vault key comes from DOCINTEL_VAULT_KEY: give the new key with --new-key-file, "
                "then put it in DOCINTEL_VAULT_KEY before starting the API"
            )
        old = current_vault_key(settings)
        new = new if new is not None else new_key()
        if new == old:
            raise MaintenanceError("the new vault key is the current one")
        engine = _engine(settings)
        try:
            vault = Vault(engine, old)  # VaultKeyError: the configured key is not this vault's
            with engine.connect() as conn:
                entries = conn.execute(sa.select(sa.func.count()).select_from(vault.entries)).scalar_one()
                pages = conn.execute(sa.select(sa.func.count()).select_from(vault.pages)).scalar_one()
            pending = None
            if layout.vault_key_file is not None:
                pending = layout.vault_key_file.with_name("vault.key.next")
                write_key_file(pending, new)
            spool_files = _restage_spool(layout, old, new)
            vault.rotate_key(new)  # one transaction: every entry and page, or none
        finally:
            engine.dispose()
        _commit_spool(layout)
        if pending is not None:
            os.replace(pending, layout.vault_key_file)  # the single step: new key current
        return RotationResult(entries=entries, pages=pages, spool_files=spool_files,
                              key_file=layout.vault_key_file)


def _restage_spool(layout: Layout, old: bytes, new: bytes) -> int:
    if not layout.spool.exists():
        return 0
    files = sorted(layout.spool.glob("*.bin"))
    if not files:
        return 0
    source, target = Spool(layout.spool, old), Spool(_staged_spool(layout), new)
    for path in files:
        data = source.get(path.stem)
        if data is not None:
            target.put(path.stem, data)
    return len(files)
