"""Documents record the anonymiser version their stored pages were pseudonymised with.

A re-index compares it with the running anonymiser's version: when the recognisers
changed, the document is pseudonymised again from its encrypted original pages.
NULL (documents of plain collections, and documents indexed before this revision)
means "unknown": a re-index of a pseudonymised collection treats it as outdated.

A database that ``create_all`` built from the current models already has the column:
it is added only when missing, like 0001 creates only missing tables.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE, _COLUMN = "documents", "anonymiser_version"


def _has_column() -> bool:
    return _COLUMN in {c["name"] for c in sa.inspect(op.get_bind()).get_columns(_TABLE)}


def upgrade() -> None:
    if not _has_column():
        # batch mode: SQLite cannot alter tables in place for every operation.
        with op.batch_alter_table(_TABLE) as batch:
            batch.add_column(sa.Column(_COLUMN, sa.String(64), nullable=True))


def downgrade() -> None:
    if _has_column():
        with op.batch_alter_table(_TABLE) as batch:
            batch.drop_column(_COLUMN)
