"""`ativa bulk` and the progress of `ativa sweep`, as real console-script processes on both
databases: the preview (table and JSON) changes nothing, a run here shows its progress and writes
what the job says, the undo of a day's cuts, bad input refused in one line with nothing created,
and Ctrl-C stopping a run between batches."""

import json
import os
import signal
import subprocess
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from tests.conftest import add_invoice, cpf
from tests.support import ATIVA, lock_waiters, wait_for
from workflow.db.models import BulkJob, BulkJobItem, Customer, StatusChange
from workflow.domain.customer_machine import TransitionRequest
from workflow.domain.vocabulary import CustomerEvent, Role, Source
from workflow.settings import get_settings
from workflow.usecases import bulk, customers, transitions
from workflow.usecases.business_day import provider_today
from workflow.usecases.delinquency import SCHEDULER

ADMIN = transitions.Actor("token:admin", Role.ADMIN)
TUESDAY = date(2026, 12, 1)


def environment(db, tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATIVA_")}
    env.update(ATIVA_DATABASE_URL=db.url, ATIVA_DATA_DIR=str(tmp_path / "var"), COLUMNS="200")
    env.update({f"ATIVA_{name.upper()}": value for name, value in settings.items()})
    return env


@pytest.fixture
def ativa(db, tmp_path):
    def run(*args: str, ok: bool = True, answer: str | None = None, **settings: str) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(ATIVA), *args],
            capture_output=True,
            text=True,
            env=environment(db, tmp_path, **settings),
            cwd=tmp_path,
            timeout=120,
            **({"input": answer} if answer is not None else {"stdin": subprocess.DEVNULL}),
        )
        if ok:
            assert result.returncode == 0, (result.stdout, result.stderr)
        return result

    return run


def refused(result: subprocess.CompletedProcess, exit_code: int, *words: str) -> str:
    """The one line a refusal prints on stderr, checked."""
    assert result.returncode == exit_code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0]
    return lines[0]


def new_customer(db, n: int, ref: str | None = None) -> int:
    with db.write() as session:
        return customers.create_customer(session, customers.CustomerDraft(f"Cliente {n}", cpf(n), external_ref=ref)).id


def inactivate(db, customer_id: int, reason: str, *, by_the_sweep: bool = False) -> None:
    actor, source = (SCHEDULER, Source.SCHEDULER) if by_the_sweep else (ADMIN, Source.API)
    request = TransitionRequest(reason, None, actor_role=actor.role, automatic=by_the_sweep)
    with db.write() as session:
        transitions.transition_customer(session, customer_id, CustomerEvent.INACTIVATE, request, actor, source)


def statuses(db, ids: list[int]) -> list[str]:
    with db.read() as session:
        return list(session.scalars(select(Customer.status).where(Customer.id.in_(ids)).order_by(Customer.id)))


def jobs_created(db) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(BulkJob))


