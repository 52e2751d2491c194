"""CSV files the way a Brazilian spreadsheet opens them: UTF-8 with a BOM (Excel then detects the
encoding), `;` between cells (the comma is the decimal mark), CRLF line ends, money `1.234,56`
(ids and counts as plain digits: an exported list goes back in as a bulk job's upload),
dates `dd/mm/aaaa` and date-times `dd/mm/aaaa hh:mm` in the provider's time zone. Text that a
spreadsheet would run as a formula is neutralised with a leading `'` (CSV injection)."""

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal

from fastapi.responses import StreamingResponse

from ..domain import brazilian

BOM = "\ufeff"
# What a spreadsheet reads as the start of a formula (OWASP's CSV injection list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
Cell = str | int | Decimal | date | datetime | bool | None


def safe_text(text: str) -> str:
    """Text from the register: a leading `'` keeps `=HYPERLINK(...)` a string."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def cell(value: Cell, zone: str) -> str:
    """One value as its cell. Only text is neutralised: the numbers written here are ours."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Sim" if value else "Não"
    if isinstance(value, int):
        return str(value)  # ids and counts: a separator would make 1234 read as "1.234"
    if isinstance(value, Decimal):
        return brazilian.number(value, 2)
    if isinstance(value, datetime):
        return brazilian.minute(value, zone)
    if isinstance(value, date):
        return brazilian.day(value)
    return safe_text(value)


class _Lines:
    """Each row the csv writer writes, as text: the writer quotes `;`, quotes and line breaks."""

    def __init__(self, zone: str):
        self.zone = zone
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, delimiter=";", lineterminator="\r\n")

    def text(self, rows: Iterable[Sequence[Cell]]) -> str:
        for row in rows:
            self.writer.writerow([cell(value, self.zone) for value in row])
        written = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return written


def stream(headers: Sequence[str], chunks: Iterable[Iterable[Sequence[Cell]]], zone: str) -> Iterator[bytes]:
    """The file, a chunk of rows at a time: the BOM and the headers, then each chunk as it comes."""
    lines = _Lines(zone)
    yield (BOM + lines.text([list(headers)])).encode("utf-8")
    for chunk in chunks:
        yield lines.text(chunk).encode("utf-8")


def download(filename: str, body: Iterator[bytes]) -> StreamingResponse:
    return StreamingResponse(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
