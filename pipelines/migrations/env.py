"""Alembic environment: always run with a connection handed over by
``pipelines.migrations`` (programmatic use; there is no alembic.ini and no URL here)."""

from alembic import context

from pipelines.migrations import VERSION_TABLE, target_metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through pipelines.migrations.upgrade_to_head(engine)")

context.configure(
    connection=connection,
    target_metadata=target_metadata(),
    version_table=VERSION_TABLE,
    compare_type=True,
    # SQLite cannot ALTER most things: future revisions get copy-and-move batches.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