def test_dry_run_shows_the_preview_and_a_run_shows_its_progress(db, ativa):
    away = [new_customer(db, n, ref=f"IXC-{n}") for n in range(2)]
    present = new_customer(db, 2, ref="IXC-2")
    for customer_id in away:
        inactivate(db, customer_id, "customer_request")
    chosen = ",".join(map(str, [*away, present]))

    table = ativa(
        "bulk", "activate", "--reason", "customer_return", "--ids", chosen, "--batch-size", "1", "--dry-run"
    ).stdout
    assert "Job 1: activate (customer_return), preview; 3 customer(s) in 3 batch(es)" in table
    rows = {line.split()[1]: line for line in table.splitlines() if line[:1].isdigit()}
    assert "change" in rows[str(away[0])] and "change" in rows[str(away[1])]
    assert "unchanged" in rows[str(present)] and "already active" in rows[str(present)]
    assert "preview: 2 change, 1 unchanged" in table
    assert "run it with: ativa bulk run 1" in table
    assert statuses(db, away) == ["inactive", "inactive"]  # a preview changes nothing

    by_ref = json.loads(
        ativa("bulk", "activate", "--reason", "manual", "--refs", "IXC-1,IXC-0", "--dry-run", "--json").stdout
    )
    assert (by_ref["dry_run"], by_ref["state"], by_ref["selection"]) == (
        True,
        "preview",
        {"customers": 2, "match": "external_ref"},
    )
    assert [(item["customer_id"], item["given"], item["preview"]) for item in by_ref["items"]] == [
        (away[1], "IXC-1", "change"),
        (away[0], "IXC-0", "change"),
    ]

    run = ativa("bulk", "run", "1", "--yes")
    progress = run.stderr.strip().splitlines()
    assert progress[-1].startswith("job 1: 3/3 customers, batch 3/3, ")  # plain lines: no terminal
    assert progress[0].startswith("job 1: 1/3 customers, batch 1/3, ")
    assert "job 1 done: 2 done, 1 unchanged" in run.stdout
    assert statuses(db, away) == ["active", "active"]
    with db.read() as session:
        history = session.execute(
            select(StatusChange.customer_id, StatusChange.reason, StatusChange.source, StatusChange.bulk_job_id)
            .where(StatusChange.event == "activate")
            .order_by(StatusChange.customer_id)
        ).all()
    assert history == [(customer_id, "customer_return", "cli", 1) for customer_id in away]

    status = json.loads(ativa("bulk", "status", "1", "--json").stdout)
    assert (status["state"], status["counts"]["done"], status["counts"]["unchanged"]) == ("done", 2, 1)
    assert status["progress"] == {"done": 3, "total": 3}
    listed = ativa("bulk", "list").stdout
    assert "2 done, 1 unchanged" in " ".join(listed.split()) and "preview" in listed  # job 2 is still a preview

    refused(ativa("bulk", "run", "1", "--yes", ok=False), 1, "bulk job 1 is done (2 done, 1 unchanged)", "[conflict]")
    refused(ativa("bulk", "run", "99", "--yes", ok=False), 1, "bulk job 99 does not exist")
    with db.read() as session:  # nothing ran twice
        assert session.scalar(select(func.count()).where(StatusChange.event == "activate")) == 2

    # A job confirmed but never run (its command killed, no worker): `run` finishes it here.
    inactivate(db, away[1], "customer_request")
    stranded = bulk.create_job(
        db, bulk.BulkRequest("activate", "customer_return", customers=[away[1]]), ADMIN, Source.API
    )
    bulk.confirm_job(db, stranded.id, ADMIN)
    resumed = ativa("bulk", "run", str(stranded.id), "--yes")
    assert f"job {stranded.id} is queued: running its pending batches here" in resumed.stderr
    assert f"job {stranded.id} done: 1 done" in resumed.stdout
    assert statuses(db, [away[1]]) == ["active"]

    # Its batches all ran but the job stayed running (the last worker died before finishing it).
    with db.write() as session:
        session.execute(
            text("UPDATE bulk_jobs SET state = 'running', finished_at = NULL WHERE id = :id"), {"id": stranded.id}
        )
    finished = ativa("bulk", "run", str(stranded.id), "--yes")
    assert f"job {stranded.id} done: 1 done" in finished.stdout
    assert bulk.job_view(db, stranded.id).state == "done"

    not_asked = ativa("bulk", "run", "2", ok=False)  # no --yes and no terminal to answer on
    assert not_asked.returncode == 1 and "job 2 stays a preview" in not_asked.stderr
    cancelled = ativa("bulk", "cancel", "2")
    assert "job 2 cancelled" in cancelled.stdout

    inactivate(db, away[0], "customer_request")
    asked = ativa("bulk", "activate", "--reason", "customer_return", "--ids", str(away[0]), "--json", answer="y\n")
    assert json.loads(asked.stdout)["counts"]["done"] == 1  # stdout: the JSON alone
    assert "Run job 4: activate 1 customer(s)?" in asked.stderr and "preview: 1 change" in asked.stderr


