"""The shipped migrations build exactly the schema the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from workflow.db import migrate
from workflow.db.models import Base
from workflow.db.radius_tables import RADIUS_TABLES


def test_migrations_match_the_models(db):
    assert migrate.is_up_to_date(db.engine)
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "include_name": lambda name, kind, _: not (kind == "table" and name in RADIUS_TABLES),
            },
        )
        assert compare_metadata(context, Base.metadata) == []


def test_upgrade_twice_is_harmless(db):
    migrate.upgrade(db.engine)
    assert migrate.current_revision(db.engine) == migrate.head_revision()
