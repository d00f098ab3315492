"""What offline maintenance (backup, restore, vault-key rotation) needs to know about a
deployment: where each part lives, and proof that no API process is running.

The proof is the embedded index's own lock: Qdrant local mode holds an exclusive
``flock`` on ``<qdrant path>/.lock`` for as long as a process has the index open, and
the API process always has it open. ``service_stopped`` takes that same lock, so a
command holding it knows that no server runs, and no server can start until it is
done. With a Qdrant server (``DOCINTEL_QDRANT_URL``) there is no such lock: the
operator stops every API process first (the README says so).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from services.api.settings import Settings


class MaintenanceError(RuntimeError):
    """A maintenance command refuses to run; the message says why and what to do."""


class ServiceRunning(MaintenanceError):
    pass


@dataclass(frozen=True)
class Layout:
    """Where the parts of one deployment live (``None``: not a local file)."""

    data_dir: Path
    registry_db: Path | None
    """SQLite file of the registry and the audit trail (None: PostgreSQL)."""
    vault_db: Path | None
    index_dir: Path | None
    """Embedded Qdrant folder (None: a Qdrant server, or in-memory)."""
    audit_head: Path
    spool: Path
    vault_key_file: Path | None
    """The generated key file (None when the key comes from DOCINTEL_VAULT_KEY)."""
    audit_key_file: Path | None

    @staticmethod
    def of(settings: Settings) -> Layout:
        data = settings.data_dir
        index = None
        if not settings.qdrant_url and settings.resolved_qdrant_path != ":memory:":
            index = Path(settings.resolved_qdrant_path)
        return Layout(
            data_dir=data,
            registry_db=sqlite_path(settings.resolved_database_url),
            vault_db=sqlite_path(vault_url(settings)),
            index_dir=index,
            audit_head=data / "audit.head",
            spool=data / "spool",
            vault_key_file=None if settings.vault_key else data / "vault.key",
            audit_key_file=None if settings.audit_key else data / "audit.key",
        )


def vault_url(settings: Settings) -> str:
    """The vault database URL (the container builds the vault from the same rule)."""
    return settings.vault_database_url or f"sqlite:///{settings.data_dir / 'vault.db'}"


def sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


@contextmanager
def service_stopped(settings: Settings) -> Iterator[None]:
    """Hold the embedded index's lock for the duration (see the module docstring);
    ``ServiceRunning`` when an API process has it."""
    index_dir = Layout.of(settings).index_dir
    if index_dir is None or not index_dir.exists():
        yield
        return
    import portalocker  # qdrant-client's own locking library, same flags as local mode

    lock_path = index_dir / ".lock"
    lock_path.touch(exist_ok=True)
    with lock_path.open("r+") as handle:
        try:
            portalocker.lock(handle, portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING)
        except portalocker.exceptions.LockException:
            raise ServiceRunning(
                f"the embedded index {index_dir} is open in a running docintel server: stop it first"
            ) from None
        try:
            yield
        finally:
            portalocker.unlock(handle)
