"""``docintel backup DEST`` / ``docintel restore SRC``: an offline, verifiable copy of
one deployment.

What is copied (each part only when it is a local file; see ``Layout``):

* the registry and the audit trail (one SQLite database): through SQLite's online
  backup API, so the copy is a consistent database even if something wrote meanwhile;
* the vault database (SQLite backup API too);
* the embedded Qdrant folder, file by file, **while holding the index's own lock**
  (``services.maintenance.service_stopped``): a running API holds that lock, so the
  backup refuses to run until the API is stopped, and no API can start during it.
  Qdrant local mode has no snapshot of its own, so a consistent copy needs the
  writer stopped; the downtime is the copy time;
* the audit head checkpoint (``audit.head``) and the upload spool;
* the vault and audit keys **only with** ``--include-keys``: a backup holding the vault
  and its key can re-identify everyone, so by default keys stay where they are (the
  data dir or the secret manager) and are backed up apart.

Not copied, and said so in the manifest and on the console: a PostgreSQL registry or
vault (use ``pg_dump`` / PITR at the same time; the manifest records the schema
revision), and a Qdrant server's collections (use its snapshot API,
``POST /collections/{name}/snapshots``, for every physical collection listed in the
manifest).

``manifest.json`` (written last; the folder is renamed into place only when complete)
lists every file with its size and sha256, the format version, the docintel, schema
and library versions, and the embedders the collections are pinned to. ``restore``
checks all of it before touching anything, stages the copy next to the target,
checks that the configured keys open the restored vault and verify the restored audit
chain, and only then swaps it in; a non-empty target is refused without ``--force``
(with it, what was there is moved aside to ``*.pre-restore-<time>``, never deleted).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from pipelines import migrations
from services.api.settings import Settings
from services.maintenance import Layout, MaintenanceError, service_stopped

FORMAT = "docintel-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
Progress = Callable[[str, int, int], None]
"""(what, bytes done, bytes total)"""


class BackupError(MaintenanceError):
    pass


def _noop(_what: str, _done: int, _total: int) -> None:
    pass


def _version(package: str) -> str:
    try:
        return importlib_metadata.version(package)
    except importlib_metadata.PackageNotFoundError:
        return "unknown"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _sqlite_copy(source: Path, target: Path, report: Callable[[int], None]) -> None:
    """SQLite's online backup API: a consistent copy page by page (WAL content included)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        page_size = src.execute("PRAGMA page_size").fetchone()[0]
        src.backup(dst, pages=1024, progress=lambda _s, remaining, total: report((total - remaining) * page_size))
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    finally:
        dst.close()
        src.close()


def _copy_tree(source: Path, target: Path, report: Callable[[int], None], *, skip: set[str] = frozenset()) -> None:
    done = 0
    for path in sorted(source.rglob("*")):
        if path.name in skip:
            continue
        out = target / path.relative_to(source)
        if path.is_dir():
            out.mkdir(parents=True, exist_ok=True)
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, out)
        done += path.stat().st_size
        report(done)
    target.mkdir(parents=True, exist_ok=True)


def _fsync_tree(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())


@dataclass
class BackupResult:
    path: Path
    manifest: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def _registry_facts(settings: Settings) -> tuple[str | None, list[str], list[str]]:
    """(schema revision, embedders in use, physical index collections) of the live registry."""
    from pipelines.indexing.qdrant_index import physical_collection_name
    from pipelines.registry import collections_t

    engine = sa.create_engine(settings.resolved_database_url)
    try:
        revision = migrations.current_revision(engine)
        with engine.connect() as conn:
            rows = conn.execute(sa.select(collections_t)).all() if sa.inspect(conn).has_table("collections") else []
    finally:
        engine.dispose()
    embedders = sorted({f"{r.embedder} {r.embedder_version}" for r in rows})
    physical = sorted(physical_collection_name(r.tenant, r.name, r.embedder, r.embedder_version, r.generation)
                      for r in rows)
    return revision, embedders, physical


