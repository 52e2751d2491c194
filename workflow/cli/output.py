"""How the `ativa` command prints tables and times.

Tables fit the terminal (80 columns included): a cell wraps between words and a word that matters
(a date, a status, a reason, up to WHOLE_WORD characters) is never cut or ellipsed. Times are shown
in the provider's time zone, as in the web UI; JSON output stays UTC ISO 8601.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

WHOLE_WORD = 24  # longer words (a long reference, an URL in an error) fold inside their cell
_GAP = 3  # between two columns: padding, rule, padding


def local_time(value: datetime | str | None, zone: str) -> str | None:
    """'2026-11-30 09:15:02' in `zone`, from an aware datetime or an ISO 8601 string."""
    if not value:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")


def times_in(zone: str) -> str:
    return f"times in {zone}"


def print_table(
    console: Console, title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]], *, wide: bool = False
) -> None:
    """Print a table within the console's width or, when `wide`, as wide as its longest cells."""
    cells = [["" if value is None else str(value) for value in row] for row in rows]
    columns = [[header, *(row[index] for row in cells)] for index, header in enumerate(headers)]
    natural = [max(map(_longest_line, column)) for column in columns]
    needed = sum(natural) + _GAP * (len(headers) - 1)
    if wide:
        widths: list[int] | None = natural
        console = Console(file=console.file, width=max(console.width, needed), markup=False, highlight=False)
    else:
        widths = _fit(columns, natural, console.width - _GAP * (len(headers) - 1))
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title_justify="left")
    for index, header in enumerate(headers):
        table.add_column(header, overflow="fold", width=widths[index] if widths else None)
    for row in cells:
        table.add_row(*(Text(value) for value in row))  # Text: a value is never read as markup
    console.print(table)


def _fit(columns: list[list[str]], natural: list[int], room: int) -> list[int] | None:
    """Column widths within `room`. Each column keeps its longest word whole (up to a cap that
    drops from WHOLE_WORD to the length of a date only if needed), and the columns that would
    wrap most share what is left. None: even that does not fit; the table folds its words."""
    if sum(natural) <= room:
        return natural
    for cap in range(WHOLE_WORD, len("2026-11-30") - 1, -2):
        floor = [min(nat, cap, max(map(_longest_word, column))) for nat, column in zip(natural, columns, strict=True)]
        if sum(floor) <= room:
            return _share(floor, natural, room)
    return None


def _share(floor: list[int], natural: list[int], room: int) -> list[int]:
    spare = room - sum(floor)
    wants = [nat - low for nat, low in zip(natural, floor, strict=True)]
    total = sum(wants)
    widths = [low + want * spare // total for low, want in zip(floor, wants, strict=True)]
    leftover = room - sum(widths)
    for index in sorted(range(len(widths)), key=lambda i: wants[i], reverse=True)[:leftover]:
        widths[index] += 1
    return widths


def _longest_line(text: str) -> int:
    return max((cell_len(line) for line in text.splitlines()), default=0)


def _longest_word(text: str) -> int:
    return max((cell_len(word) for word in text.split()), default=0)
