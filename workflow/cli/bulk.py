"""`ativa bulk`: activate or inactivate many customers at once, previewed first.

A job is created as a preview (what the machine would do to each customer, nothing changed); the
command shows it, asks, then runs its batches here, in this process, with the same run_batch the
workers use: it needs no worker. Ctrl-C stops it between batches and cancels the rest.
"""

import os
import signal
from collections.abc import Callable
from datetime import date
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Any

import typer
from pydantic import TypeAdapter
from rich.console import Console

from ..domain.bulk import BULK_REASONS, OPEN_STATES, Match, SelectionRefused
from ..domain.customer_list import CustomerList
from ..domain.errors import InvalidInput
from ..domain.vocabulary import (
    CustomerEvent,
    CustomerStatus,
    DelinquencyStage,
    InactivationReason,
    Source,
)
from ..settings import get_settings
from ..usecases import bulk
from ..usecases.progress import BatchesDone, batch_sizes
from . import accept
from .console import err, out, print_json
from .customer_file import CustomerFileError, read_customer_file
from .errors import fail
from .groups import bulk as group
from .options import JSON_OPTION
from .output import local_time, print_table
from .progress import BatchProgress
from .session import CLI_ACTOR, install_publisher, open_database

_MAX_ID_DIGITS = 19  # longer numbers are never parsed whole
INTERRUPTED = 130  # the shell's exit code for a command stopped by Ctrl-C
_JOB = TypeAdapter(bulk.JobView)

DRY_RUN_OPTION = typer.Option(
    False,
    "--dry-run",
    help="Only show what would happen. The preview is kept as a job (nothing changed) that "
    "`ativa bulk run JOB_ID` runs later.",
)
YES_OPTION = typer.Option(False, "--yes", "-y", help="Run without asking.")
SHOW_OPTION = typer.Option(50, "--show", min=0, max=bulk.MAX_ITEMS_PAGE, help="Customers listed in the table.")
BATCH_OPTION = typer.Option(None, "--batch-size", min=1, max=5000, help="Default ATIVA_SWEEP_BATCH_SIZE.")
NOTE_REQUIRED = typer.Option(..., "--note", parser=accept.NOTE, help="Why (written in each customer's history).")
NOTE_OPTIONAL = typer.Option(None, "--note", parser=accept.NOTE, help="Why (written in each customer's history).")
IDS_OPTION = typer.Option(None, "--ids", parser=accept.ANY_TEXT, help="Customer ids, comma-separated: 1,2,3.")
REFS_OPTION = typer.Option(None, "--refs", parser=accept.ANY_TEXT, help="External refs, comma-separated.")
DOCUMENTS_OPTION = typer.Option(None, "--documents", parser=accept.ANY_TEXT, help="CPF/CNPJ, comma-separated.")
CSV_OPTION = typer.Option(
    None,
    "--csv",
    help="A file of ids, external refs or CPF/CNPJ: the first column, or the one its header names "
    "(id, external_ref, document...); UTF-8 or Windows-1252, separated by ; , or tab; at most 3 MB.",
)
MATCH_OPTION = typer.Option(None, "--match", help="What the --csv entries are (default: the header, else ids).")
STATUS_OPTION = typer.Option(None, "--status", help="Filter: customers with this status now.")
INACTIVATION_REASON_OPTION = typer.Option(None, "--inactivation-reason", help="Filter: inactive for this reason.")
SOURCE_OPTION = typer.Option(None, "--source", help="Filter: whose latest status change came from this source.")
CUT_DATE_OPTION = typer.Option(
    None, "--cut-date", parser=accept.iso_date, help="Filter: inactive since that day (YYYY-MM-DD, provider time)."
)
STAGE_OPTION = typer.Option(None, "--stage", help="Filter: at this collection stage.")