def create_backup(settings: Settings, dest: Path, *, include_keys: bool = False,
                  progress: Progress = _noop) -> BackupResult:
    """Write a complete backup to ``dest`` (a new or empty folder). Refuses while an API
    process holds the embedded index."""
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"{dest} exists and is not empty: give a new folder")
    layout = Layout.of(settings)
    if not layout.data_dir.exists():
        raise BackupError(f"no data dir at {layout.data_dir}: nothing to back up")
    warnings: list[str] = []
    with service_stopped(settings):
        revision, embedders, physical = _registry_facts(settings)
        work = dest.with_name(dest.name + ".partial")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        parts: dict[str, str] = {}
        sources: list[tuple[str, Path, str]] = []  # (name in backup, source, kind)
        for name, path, label in (("registry.db", layout.registry_db, "registry"),
                                  ("vault.db", layout.vault_db, "vault")):
            if path is None:
                parts[label] = "external"
                warnings.append(f"the {label} is not a local SQLite file: back it up with pg_dump at the same time")
            elif path.exists():
                parts[label] = "sqlite"
                sources.append((name, path, "sqlite"))
            else:
                parts[label] = "absent"
        if layout.index_dir is None:
            parts["index"] = "external"
            warnings.append("the index is a Qdrant server: snapshot these collections with its snapshot API: "
                            + ", ".join(physical or ["(none)"]))
        elif layout.index_dir.exists():
            parts["index"] = "embedded"
            sources.append(("qdrant", layout.index_dir, "tree"))
        else:
            parts["index"] = "absent"
        if layout.audit_head.exists():
            sources.append(("audit.head", layout.audit_head, "file"))
        if layout.spool.exists():
            sources.append(("spool", layout.spool, "tree"))
        keys_copied = []
        for name, path in (("vault.key", layout.vault_key_file), ("audit.key", layout.audit_key_file)):
            if path is not None and path.exists():
                if include_keys:
                    sources.append((f"keys/{name}", path, "file"))
                    keys_copied.append(name)
                else:
                    warnings.append(f"{path} is not in the backup (--include-keys): keep a copy of it apart, "
                                    "the restored vault and audit trail need it")
        parts["keys"] = ",".join(keys_copied) or "none"

        total = sum(_tree_size(src) for _, src, _ in sources) or 1
        base = 0
        for name, src, kind in sources:
            def report(done: int, _name=name, _base=base) -> None:
                progress(_name, min(total, _base + done), total)

            target = work / name
            if kind == "sqlite":
                _sqlite_copy(src, target, report)
            elif kind == "tree":
                _copy_tree(src, target, report, skip={".lock"})
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, target)
            base += _tree_size(src)
            progress(name, min(total, base), total)
        for key_file in (work / "keys").glob("*.key"):
            key_file.chmod(0o600)

        files = {
            str(p.relative_to(work)): {"size": p.stat().st_size, "sha256": _sha256(p)}
            for p in sorted(work.rglob("*")) if p.is_file()
        }
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": {
                "docintel": _version("docintel"), "registry_schema": revision, "qdrant_client": _version("qdrant-client"),
                "sqlalchemy": _version("sqlalchemy"), "python": platform.python_version(),
            },
            "parts": parts,
            "embedders": embedders,
            "index_collections": physical,
            "files": files,
        }
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        _fsync_tree(work)
        if dest.exists():
            dest.rmdir()
        os.replace(work, dest)
    return BackupResult(dest, manifest, warnings)


def verify_backup(src: Path) -> dict[str, Any]:
    """The manifest of a complete, undamaged backup; ``BackupError`` naming every
    missing, altered or unexpected file otherwise."""
    src = Path(src)
    manifest_path = src / MANIFEST
    if not manifest_path.is_file():
        raise BackupError(f"{src} is not a docintel backup (no {MANIFEST}; an interrupted backup has none)")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BackupError(f"{manifest_path} is damaged (not JSON)") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict):
        raise BackupError(f"{manifest_path} is not a docintel backup manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"backup format version {manifest.get('format_version')} is not supported "
                          f"(this docintel reads version {FORMAT_VERSION})")
    problems = []
    for name, expected in sorted(manifest["files"].items()):
        path = src / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif path.stat().st_size != expected.get("size"):
            problems.append(f"{name}: size {path.stat().st_size}, expected {expected.get('size')}")
        elif _sha256(path) != expected.get("sha256"):
            problems.append(f"{name}: content altered (sha256 mismatch)")
    listed = set(manifest["files"]) | {MANIFEST}
    problems += [f"{p.relative_to(src)}: not in the manifest" for p in sorted(src.rglob("*"))
                 if p.is_file() and str(p.relative_to(src)) not in listed]
    if problems:
        raise BackupError("the backup is damaged, nothing was restored:\n  " + "\n  ".join(problems))
    revision = manifest.get("versions", {}).get("registry_schema")
    if revision is not None and revision not in migrations.known_revisions():
        raise BackupError(f"the backup's registry is at schema revision {revision!r}, unknown to this docintel "
                          "(made by a newer version): restore it with that version")
    return manifest


@dataclass
class RestoreResult:
    manifest: dict[str, Any]
    moved_aside: list[Path]


def _non_empty(path: Path | None) -> bool:
    if path is None or not path.exists():
        return False
    return path.is_file() or any(path.iterdir())


def _key_source(configured, staged: Path, existing: Path | None) -> bytes | None:
    from pipelines.anonymising.vault import parse_key

    if configured:
        return parse_key(configured.get_secret_value())
    for path in (staged, existing):
        if path is not None and path.exists():
            return parse_key(path.read_bytes())
    return None


