"""`ativa db`: the database schema."""

from ..db import migrate
from ..db.engine import Database
from ..settings import get_settings
from ..usecases.radius.enforcement import prepare as prepare_radius
from . import groups
from .console import out


@groups.db.command("upgrade")
def db_upgrade():
    """Apply the migrations up to the newest schema, and create FreeRADIUS's tables where they live."""
    settings = get_settings()
    db = Database(settings.resolved_database_url)
    try:
        migrate.upgrade(db.engine)
        out.print(f"schema at revision {migrate.current_revision(db.engine)}")
        out.print(prepare_radius(db, settings))
    finally:
        db.dispose()