def _as_id(entry: str) -> int | str:
    """A number as an id (longer than any id: left as text, for the job to refuse by its line)."""
    return int(entry) if entry.isascii() and entry.isdigit() and len(entry) <= _MAX_ID_DIGITS else entry


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _selection(
    ids: str | None,
    refs: str | None,
    documents: str | None,
    csv_file: Path | None,
    match: Match | None,
    wanted: bulk.BulkFilter,
) -> tuple[dict, CustomerList | None]:
    """The BulkRequest's selection fields from the options (exactly one way of choosing), and the
    file read, whose line numbers name refused entries."""
    given = [
        name
        for name, value in (("--ids", ids), ("--refs", refs), ("--documents", documents), ("--csv", csv_file))
        if value is not None
    ]
    if wanted.given():
        given.append("a filter")
    if len(given) != 1:
        choices = (
            "--ids, --refs, --documents, --csv or a filter "
            "(--status, --inactivation-reason, --source, --cut-date, --stage)"
        )
        said = f" ({' and '.join(given)} given)" if given else ""
        fail(f"choose the customers with exactly one of {choices}{said}", 2)
    if match is not None and csv_file is None:
        fail("--match goes with --csv", 2)
    if ids is not None:
        return {"customers": _split(ids), "match": Match.ID.value}, None
    if refs is not None:
        return {"customers": _split(refs), "match": Match.EXTERNAL_REF.value}, None
    if documents is not None:
        return {"customers": _split(documents), "match": Match.DOCUMENT.value}, None
    if csv_file is not None:
        try:
            read = read_customer_file(csv_file, match)
        except CustomerFileError as error:
            fail(str(error), 2)
        if read.match is None:  # nothing says what they are: numbers are ids, as in JSON
            return {"customers": [_as_id(entry) for entry in read.entries], "match": None}, read
        return {"customers": read.entries, "match": read.match.value}, read
    return {"filter": wanted}, None


def _by_line(error: SelectionRefused, read: CustomerList) -> str:
    """The refusal with each entry named by its line of the file instead of its position."""
    why = error.detail.split(": #", 1)[0]
    named = [f"line {read.line_of(entry['position'])} {entry['value']!r}" for entry in error.entries[:20]]
    more = f" and {len(error.entries) - 20} more" if len(error.entries) > 20 else ""
    return f"{why}: {', '.join(named)}{more}; nothing was created"


def _create(request: bulk.BulkRequest, read: CustomerList | None) -> bulk.JobView:
    db = open_database(get_settings())
    try:
        return bulk.create_job(db, request, CLI_ACTOR, Source.CLI)
    except SelectionRefused as error:
        fail(f"{_by_line(error, read) if read is not None else error.detail} [{error.code}]", 2)
    except InvalidInput as error:  # a filter matching nobody, a note too long: bad input, nothing created
        fail(f"{error.detail} [{error.code}]", 2)
    finally:
        db.dispose()


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{count} {outcome}" for outcome, count in counts.items() if count) or "nobody"


def _print_job(view: bulk.JobView, *, preview: bool, console: Console = out) -> None:
    zone = get_settings().timezone
    what = f"{view.action} ({view.reason}{', forced' if view.force else ''})"
    print_table(
        console,
        f"Job {view.id}: {what}, {view.state}; {view.total} customer(s) in {view.batches} batch(es)",
        ["#", "customer", "name", "ref", "would" if preview else "outcome", "why"],
        [
            [
                item.position,
                item.customer_id,
                item.name,
                item.external_ref,
                item.preview if preview else item.outcome,
                (item.preview_detail if preview else item.detail) or "",
            ]
            for item in view.items
        ],
    )
    if len(view.items) < view.total:
        console.print(
            f"… {view.total - len(view.items)} more: ativa bulk status {view.id} --show N --from N", markup=False
        )
    console.print(f"preview: {_counts(view.preview_counts)}", markup=False)
    if not preview:
        console.print(f"outcome: {_counts(view.counts)}; done {view.progress.done}/{view.progress.total}", markup=False)
    console.print(f"created by {view.created_by} at {local_time(view.created_at, zone)} ({zone})", markup=False)


