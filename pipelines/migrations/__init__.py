"""Schema migrations of the registry database (Alembic).

The registry and the audit trail share one database (SQLite by default, PostgreSQL by
URL); their tables are versioned together here. ``upgrade_to_head`` is called by
``Registry`` on open, so a database is always at the schema the code expects:

* a new database gets every table from the revisions;
* a database created before Alembic (``create_all``, no ``alembic_version`` table) is
  upgraded in place: the first revision creates only the tables that are missing and
  leaves existing ones and their rows untouched, then the version is recorded;
* a database stamped with a revision this code does not know (written by a newer
  docintel) is refused rather than guessed at.

Configuration is programmatic (no ``alembic.ini``): the scripts are package data, so
this works from an installed checkout. New revision, for developers::

    python -m pipelines.migrations revision --autogenerate -m "what changed"
"""

from __future__ import annotations

import sys
import threading
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

SCRIPT_LOCATION = Path(__file__).resolve().parent
VERSION_TABLE = "alembic_version"
_POSTGRES_LOCK_ID = 0x646F63696E74  # "docint": one advisory lock id for every docintel process

_upgrade_lock = threading.Lock()


class SchemaError(RuntimeError):
    """The database's schema revision is one this code cannot work with."""


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = _script().get_current_head()
    assert head is not None, "no migration revisions found"
    return head


def known_revisions() -> set[str]:
    return {rev.revision for rev in _script().walk_revisions()}


def current_revision(connectable: Engine | Connection) -> str | None:
    """The revision recorded in the database (None: never migrated)."""
    if isinstance(connectable, Engine):
        with connectable.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    return MigrationContext.configure(connectable).get_current_revision()


def upgrade_to_head(engine: Engine) -> str:
    """Bring the database to the head revision (a no-op when it is there); returns it.

    Refuses (``SchemaError``) a revision unknown to this code. On PostgreSQL an
    advisory lock serialises processes that start together; on SQLite the database's
    own write lock does (the first revision runs in one transaction).
    """
    head = head_revision()
    with _upgrade_lock, engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _POSTGRES_LOCK_ID})
        current = MigrationContext.configure(conn).get_current_revision()
        if current == head:
            return head
        if current is not None and current not in known_revisions():
            raise SchemaError(
                f"the registry database is at schema revision {current!r}, unknown to this version of "
                "docintel (written by a newer one?): upgrade docintel instead of opening it"
            )
        command.upgrade(alembic_config(conn), "head")
    return head


def target_metadata() -> list[sa.MetaData]:
    """The models the migrations must match (the autogenerate drift test compares them)."""
    from pipelines.audit import audit_metadata
    from pipelines.registry import metadata

    return [metadata, audit_metadata]


def schema_differences(engine: Engine) -> list:
    """What ``alembic revision --autogenerate`` would write: [] when the database built by
    the migrations matches the models (types included)."""
    from alembic.autogenerate import compare_metadata

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "target_metadata": target_metadata()}
        )
        merged = sa.MetaData()
        for md in target_metadata():
            for table in md.tables.values():
                table.to_metadata(merged)
        return compare_metadata(context, merged)


def main(argv: list[str] | None = None) -> int:  # pragma: no cover (developer tool)
    """``python -m pipelines.migrations revision --autogenerate -m MSG [--url URL]``;
    autogenerate compares against a database at head (a temporary SQLite one by default)."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m pipelines.migrations")
    sub = parser.add_subparsers(dest="cmd", required=True)
    rev = sub.add_parser("revision")
    rev.add_argument("-m", "--message", required=True)
    rev.add_argument("--autogenerate", action="store_true")
    rev.add_argument("--url", default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        engine = sa.create_engine(args.url or f"sqlite:///{tmp}/head.db")
        upgrade_to_head(engine)
        with engine.begin() as conn:
            command.revision(alembic_config(conn), message=args.message, autogenerate=args.autogenerate)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
