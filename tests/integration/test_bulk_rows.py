"""db/bulk.py's many-row statements, on SQLite (executemany) and PostgreSQL (unnest): every row
written as given, the ids returned, only the rows named updated."""

from datetime import UTC, datetime

from sqlalchemy import select

from workflow.db.bulk import insert_rows, update_rows
from workflow.db.models import Plan

plans = Plan.__table__
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def plan(key: str, down: int, up: int = 100, retired: datetime | None = None) -> dict:
    return {
        "name": key.upper(),
        "name_key": key,
        "download_kbps": down,
        "upload_kbps": up,
        "retired_at": retired,
        "created_at": NOW,
        "updated_at": NOW,
    }


def rows(db) -> dict[str, tuple]:
    with db.read() as session:
        found = session.connection().execute(
            select(plans.c.id, plans.c.name_key, plans.c.download_kbps, plans.c.upload_kbps, plans.c.retired_at)
        )
        return {r.name_key: (r.id, r.download_kbps, r.upload_kbps, r.retired_at) for r in found}


def test_insert_returns_the_ids_written(db):
    with db.write_core() as conn:
        returned = insert_rows(conn, plans, [plan("a", 1), plan("b", 2), plan("c", 3)], returning=("name_key", "id"))
        assert insert_rows(conn, plans, [], returning=("id",)) == []
    written = rows(db)
    assert dict(returned) == {key: found[0] for key, found in written.items()}
    assert {key: found[1:] for key, found in written.items()} == {
        "a": (1, 100, None),
        "b": (2, 100, None),
        "c": (3, 100, None),
    }


def test_update_changes_each_named_row_and_only_those(db):
    later = datetime(2026, 12, 1, tzinfo=UTC)
    with db.write_core() as conn:
        insert_rows(conn, plans, [plan("a", 1), plan("b", 2), plan("c", 3)])
    with db.write_core() as conn:
        update_rows(
            conn,
            plans,
            "name_key",
            [
                {"name_key": "c", "download_kbps": 30, "upload_kbps": 7, "retired_at": later},
                {"name_key": "a", "download_kbps": 10, "upload_kbps": 7, "retired_at": None},
            ],
        )
        update_rows(conn, plans, "name_key", [])
    after = {key: found[1:] for key, found in rows(db).items()}
    assert after == {"a": (10, 7, None), "b": (2, 100, None), "c": (30, 7, later)}
    with db.write_core() as conn:  # one row: every column "the same in every row", bound once
        update_rows(
            conn, plans, "name_key", [{"name_key": "b", "download_kbps": 20, "upload_kbps": 8, "retired_at": None}]
        )
    assert rows(db)["b"][1:] == (20, 8, None)
