"""Where a run made batch by batch stands, for whoever shows it (the CLI's progress bar)."""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class BatchesDone:
    """After a batch: the customers of the batches run so far (whatever became of each) and the
    batches run, out of the run's totals."""

    customers: int
    total: int
    batches: int
    of_batches: int


OnBatch = Callable[[BatchesDone], None]


def batch_sizes(total: int, batch_size: int) -> list[int]:
    """The number of customers in each batch of `total` split by `batch_size`, in order."""
    return [min(batch_size, total - start) for start in range(0, total, batch_size)]
