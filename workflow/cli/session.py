"""The database a command works on, and who the command acts as."""

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from ..db import migrate
from ..db.engine import Database
from ..domain.vocabulary import Role
from ..settings import Settings, get_settings
from ..usecases import transitions
from .errors import fail


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # e.g. a container uid with no passwd entry
        return f"uid{os.getuid()}"


CLI_ACTOR = transitions.Actor(name=f"cli:{_login()}", role=Role.ADMIN)


def open_database(settings: Settings) -> Database:
    """The embedded default migrates itself; a server database must be migrated on purpose."""
    db = Database(settings.resolved_database_url)
    if db.is_sqlite:
        migrate.upgrade(db.engine)
    elif not migrate.is_up_to_date(db.engine):
        fail("the database schema is not up to date: run `ativa db upgrade`")
    return db


def install_publisher() -> None:
    """Effects a write creates are published after commit (the relay catches any miss)."""
    # Imported here: it loads Celery, which the read-only commands never need.
    from ..application import connect_workers

    connect_workers()


@contextmanager
def unit(write: bool = False) -> Iterator[Session]:
    if write:
        install_publisher()
    db = open_database(get_settings())
    try:
        with db.write() if write else db.read() as session:
            yield session
    finally:
        db.dispose()