def test_undo_a_days_cuts(db, ativa):
    swept = [new_customer(db, n) for n in range(3)]
    by_hand = new_customer(db, 3)
    for customer_id in [*swept, by_hand]:
        add_invoice(db, customer_id, days_overdue=30)
    for customer_id in swept:
        inactivate(db, customer_id, "delinquency", by_the_sweep=True)
    inactivate(db, by_hand, "delinquency")
    today = provider_today(get_settings().timezone).isoformat()

    refused(ativa("bulk", "undo-cuts", "--date", today, ok=False), 2, "--note")
    helped = " ".join(ativa("bulk", "undo-cuts", "--help").stdout.replace("│", " ").split())
    assert "The cuts at the end of a trust unlock that day (an invoice still past due) are taken too." in helped
    note = "o banco não enviou os pagamentos"
    dry = ativa("bulk", "undo-cuts", "--date", today, "--note", note, "--dry-run").stdout
    assert "activate (manual, forced)" in dry and "preview: 3 change" in dry

    done = json.loads(ativa("bulk", "undo-cuts", "--date", today, "--note", note, "--yes", "--json").stdout)
    assert (done["state"], done["counts"]["done"], done["selection"]) == (
        "done",
        3,
        {"preset": "undo_cuts", "date": today},
    )
    assert statuses(db, [*swept, by_hand]) == ["active", "active", "active", "inactive"]
    with db.read() as session:
        history = session.execute(
            select(StatusChange.reason, StatusChange.forced, StatusChange.note, StatusChange.bulk_job_id).where(
                StatusChange.event == "activate"
            )
        ).all()
    assert history == [("manual", True, note, done["id"])] * 3

    nobody_left = ativa("bulk", "undo-cuts", "--date", today, "--note", note, "--yes", ok=False)
    refused(nobody_left, 2, "no customer matches; nothing was created")


@pytest.mark.parametrize(
    "content, words",
    [
        (b"id\n1\n999\n", ["1 entry names no customer: line 3 999", "nothing was created"]),
        (b"1\nIXC-1\n", ["mixes integer ids and strings", "line 2 'IXC-1'"]),
        (b"nome;id\nAna;1\nBia;abc\n", ["ids must be between 1 and", "line 3 'abc'"]),
        (b"1\n\x002\n", ["line 2: a control character, U+0000"]),
        (b"1\n2\x81\n", ["line 2: byte 0x81 is neither UTF-8 nor Windows-1252"]),
        (b"\n\n", ["names no customer (it is empty)"]),
        (b"1;2\n;3\n", ["line 2: the column of customers is empty"]),
        (b"1\n2\xff\n", ["mixes integer ids and strings", "line 2 '2\xff'"]),  # Windows-1252 is read
    ],
    ids=["unknown-id", "ids-and-refs", "not-an-id", "nul", "not-text", "empty", "empty-cell", "cp1252"],
)
def test_a_bad_file_is_one_line_naming_the_line_and_creates_nothing(db, ativa, tmp_path, content, words):
    new_customer(db, 0)
    (tmp_path / "clientes.csv").write_bytes(content)
    result = ativa("bulk", "activate", "--reason", "manual", "--csv", "clientes.csv", "--dry-run", ok=False)
    refused(result, 2, *words)
    assert jobs_created(db) == 0


def test_a_file_with_a_header_names_its_column(db, ativa, tmp_path):
    ana = new_customer(db, 0, ref="IXC-7")
    bia = new_customer(db, 1)
    (tmp_path / "refs.csv").write_text("nome;ref\nAna;IXC-7\n", encoding="utf-8-sig")
    (tmp_path / "docs.csv").write_text(f"cpf\n{cpf(1)[:3]}.{cpf(1)[3:6]}.{cpf(1)[6:9]}-{cpf(1)[9:]}\n")
    by_ref = json.loads(
        ativa(
            "bulk", "inactivate", "--reason", "other", "--note", "x", "--csv", "refs.csv", "--dry-run", "--json"
        ).stdout
    )
    assert [(i["customer_id"], i["given"]) for i in by_ref["items"]] == [(ana, "IXC-7")]
    by_document = json.loads(
        ativa(
            "bulk", "inactivate", "--reason", "other", "--note", "x", "--csv", "docs.csv", "--dry-run", "--json"
        ).stdout
    )
    assert [i["customer_id"] for i in by_document["items"]] == [bia]


