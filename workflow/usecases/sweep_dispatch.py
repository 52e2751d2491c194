"""Hand the delinquency sweep's batches to the workers.

The use-case layer finds who is due and splits them into batches; the entry points (the API and
the UI) ask for the run, never for a Celery task. Whoever runs workers (workers.app)
installs the dispatcher that queues one batch, as it installs effect_bus's publisher. Unlike a
lost effect, a lost batch has no relay to catch it: without a dispatcher the run is refused.
"""

from collections.abc import Callable
from datetime import date

Dispatcher = Callable[[list[int], date], None]

_dispatcher: Dispatcher | None = None


class NoDispatcher(RuntimeError):
    """The process was started without workers connected (see workflow.application)."""


def install_dispatcher(dispatcher: Dispatcher | None) -> None:
    global _dispatcher
    _dispatcher = dispatcher


def installed_dispatcher() -> Dispatcher:
    """What queues one batch of customer ids, cut as of a day (each cut is re-checked under the
    customers' row lock by the worker that takes it)."""
    if _dispatcher is None:
        raise NoDispatcher(
            "no sweep dispatcher is installed: connect the workers first (workflow.application.connect_workers)"
        )
    return _dispatcher


# A bulk job's batches go to the workers the same way (usecases/bulk.py): one message per batch.
BulkDispatcher = Callable[[int, int], None]  # (job id, batch number)

_bulk_dispatcher: BulkDispatcher | None = None


def install_bulk_dispatcher(dispatcher: BulkDispatcher | None) -> None:
    global _bulk_dispatcher
    _bulk_dispatcher = dispatcher


def installed_bulk_dispatcher() -> BulkDispatcher:
    """What queues one batch of a bulk job (the worker that takes it checks the job's state)."""
    if _bulk_dispatcher is None:
        raise NoDispatcher(
            "no bulk job dispatcher is installed: connect the workers first (workflow.application.connect_workers)"
        )
    return _bulk_dispatcher
