"""Initial schema: the registry (collections, documents, pages, jobs, api_keys) and the
audit trail, as ``create_all`` built them before Alembic.

Databases created by ``create_all`` already have some or all of these tables: only the
missing ones (with their indexes) are created, so existing rows stay untouched.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tables() -> list[tuple[str, list, list[tuple[str, list[str], bool]]]]:
    """(table, columns, [(index name, columns, unique)]): the schema frozen at this
    revision (never import the live models here: they move on, this must not)."""
    return [
        ("collections", [
            sa.Column("tenant", sa.String(64), primary_key=True),
            sa.Column("name", sa.String(128), primary_key=True),
            sa.Column("anonymise", sa.Boolean, nullable=False),
            sa.Column("embedder", sa.String(64), nullable=False),
            sa.Column("embedder_version", sa.String(64), nullable=False),
            sa.Column("pii_entities", sa.JSON, nullable=True),
            sa.Column("generation", sa.Integer, nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        ], []),
        ("documents", [
            sa.Column("id", sa.String(64), primary_key=True),
            sa.Column("tenant", sa.String(64), nullable=False),
            sa.Column("collection", sa.String(128), nullable=False),
            sa.Column("filename", sa.String(512), nullable=False),
            sa.Column("media_type", sa.String(128), nullable=True),
            sa.Column("sha256", sa.String(64), nullable=False),
            sa.Column("size", sa.BigInteger, nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("pages", sa.Integer, nullable=False),
            sa.Column("chunks", sa.Integer, nullable=False),
            sa.Column("pii", sa.JSON, nullable=False),
            sa.Column("acl_groups", sa.JSON, nullable=False),
            sa.Column("tags", sa.JSON, nullable=False),
            sa.Column("error", sa.JSON, nullable=True),
            sa.Column("ocr_pages", sa.JSON, nullable=False),
            sa.Column("job_id", sa.String(64), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        ], [("ix_documents_tenant_collection", ["tenant", "collection", "created_at", "id"], False)]),
        ("pages", [
            sa.Column("document_id", sa.String(64), primary_key=True),
            sa.Column("number", sa.Integer, primary_key=True),
            sa.Column("text", sa.Text, nullable=False),
            sa.Column("blocks", sa.JSON, nullable=False),
            sa.Column("offsets", sa.JSON, nullable=True),
        ], []),
        ("jobs", [
            sa.Column("id", sa.String(64), primary_key=True),
            sa.Column("tenant", sa.String(64), nullable=False),
            sa.Column("kind", sa.String(32), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("collection", sa.String(128), nullable=True),
            sa.Column("document_id", sa.String(64), nullable=True),
            sa.Column("params", sa.JSON, nullable=False),
            sa.Column("progress_done", sa.Integer, nullable=False),
            sa.Column("progress_total", sa.Integer, nullable=False),
            sa.Column("stage", sa.String(32), nullable=True),
            sa.Column("error", sa.JSON, nullable=True),
            sa.Column("result", sa.JSON, nullable=True),
            sa.Column("cancel_requested", sa.Boolean, nullable=False),
            sa.Column("key_id", sa.String(64), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        ], [("ix_jobs_tenant_created", ["tenant", "created_at", "id"], False)]),
        ("api_keys", [
            sa.Column("id", sa.String(32), primary_key=True),
            sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
            sa.Column("tenant", sa.String(64), nullable=False),
            sa.Column("role", sa.String(16), nullable=False),
            sa.Column("groups", sa.JSON, nullable=False),
            sa.Column("source", sa.String(16), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        ], []),
        ("audit", [
            sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("audit_id", sa.String(40), nullable=False, unique=True),
            sa.Column("ts", sa.String(40), nullable=False),
            sa.Column("key_id", sa.String(64), nullable=True),
            sa.Column("tenant", sa.String(64), nullable=True),
            sa.Column("operation", sa.String(32), nullable=False),
            sa.Column("collection", sa.String(128), nullable=True),
            sa.Column("outcome", sa.String(32), nullable=False),
            sa.Column("details", sa.Text, nullable=False),
            sa.Column("prev_mac", sa.String(64), nullable=False),
            sa.Column("mac", sa.String(64), nullable=False),
        ], [("ix_audit_tenant_ts", ["tenant", "ts"], False)]),
    ]


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for name, columns, indexes in _tables():
        if name in existing:
            continue  # created by create_all before Alembic: kept as it is, rows included
        op.create_table(name, *columns)
        for index_name, index_columns, unique in indexes:
            op.create_index(index_name, name, index_columns, unique=unique)


def downgrade() -> None:
    for name, _columns, _indexes in reversed(_tables()):
        op.drop_table(name)
