"""Progress of a run made batch by batch, on stderr (stdout keeps the result, --json included): a
Rich bar on a terminal, plain lines otherwise (a pipe, a cron job's log)."""

import time
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from ..usecases.progress import BatchesDone
from .console import err

PLAIN_EVERY = 1.0  # seconds between two plain lines (the first and the last batch always print)


class BatchProgress:
    """Called after each batch with where the run stands; a context manager that ends the bar."""

    def __init__(self, title: str, console: Console = err, unit: str = "customers"):
        self.title, self.unit = title, unit
        self.console = console
        self.started = time.monotonic()
        self._printed_at: float | None = None
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> "BatchProgress":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def _rate(self, customers: int) -> float:
        elapsed = time.monotonic() - self.started
        return customers / elapsed if elapsed > 0 else 0.0

    def __call__(self, done: BatchesDone) -> None:
        if self.console.is_terminal:
            self._draw(done)
            return
        if done.batches == 0:  # nothing to say yet in a log
            return
        now = time.monotonic()
        last = done.batches == done.of_batches
        if not (last or self._printed_at is None or now - self._printed_at >= PLAIN_EVERY):
            return
        self._printed_at = now
        self.console.print(
            f"{self.title}: {done.customers}/{done.total} {self.unit}, batch {done.batches}/{done.of_batches}, "
            f"{now - self.started:.1f} s, {self._rate(done.customers):.0f} {self.unit}/s",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )

    def _draw(self, done: BatchesDone) -> None:
        if self._bar is None or self._task is None:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(self.unit + ", batch {task.fields[batch]}"),
                TimeElapsedColumn(),
                TextColumn("{task.fields[rate]} " + self.unit + "/s"),
                console=self.console,
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.title, total=done.total, batch="", rate="")
        self._bar.update(
            self._task,
            completed=done.customers,
            batch=f"{done.batches}/{done.of_batches}",
            rate=f"{self._rate(done.customers):.0f}",
        )
