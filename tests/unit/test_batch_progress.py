"""The progress of a run in batches: a bar on a terminal, plain lines in a log (the first and the
last batch always printed), nothing before the first batch in a log."""

import io

from rich.console import Console

from workflow.cli.progress import BatchProgress
from workflow.usecases.progress import BatchesDone, batch_sizes


def test_batch_sizes_cover_the_total():
    assert batch_sizes(450, 200) == [200, 200, 50]
    assert batch_sizes(0, 200) == []


def test_a_log_gets_plain_lines():
    written = io.StringIO()
    with BatchProgress("job 7", Console(file=written, width=200)) as progress:
        for done in (BatchesDone(0, 450, 0, 3), BatchesDone(200, 450, 1, 3), BatchesDone(450, 450, 3, 3)):
            progress(done)
    lines = written.getvalue().splitlines()
    assert lines[0].startswith("job 7: 200/450 customers, batch 1/3, ")
    assert lines[-1].startswith("job 7: 450/450 customers, batch 3/3, ")
    assert all(line.endswith(" customers/s") for line in lines)


def test_a_terminal_gets_a_bar():
    written = io.StringIO()
    terminal = Console(file=written, width=120, force_terminal=True, color_system=None)
    with BatchProgress("job 7", terminal) as progress:
        progress(BatchesDone(0, 450, 0, 3))
        progress(BatchesDone(450, 450, 3, 3))
    shown = written.getvalue()
    assert "450/450" in shown and "customers, batch 3/3" in shown and "customers/s" in shown