class _StopBetweenBatches:
    """The first Ctrl-C asks to stop after the batch under way (which commits or rolls back whole);
    a second one interrupts at once."""

    def __init__(self) -> None:
        self.asked = False
        self._previous: Callable[[int, FrameType | None], Any] | int | None = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.asked = True
        signal.signal(signal.SIGINT, signal.default_int_handler)
        # os.write, not the console: a handler may run in the middle of the console's own print.
        os.write(2, "stopping after this batch (Ctrl-C again to interrupt at once)…\n".encode())

    def __enter__(self) -> "_StopBetweenBatches":
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        signal.signal(signal.SIGINT, self._previous)


def _run_here(job_id: int, *, as_json: bool) -> None:
    """Confirm the job and run its batches in this process, with a progress bar; Ctrl-C cancels
    the batches not run yet. A job confirmed already (its command died, or no worker takes its
    batches) has its pending batches run here; a batch run twice writes nothing the second time."""
    install_publisher()  # the effects of each batch are published after its commit (the relay catches a miss)
    db = open_database(get_settings())
    try:
        view = bulk.job_view(db, job_id, items_limit=0)
        if view.state in OPEN_STATES:
            err.print(f"job {job_id} is {view.state}: running its pending batches here", markup=False)
        else:
            view = bulk.confirm_job(db, job_id, CLI_ACTOR)  # a job done or cancelled: refused, with its counts
        sizes = batch_sizes(view.total, view.batch_size)
        batches = bulk.next_batches(db, job_id)
        if not batches:  # every batch ran but the job was not finished (its last worker died in between)
            bulk.finish_if_complete(db, job_id)
        stopped_by: str | None = None
        total = sum(sizes[number] for number in batches)
        customers = 0
        with _StopBetweenBatches() as stop, BatchProgress(f"job {job_id}") as progress:
            progress(BatchesDone(0, total, 0, len(batches)))  # the bar shows before the first batch
            try:
                for done, batch in enumerate(batches, start=1):
                    if stop.asked:
                        stopped_by = "ctrl-c"
                        break
                    ran = bulk.run_batch(db, job_id, batch)
                    if ran.skipped_why is not None and ran.skipped_why != "the batch has run already":
                        stopped_by = ran.skipped_why  # cancelled elsewhere meanwhile
                        break
                    customers += sizes[batch]
                    progress(BatchesDone(customers, total, done, len(batches)))
            except KeyboardInterrupt:  # the second Ctrl-C: the batch under way rolled back whole
                stopped_by = "ctrl-c"
        if stopped_by == "ctrl-c":
            bulk.cancel_job(db, job_id, CLI_ACTOR)
        view = bulk.job_view(db, job_id, items_limit=0)
    finally:
        db.dispose()
    if as_json:
        print_json(_JOB.dump_python(view, mode="json"))
    else:
        out.print(f"job {job_id} {view.state}: {_counts(view.counts)}")
        if view.counts.get("refused") or view.counts.get("unchanged"):
            out.print(f"each customer's outcome and why: ativa bulk status {job_id}")
    if stopped_by == "ctrl-c":
        fail(f"interrupted: job {job_id} cancelled between batches ({_counts(view.counts)})", INTERRUPTED)
    if stopped_by is not None:
        fail(f"job {job_id} stopped: {stopped_by} ({_counts(view.counts)})")


def _preview_then_run(
    request: bulk.BulkRequest, read: CustomerList | None, *, dry_run: bool, yes: bool, as_json: bool, show: int
) -> None:
    view = _create(request, read)
    if not dry_run:
        return _confirm_and_run(view.id, yes=yes, as_json=as_json, show=show)
    if as_json:
        return print_json(_JOB.dump_python(view, mode="json"))
    _show(view.id, show, preview=True)
    out.print(f"nothing changed; run it with: ativa bulk run {view.id}")


