"""`ativa billing import FILE` against a real `ativa serve`, on SQLite and PostgreSQL: good events
accepted (a payment reactivating its customer), a malformed line and an unknown customer rejected
into the file beside it, a duplicate counted, the exit codes; a re-import all duplicates; a server
that is down or holds another secret stopping the command in one line."""

import base64
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests.e2e.billing_support import NEW_SECRET, OLD_SECRET, delinquent_customer, invoice, new_customer, status
from tests.support import ATIVA, free_port, serving_api
from workflow.db.models import BillingEvent

OTHER_SECRET = "whsec_" + base64.b64encode(b"somebody-else-entirely-32-bytes!").decode()


@pytest.fixture
def server(db, tmp_path):
    """`ativa serve --no-worker` on the test's database, taking both secrets (a rotation); its URL."""
    secrets = {"ATIVA_DATABASE_URL": db.url, "ATIVA_BILLING_INBOUND_SECRET": f"{OLD_SECRET},{NEW_SECRET}"}
    with serving_api(tmp_path, secrets) as base:
        yield base


def ativa(tmp_path: Path, *args: str, url: str | None = None, secret: str | None = NEW_SECRET):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATIVA_")}
    env.update(COLUMNS="200", ATIVA_DATA_DIR=str(tmp_path / "cli-var"))
    if url is not None:
        env["ATIVA_URL"] = url
    if secret is not None:
        env["ATIVA_BILLING_INBOUND_SECRET"] = secret
    done = subprocess.run(
        [str(ATIVA), *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def one_error_line(done: subprocess.CompletedProcess) -> str:
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    return errors[0]


def line(event_id: str, kind: str, **data) -> str:
    return json.dumps({"id": event_id, "type": f"invoice.{kind}", "data": data}, ensure_ascii=False)


def test_a_file_is_imported_rejected_lines_written_beside_it_and_a_reimport_is_all_duplicates(db, server, tmp_path):
    customer = new_customer(db, 0, ref="ERP-7")
    delinquent, owed = delinquent_customer(db, 1)
    assert status(db, delinquent) == ("inactive", "delinquency")
    events = tmp_path / "eventos.jsonl"
    unknown = line("ev-4", "paid", invoice_id="INV-X", customer_id=999_999)
    lines = [
        line("ev-1", "created", invoice_id="INV-1", customer_ref="ERP-7", amount="89.90", due_date="2026-12-10"),
        line("ev-2", "paid", invoice_id=owed, customer_id=delinquent),
        "",
        '{"id": "ev-3", "type": "invoice.paid", "data": ',  # cut short
        unknown,
        line("ev-1", "paid", invoice_id="INV-1", customer_ref="ERP-7"),  # the id again: a duplicate
        line("ev-5", "created", invoice_id="INV-5", customer_id=customer, amount="10.00", due_date="2026-12-20"),
    ]
    events.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")

    first = ativa(tmp_path, "billing", "import", str(events), "--batch-size", "2", url=server)
    assert first.returncode == 1, first.stderr
    rejected = tmp_path / "eventos.jsonl.rejected.jsonl"
    assert first.stdout.splitlines() == [
        "6 line(s): accepted 3, duplicate 1, rejected 2, reactivated 1",
        f"rejected lines written to {rejected}",
    ]
    assert "import eventos.jsonl: 6/6 lines, batch 3/3" in first.stderr  # plain progress: not a terminal
    written = [json.loads(text) for text in rejected.read_text(encoding="utf-8").splitlines()]
    assert [(r["line"], r["id"], r["text"]) for r in written] == [(4, None, lines[3]), (5, "ev-4", unknown)]
    assert written[0]["problem"].startswith("not JSON")
    assert written[1]["problem"] == "unknown customer 999999"
    assert status(db, delinquent)[0] == "active"
    assert (str(invoice(db, "INV-1").amount), invoice(db, "INV-5").status) == ("89.90", "open")

    again = ativa(tmp_path, "billing", "import", str(events), "--json", url=server)
    assert again.returncode == 1, again.stderr
    assert json.loads(again.stdout) == {
        "lines": 6,
        "accepted": 0,
        "duplicate": 4,
        "rejected": 2,
        "reactivated": 0,
        "rejected_file": str(rejected),
    }
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(BillingEvent)) == 3

    clean = tmp_path / "limpo.jsonl"
    clean.write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")
    reimported = ativa(tmp_path, "billing", "import", str(clean), url=server)
    assert reimported.returncode == 0, reimported.stderr
    assert reimported.stdout.splitlines() == ["2 line(s): accepted 0, duplicate 2, rejected 0, reactivated 0"]
    assert not (tmp_path / "limpo.jsonl.rejected.jsonl").exists()


def test_hostile_lines_are_rejected_one_by_one_and_the_good_one_still_recorded(db, server, tmp_path):
    cid = new_customer(db, 0)
    good = line("ev-ok", "created", invoice_id="INV-OK", customer_id=cid, amount="1.00", due_date="2026-12-10")
    hostile = [
        b'{"id": "ev-\\u0000", "type": "invoice.paid", "data": {"invoice_id": "I", "customer_id": 1}}',
        b'{"id": "ev-\\ud800", "type": "invoice.paid", "data": {"invoice_id": "I", "customer_id": 1}}',
        b'{"id": "ev-nul\x00", "type": "invoice.paid", "data": {"invoice_id": "I", "customer_id": 1}}',
        b'{"id": "ev-\xff", "type": "invoice.paid", "data": {"invoice_id": "I", "customer_id": 1}}',
        b'{"id": "ev-big", "type": "invoice.paid", "data": {"invoice_id": "I", "customer_id": 9223372036854775808}}',
        b'{"id": "ev-y1", "type": "invoice.created", "data": {"invoice_id": "I", "customer_id": 1, '
        b'"amount": "1.00", "due_date": "0001-01-01"}}',
    ]
    events = tmp_path / "eventos.jsonl"
    events.write_bytes(b"\n".join([*hostile, good.encode()]) + b"\n")
    done = ativa(tmp_path, "billing", "import", str(events), url=server)
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines()[0] == "7 line(s): accepted 1, duplicate 0, rejected 6, reactivated 0"
    written = [json.loads(text) for text in (tmp_path / "eventos.jsonl.rejected.jsonl").read_text().splitlines()]
    assert [r["line"] for r in written] == [1, 2, 3, 4, 5, 6]
    assert all(r["problem"] for r in written)
    assert invoice(db, "INV-OK") is not None and invoice(db, "I") is None


@contextmanager
def flaky_proxy(target: str, script: list[str]) -> Iterator[tuple[str, list[str]]]:
    """A loopback proxy in front of the server: each POST takes the next step of `script`
    ("503": answered so, not forwarded; "lose": forwarded, then the connection closed unanswered;
    then forwarded as is). Yields its URL and the webhook-id of every POST it got."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers["content-length"]))
            seen.append(self.headers["webhook-id"])
            step = script.pop(0) if script else "pass"
            if step == "503":
                self.send_response(503)
                self.send_header("content-length", "0")
                self.end_headers()
                return
            headers = {k: v for k, v in self.headers.items() if k.lower().startswith(("webhook-", "content-type"))}
            answer = httpx.post(target + self.path, content=body, headers=headers, timeout=60)
            if step == "lose":
                self.close_connection = True
                self.connection.shutdown(2)  # the events were recorded; the client never hears it
                return
            self.send_response(answer.status_code)
            self.send_header("content-type", answer.headers["content-type"])
            self.send_header("content-length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    proxy.daemon_threads = True
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{proxy.server_address[1]}", seen
    finally:
        proxy.shutdown()


def test_a_lost_answer_and_a_503_are_retried_and_the_retried_events_come_back_duplicate(db, server, tmp_path):
    cid = new_customer(db, 0)
    events = tmp_path / "eventos.jsonl"
    lines = [line(f"ev-{n}", "created", invoice_id=f"INV-{n}", customer_id=cid, amount="5.00") for n in range(3)]
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with flaky_proxy(server, ["lose", "503"]) as (proxy, seen):
        done = ativa(tmp_path, "billing", "import", str(events), "--batch-size", "2", "--retries", "2", url=proxy)
    assert done.returncode == 0, done.stderr
    # The first batch was recorded, its answer lost, then refused once with a 503: the third POST
    # of the same batch (the same webhook-id) finds its events recorded.
    assert done.stdout.splitlines() == ["3 line(s): accepted 1, duplicate 2, rejected 0, reactivated 0"]
    assert len(seen) == 4 and seen[0] == seen[1] == seen[2] != seen[3]
    assert all(invoice(db, f"INV-{n}") is not None for n in range(3))


def test_a_server_failing_part_way_stops_saying_which_lines_are_done_and_a_rerun_finishes(db, server, tmp_path):
    cid = new_customer(db, 0)
    events = tmp_path / "eventos.jsonl"
    lines = [line(f"ev-{n}", "created", invoice_id=f"INV-{n}", customer_id=cid, amount="5.00") for n in range(5)]
    events.write_text("\n".join(lines[:2]) + "\n\n" + "\n".join(lines[2:]) + "\n", encoding="utf-8")
    with flaky_proxy(server, ["pass", "503", "503"]) as (proxy, _seen):
        stopped = ativa(tmp_path, "billing", "import", str(events), "--batch-size", "2", "--retries", "1", url=proxy)
    assert stopped.returncode == 3
    error = one_error_line(stopped)
    assert error.startswith("error: stopped at lines 4-5: ") and "(2 tries): 503" in error
    assert "lines 1-2 done (accepted 2, duplicate 0, rejected 0, reactivated 0)" in error
    assert stopped.stdout == ""

    rerun = ativa(tmp_path, "billing", "import", str(events), "--batch-size", "2", url=server)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.splitlines() == ["5 line(s): accepted 3, duplicate 2, rejected 0, reactivated 0"]


def test_another_secret_stops_at_the_first_batch_in_one_line(db, server, tmp_path):
    cid = new_customer(db, 0)
    events = tmp_path / "eventos.jsonl"
    events.write_text(line("ev-1", "created", invoice_id="INV-1", customer_id=cid, amount="1.00") + "\n")
    refused = ativa(tmp_path, "billing", "import", str(events), url=server, secret=OTHER_SECRET)
    assert refused.returncode == 3
    error = one_error_line(refused)
    assert "lines 1-1" in error and "401" in error and "no line done" in error
    assert OTHER_SECRET not in refused.stderr + refused.stdout
    assert invoice(db, "INV-1") is None

    unsigned = ativa(tmp_path, "billing", "import", str(events), url=server, secret=None)
    assert unsigned.returncode == 2 and "ATIVA_BILLING_INBOUND_SECRET is not set" in one_error_line(unsigned)


def test_a_server_that_is_down_stops_the_command_saying_how_far_it_got(tmp_path):
    events = tmp_path / "eventos.jsonl"
    events.write_text("not json\n" + line("ev-1", "paid", invoice_id="INV-1", customer_id=1) + "\n")
    down = ativa(tmp_path, "billing", "import", str(events), "--retries", "1", url=f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 3
    error = one_error_line(down)
    assert "lines 1-2" in error and "(2 tries)" in error and "no line done" in error
    assert "running the same command again is safe" in error


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--batch-size", "0"], "--batch-size"),
        (["--batch-size", "1001"], "at most 1000"),
        (["--url", "localhost:8000"], "is not a URL"),
        (["--url", "http://h\x1b[2J"], "control characters"),
        (["--rejected", "."], "is a folder"),
        (["--rejected", "no-such-folder/r.jsonl"], "cannot be written"),
    ],
)
def test_usage_errors_exit_2_before_anything_is_posted(tmp_path, args, words):
    events = tmp_path / "eventos.jsonl"
    events.write_text(line("ev-1", "paid", invoice_id="INV-1", customer_id=1) + "\n")
    done = ativa(tmp_path, "billing", "import", str(events), *args, url="http://127.0.0.1:9")
    assert done.returncode == 2 and words in one_error_line(done)


def test_a_missing_file_or_a_pipe_is_a_usage_error(tmp_path):
    done = ativa(tmp_path, "billing", "import", str(tmp_path / "nada.jsonl"))
    assert done.returncode == 2 and "nada.jsonl" in one_error_line(done)
    os.mkfifo(tmp_path / "pipe")
    done = ativa(tmp_path, "billing", "import", str(tmp_path / "pipe"))
    assert done.returncode == 2 and "is not a regular file" in one_error_line(done)