@pytest.mark.parametrize(
    "args, exit_code, words",
    [
        (["--ids", "1", "--refs", "IXC-1"], 2, ["exactly one of", "--ids and --refs given"]),
        ([], 2, ["exactly one of"]),
        (["--csv", "missing.csv"], 2, ["cannot read missing.csv"]),
        (
            ["--status", "inactive", "--inactivation-reason", "delinquency"],
            2,
            ["matches no customer", "nothing was created"],
        ),
        (["--ids", "1,x"], 2, ["ids must be between 1 and", "#2 'x'"]),
        (["--ids", "1,9223372036854775808"], 2, ["ids must be between 1 and", "#2 '9223372036854775808'"]),
        (["--refs", "a\x1bb"], 2, ["control characters"]),
        (["--ids", "1", "--match", "id"], 2, ["--match goes with --csv"]),
        (["--cut-date", "0001-01-01"], 2, ["cut_date"]),
        (["--reason", "trust_unlock", "--ids", "1"], 2, ["trust_unlock"]),
    ],
    ids=[
        "ids-and-refs",
        "no-choice",
        "missing-file",
        "nobody",
        "not-an-id",
        "huge-id",
        "escape",
        "match-alone",
        "year-1",
        "trust-unlock",
    ],
)
def test_bad_options_are_one_line_and_create_nothing(db, ativa, args, exit_code, words):
    new_customer(db, 0)
    refused(ativa("bulk", "activate", "--reason", "manual", *args, "--dry-run", ok=False), exit_code, *words)
    assert jobs_created(db) == 0


def test_sweep_shows_its_progress(db, ativa):
    due = [new_customer(db, n) for n in range(3)]
    for customer_id in due:
        add_invoice(db, customer_id, days_overdue=40, today=TUESDAY)
    result = ativa("sweep", "--as-of", TUESDAY.isoformat(), "--json", sweep_batch_size="2", notice_after_days="3")
    assert json.loads(result.stdout)["inactivated"] == due  # stdout keeps the JSON alone
    ladder = [line for line in result.stderr.splitlines() if line.startswith("ladder of 2026-12-01: ")]
    assert ladder[-1].startswith("ladder of 2026-12-01: 3/3 customers, batch 2/2, ")
    lines = [line for line in result.stderr.splitlines() if line.startswith("sweep of 2026-12-01: ")]
    assert lines[0].startswith("sweep of 2026-12-01: 2/3 customers, batch 1/2, ")
    assert lines[-1].startswith("sweep of 2026-12-01: 3/3 customers, batch 2/2, ")


def test_ctrl_c_stops_between_batches_and_cancels_the_rest(pg_db, tmp_path):
    ids = [new_customer(pg_db, n) for n in range(3)]
    for customer_id in ids:
        inactivate(pg_db, customer_id, "customer_request")
    env = environment(pg_db, tmp_path)
    dry = subprocess.run(
        [str(ATIVA), "bulk", "activate", "--reason", "customer_return", "--ids", ",".join(map(str, ids)),
         "--batch-size", "1", "--dry-run", "--json"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=True,
    )  # fmt: skip
    job_id = json.loads(dry.stdout)["id"]
    # The second batch waits for its customer's row, held here: Ctrl-C arrives while it runs.
    with pg_db.engine.connect() as holder:
        holder.execute(text("SELECT 1 FROM customers WHERE id = :id FOR UPDATE"), {"id": ids[1]})
        process = subprocess.Popen(
            [str(ATIVA), "bulk", "run", str(job_id), "--yes"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
        )  # fmt: skip
        try:
            first = process.stderr.readline()
            assert first.startswith(f"job {job_id}: 1/3 customers, batch 1/3"), first
            wait_for(lambda: lock_waiters(pg_db), timeout=60, what="the second batch to wait for its customer's row")
            process.send_signal(signal.SIGINT)
            assert "stopping after this batch" in process.stderr.readline()
        finally:
            holder.rollback()  # the second batch goes on and commits
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, (stdout, stderr)
    assert f"interrupted: job {job_id} cancelled between batches (2 done, 1 skipped)" in stderr
    assert "Traceback" not in stderr
    assert statuses(pg_db, ids) == ["active", "active", "inactive"]
    with pg_db.read() as session:
        outcomes = session.execute(
            select(BulkJobItem.customer_id, BulkJobItem.outcome).order_by(BulkJobItem.customer_id)
        ).all()
        state = session.scalar(select(BulkJob.state))
    assert outcomes == [(ids[0], "done"), (ids[1], "done"), (ids[2], "skipped")]
    assert state == "cancelled"