def _show(job_id: int, show: int, *, preview: bool, offset: int = 0, console: Console = out) -> bulk.JobView:
    db = open_database(get_settings())
    try:
        view = bulk.job_view(db, job_id, offset, show)
    finally:
        db.dispose()
    _print_job(view, preview=preview, console=console)
    return view


def _confirm_and_run(job_id: int, *, yes: bool, as_json: bool, show: int) -> None:
    if not yes:
        view = _show(job_id, show, preview=True, console=err if as_json else out)  # stdout: the JSON alone
        asked = f"Run job {job_id}: {view.action} {view.preview_counts.get('change', 0)} customer(s)?"
        try:
            run = typer.confirm(asked, default=False, err=True)
        except typer.Abort:  # no answer (end of input, Ctrl-C)
            run = False
        if not run:
            fail(f"not run; job {job_id} stays a preview (ativa bulk run {job_id}, or ativa bulk cancel {job_id})")
    _run_here(job_id, as_json=as_json)


def _request(
    action: CustomerEvent,
    reason: str,
    note: str | None,
    force: bool,
    batch_size: int | None,
    selection: dict,
) -> bulk.BulkRequest:
    return bulk.BulkRequest(
        action=action.value, reason=reason, note=note, force=force, batch_size=batch_size, **selection
    )


def _filter(
    status: CustomerStatus | None,
    inactivation_reason: InactivationReason | None,
    source: Source | None,
    cut_date: date | None,
    stage: DelinquencyStage | None,
) -> bulk.BulkFilter:
    return bulk.BulkFilter(
        status=status.value if status else None,
        inactivation_reason=inactivation_reason.value if inactivation_reason else None,
        source=source.value if source else None,
        cut_date=cut_date,
        delinquency_stage=stage.value if stage else None,
    )


def _add_choosing_command(event: CustomerEvent, summary: str) -> None:
    """`ativa bulk activate` or `inactivate`: the customers chosen by a list, a file or a filter."""

    def command(
        reason: str = typer.Option(..., "--reason"),
        note: str = NOTE_OPTIONAL,
        force: bool = typer.Option(
            False,
            "--force",
            hidden=event is not CustomerEvent.ACTIVATE,
            help="Also customers who still owe (recorded as forced).",
        ),
        ids: str = IDS_OPTION,
        refs: str = REFS_OPTION,
        documents: str = DOCUMENTS_OPTION,
        csv_file: Path = CSV_OPTION,
        match: Match = MATCH_OPTION,
        status: CustomerStatus = STATUS_OPTION,
        inactivation_reason: InactivationReason = INACTIVATION_REASON_OPTION,
        source: Source = SOURCE_OPTION,
        cut_date: date = CUT_DATE_OPTION,
        stage: DelinquencyStage = STAGE_OPTION,
        batch_size: int = BATCH_OPTION,
        dry_run: bool = DRY_RUN_OPTION,
        yes: bool = YES_OPTION,
        show: int = SHOW_OPTION,
        as_json: bool = JSON_OPTION,
    ):
        selection, read = _selection(
            ids, refs, documents, csv_file, match, _filter(status, inactivation_reason, source, cut_date, stage)
        )
        request = _request(event, str(reason), note, force, batch_size, selection)
        _preview_then_run(request, read, dry_run=dry_run, yes=yes, as_json=as_json, show=show)

    # Typer reads the choices of --reason from the annotation: the reasons a job of this event may give.
    command.__annotations__["reason"] = StrEnum(f"Bulk{event.value.title()}Reason", {r: r for r in BULK_REASONS[event]})
    command.__doc__ = summary
    command.__name__ = f"bulk_{event.value}"
    group.command(event.value)(command)


