from alembic import context

from workflow.db.models import Base
from workflow.db.radius_tables import RADIUS_TABLES

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # FreeRADIUS's tables may share the database: they are not ours to migrate.
        include_name=lambda name, kind, _: not (kind == "table" and name in RADIUS_TABLES),
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
