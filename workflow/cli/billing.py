"""`ativa billing import FILE`: a JSON-lines file of billing events posted to a running Ativa in
signed batches (POST /api/v1/billing/events/batch), as the billing system would post them.

Exit codes: 0 every line accepted or a duplicate; 1 some rejected (written beside the file);
2 a usage error (nothing posted); 3 stopped part-way (server unreachable or a batch refused):
the lines before it are done, and running the same command again is safe.
"""

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import typer

from ..settings import get_settings
from ..usecases.progress import BatchesDone
from . import accept
from .billing_batches import BatchFailed, BatchPoster, endpoint, problem_text, signer
from .console import err, out, print_json
from .errors import fail
from .event_lines import Event, batches, count_lines
from .groups import billing as group
from .options import JSON_OPTION
from .progress import BatchProgress
from .rejected_file import RejectedFile, default_path

STOPPED = 3
INTERRUPTED = 130  # the shell's exit code for a command stopped by Ctrl-C
DEFAULT_BATCH = 500
AGAIN = "running the same command again is safe (what was recorded comes back as duplicate)"


@dataclass
class Tally:
    lines: int = 0  # non-blank lines done (their batch answered)
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    reactivated: int = 0
    through: int = 0  # the file's line number up to which every line is done (not in --json)

    def done(self) -> str:
        return f"lines 1-{self.through} done" if self.through else "no line done"

    def counts(self) -> str:
        return (
            f"accepted {self.accepted}, duplicate {self.duplicate}, rejected {self.rejected}, "
            f"reactivated {self.reactivated}"
        )


def _secret() -> str:
    secrets = get_settings().billing_inbound_secrets
    if not secrets:
        fail("ATIVA_BILLING_INBOUND_SECRET is not set: the batches are signed with its (first) secret", 2)
    return secrets[0]


def _checked(file: Path, url: str | None, batch_size: int, rejected: Path | None) -> tuple[str, Path]:
    """The endpoint and the rejected file's path, or a usage error (exit 2) before anything is read."""
    settings = get_settings()
    most = settings.billing_batch_max
    if batch_size > most:
        fail(f"--batch-size must be at most {most} (ATIVA_BILLING_BATCH_MAX), got {batch_size}", 2)
    try:
        target = endpoint(url or f"http://127.0.0.1:{settings.port}")
    except ValueError as error:
        fail(f"--url: {error}", 2)
    if not file.is_file():  # a pipe would be drained by the count before the import reads it
        fail(f"{file} is not a regular file", 2)
    path = rejected or default_path(file)
    if path.resolve() == file.resolve():
        fail("--rejected must not be the file imported", 2)
    if path.is_dir():
        fail(f"--rejected: {path} is a folder", 2)
    # Checked before posting: a rejected line the file could not take would be lost.
    if not os.access(path if path.exists() else path.parent, os.W_OK):
        fail(f"--rejected: {path} cannot be written", 2)
    return target, path


def _import(file: Path, poster: BatchPoster, batch_size: int, rejects: RejectedFile, tally: Tally) -> str | None:
    """Post the file batch by batch; None when done, else why it stopped (at the batch that failed)."""
    total = count_lines(file)
    of_batches = -(-total // batch_size)
    with BatchProgress(f"import {file.name}", unit="lines") as progress:
        progress(BatchesDone(0, total, 0, of_batches))
        for number, batch in enumerate(batches(file, batch_size), start=1):
            events = [read for read in batch if isinstance(read, Event)]
            try:
                results = iter(poster.post([event.body for event in events]) if events else [])
            except BatchFailed as error:
                return f"lines {batch[0].line}-{batch[-1].line}: {error.reason}"
            for read in batch:
                if not isinstance(read, Event):
                    rejects.write(read.line, read.problem, read.text)
                    tally.rejected += 1
                    continue
                result = next(results)
                setattr(tally, result.status, getattr(tally, result.status) + 1)
                tally.reactivated += result.reactivated
                if result.status == "rejected":
                    rejects.write(read.line, problem_text(result), read.text, read.id)
            tally.lines += len(batch)
            tally.through = batch[-1].line
            progress(BatchesDone(tally.lines, total, number, of_batches))
    return None


@group.command("import")
def billing_import(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, readable=True, help="JSON lines: one event a line, as in the batch."
    ),
    url: str = typer.Option(
        None,
        "--url",
        envvar="ATIVA_URL",
        parser=accept.ANY_TEXT,
        help="The Ativa to post to (default http://127.0.0.1:ATIVA_PORT).",
    ),
    batch_size: int = typer.Option(
        DEFAULT_BATCH, "--batch-size", min=1, help="Events per POST (at most ATIVA_BILLING_BATCH_MAX)."
    ),
    rejected: Path = typer.Option(
        None, "--rejected", help="Where the rejected lines go (default FILE.rejected.jsonl, replaced)."
    ),
    retries: int = typer.Option(
        4, "--retries", min=0, max=10, help="Retries of a batch the server could not take (down, 5xx, 429)."
    ),
    as_json: bool = JSON_OPTION,
):
    """Post a file of billing events (JSON lines) to a running Ativa, in signed batches.

    Each line is an object {"id", "type", "data"}; re-running is safe (events deduplicate by id).
    Exit 0: all accepted or duplicates; 1: some rejected (see the rejected file); 3: stopped part-way."""
    target, rejected_path = _checked(file, url, batch_size, rejected)
    try:
        webhook = signer(_secret())
    except ValueError as error:
        fail(str(error), 2)
    tally = Tally()
    try:
        max_body = get_settings().billing_batch_max_body_bytes
        with (
            BatchPoster(target, webhook, retries=retries, max_body=max_body) as poster,
            RejectedFile(rejected_path) as rejects,
        ):
            stopped = _import(file, poster, batch_size, rejects, tally)
    except KeyboardInterrupt:
        fail(f"interrupted: {tally.done()} ({tally.counts()}); {AGAIN}", INTERRUPTED)
    except OSError as error:
        fail(
            f"{error.filename or file}: {error.strerror or error}; {tally.done()} ({tally.counts()}); {AGAIN}", STOPPED
        )
    written = f"; rejected lines in {rejected_path}" if rejects.count else ""
    if stopped is not None:
        fail(
            f"stopped at {stopped}; {tally.done()} ({tally.counts()}){written}; {AGAIN}",
            STOPPED,
        )
    if as_json:
        counts = {name: value for name, value in asdict(tally).items() if name != "through"}
        print_json({**counts, "rejected_file": str(rejected_path) if rejects.count else None})
    else:
        out.print(f"{tally.lines} line(s): {tally.counts()}")
        if rejects.count:
            replaced = " (the earlier one replaced)" if rejects.existed else ""
            out.print(f"rejected lines written to {rejected_path}{replaced}")
        elif rejected_path.exists():
            err.print(f"note: {rejected_path} is from an earlier run (nothing rejected now)", markup=False)
    if tally.rejected:
        raise typer.Exit(1)