def _check_keys(settings: Settings, stage: Path, layout: Layout) -> None:
    """The keys the restored service will use must open the restored vault and verify
    the restored audit chain; refuse before anything is swapped in otherwise."""
    from pipelines.anonymising.vault import Vault, VaultKeyError
    from pipelines.audit import AuditLog

    if (stage / "vault.db").exists():
        key = _key_source(settings.vault_key, stage / "keys" / "vault.key", layout.vault_key_file)
        if key is None:
            raise BackupError("no vault key: the backup has none (--include-keys) and neither DOCINTEL_VAULT_KEY "
                              f"nor {layout.vault_key_file} is set; put the key back first")
        engine = sa.create_engine(f"sqlite:///{stage / 'vault.db'}")
        try:
            Vault(engine, key)
        except VaultKeyError:
            raise BackupError("the vault key in use does not open the backup's vault (rotated since?): "
                              "restore with the key the backup was made with") from None
        finally:
            engine.dispose()
    if (stage / "registry.db").exists():
        key = _key_source(settings.audit_key, stage / "keys" / "audit.key", layout.audit_key_file)
        if key is None:
            raise BackupError("no audit key: the backup has none (--include-keys) and neither DOCINTEL_AUDIT_KEY "
                              f"nor {layout.audit_key_file} is set; put the key back first")
        engine = sa.create_engine(f"sqlite:///{stage / 'registry.db'}")
        try:
            head = stage / "audit.head"
            problems = AuditLog(engine, key, head if head.exists() else None).verify()
        finally:
            engine.dispose()
        if problems:
            first = problems[0]
            raise BackupError(f"the backup's audit trail does not verify with the audit key in use "
                              f"(record {first.seq}: {first.reason}); nothing was restored")


def restore_backup(settings: Settings, src: Path, *, force: bool = False,
                   progress: Progress = _noop) -> RestoreResult:
    manifest = verify_backup(src)
    src = Path(src)
    layout = Layout.of(settings)
    parts = manifest.get("parts", {})
    for label, target in (("registry", layout.registry_db), ("vault", layout.vault_db), ("index", layout.index_dir)):
        if parts.get(label) in ("sqlite", "embedded") and target is None:
            raise BackupError(f"the backup holds a local {label} but this configuration points it elsewhere "
                              "(a database or Qdrant URL): restore with the backup's kind of configuration")
    targets = [layout.data_dir, layout.registry_db, layout.vault_db, layout.index_dir]
    if any(_non_empty(t) for t in targets) and not force:
        raise BackupError(f"{layout.data_dir} (or the registry, vault or index it uses) is not empty: "
                          "restore into an empty place, or give --force to move what is there aside")
    layout.data_dir.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    with service_stopped(settings):
        stage = layout.data_dir.with_name(f".{layout.data_dir.name}.restoring-{stamp}")
        shutil.rmtree(stage, ignore_errors=True)
        total = sum(int(f["size"]) for f in manifest["files"].values()) or 1
        done = 0
        for name, facts in sorted(manifest["files"].items()):
            out = stage / name
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / name, out)
            done += int(facts["size"])
            progress(name, done, total)
        for key_file in (stage / "keys").glob("*.key"):
            key_file.chmod(0o600)
        try:
            _check_keys(settings, stage, layout)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise

        # Keys that were validated from the current data dir must survive the move aside.
        for name, path in (("vault.key", layout.vault_key_file), ("audit.key", layout.audit_key_file)):
            if path is not None and path.exists() and not (stage / "keys" / name).exists():
                (stage / "keys").mkdir(exist_ok=True)
                shutil.copy2(path, stage / "keys" / name)

        moved: list[Path] = []
        for target in dict.fromkeys(t for t in targets if t is not None):
            if target.exists() and (target == layout.data_dir or not target.is_relative_to(layout.data_dir)):
                aside = target.with_name(f"{target.name}.pre-restore-{stamp}")
                os.replace(target, aside)
                moved.append(aside)
        layout.data_dir.mkdir(parents=True, exist_ok=True)
        placements = [("registry.db", layout.registry_db), ("vault.db", layout.vault_db), ("qdrant", layout.index_dir),
                      ("audit.head", layout.audit_head), ("spool", layout.spool),
                      ("keys/vault.key", layout.vault_key_file), ("keys/audit.key", layout.audit_key_file)]
        for name, target in placements:
            if target is not None and (stage / name).exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(stage / name, target)
        shutil.rmtree(stage, ignore_errors=True)
    # A restored SQLite registry from an older docintel is brought to this schema now.
    if layout.registry_db is not None and layout.registry_db.exists():
        engine = sa.create_engine(f"sqlite:///{layout.registry_db}")
        try:
            migrations.upgrade_to_head(engine)
        finally:
            engine.dispose()
    return RestoreResult(manifest, moved)