_add_choosing_command(
    CustomerEvent.ACTIVATE,
    "Activate the customers chosen (a list, a file or a filter): preview, confirm, run here.",
)
_add_choosing_command(
    CustomerEvent.INACTIVATE,
    "Inactivate the customers chosen (a list, a file or a filter): preview, confirm, run here.",
)


@group.command("undo-cuts")
def bulk_undo_cuts(
    day: date = typer.Option(
        ..., "--date", parser=accept.iso_date, help="The day of the sweep's cuts to undo (YYYY-MM-DD, provider time)."
    ),
    note: str = NOTE_REQUIRED,
    batch_size: int = BATCH_OPTION,
    dry_run: bool = DRY_RUN_OPTION,
    yes: bool = YES_OPTION,
    show: int = SHOW_OPTION,
    as_json: bool = JSON_OPTION,
):
    """Undo the sweep's cuts of --date, for the day a bank failed.

    Everyone the sweep cut that day who is still inactive from that cut is activated: reason manual,
    forced (they still owe), the note and the job in their history. The cuts at the end of a trust
    unlock that day (an invoice still past due) are taken too."""
    request = bulk.BulkRequest(None, note=note, preset=bulk.UNDO_CUTS, preset_date=day, batch_size=batch_size)
    _preview_then_run(request, None, dry_run=dry_run, yes=yes, as_json=as_json, show=show)


JOB_ARGUMENT = typer.Argument(..., help="The job's id.", min=1, max=accept.MAX_ID)


@group.command("run")
def bulk_run(
    job_id: int = JOB_ARGUMENT,
    yes: bool = YES_OPTION,
    show: int = SHOW_OPTION,
    as_json: bool = JSON_OPTION,
):
    """Run a job kept as a preview (by --dry-run, the API or the UI), here, batch by batch; or the
    pending batches of a job already running (its command was killed, no worker takes them)."""
    _confirm_and_run(job_id, yes=yes, as_json=as_json, show=show)


@group.command("status")
def bulk_status(
    job_id: int = JOB_ARGUMENT,
    show: int = SHOW_OPTION,
    start: int = typer.Option(0, "--from", min=0, max=100_000, help="Customers skipped before the table."),
    as_json: bool = JSON_OPTION,
):
    """A job's state, progress and each customer's outcome (a page of --show from --from)."""
    if as_json:
        db = open_database(get_settings())
        try:
            view = bulk.job_view(db, job_id, start, show)
        finally:
            db.dispose()
        return print_json(_JOB.dump_python(view, mode="json"))
    _show(job_id, show, preview=False, offset=start)


@group.command("cancel")
def bulk_cancel(job_id: int = JOB_ARGUMENT, as_json: bool = JSON_OPTION):
    """Stop a job between batches (those not run are left skipped), or drop a preview."""
    db = open_database(get_settings())
    try:
        view = bulk.cancel_job(db, job_id, CLI_ACTOR)
    finally:
        db.dispose()
    if as_json:
        return print_json(_JOB.dump_python(view, mode="json"))
    out.print(f"job {job_id} cancelled: {_counts(view.counts)}")


@group.command("list")
def bulk_list(
    limit: int = typer.Option(50, "--limit", min=1, max=500),
    as_json: bool = JSON_OPTION,
):
    """The latest jobs first."""
    db = open_database(get_settings())
    try:
        jobs = bulk.list_jobs(db, 0, limit)
    finally:
        db.dispose()
    if as_json:
        return print_json([_JOB.dump_python(view, mode="json") for view in jobs])
    zone = get_settings().timezone
    print_table(
        out,
        f"Bulk jobs (times in {zone})",
        ["job", "action", "reason", "state", "customers", "outcome", "by", "created"],
        [
            [
                view.id,
                view.action,
                view.reason,
                view.state,
                view.total,
                _counts(view.counts),
                view.confirmed_by or view.created_by,
                local_time(view.created_at, zone),
            ]
            for view in jobs
        ],
    )
