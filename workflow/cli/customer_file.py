"""A file of customers for `ativa bulk --csv`: ids, external refs or CPF/CNPJ, one per line or a
column of a CSV (`;`, `,` or tab), with or without a header.

A header names the column and what it holds (id, external_ref, document...); without one the file
has a single column, read as `--match` says, or, without it, integers as ids (anything else is
refused by the job's own rules, which need `--match` for strings). Each entry keeps its line number
so that a refusal names the lines. Bytes that are not UTF-8 text, or a NUL, are refused with their
line before anything is read as a customer.
"""

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from ..domain.bulk import Match

MAX_FILE_BYTES = 16 * 1024 * 1024
_MAX_ID_DIGITS = 19  # longer numbers are refused as ids by the job's rules, never parsed whole
_INTEGER = re.compile(r"[0-9]+")
HEADERS = {
    "id": Match.ID,
    "customer_id": Match.ID,
    "cliente": Match.ID,
    "external_ref": Match.EXTERNAL_REF,
    "ref": Match.EXTERNAL_REF,
    "referencia": Match.EXTERNAL_REF,
    "referência": Match.EXTERNAL_REF,
    "document": Match.DOCUMENT,
    "documento": Match.DOCUMENT,
    "cpf": Match.DOCUMENT,
    "cnpj": Match.DOCUMENT,
    "cpf_cnpj": Match.DOCUMENT,
    "cpf/cnpj": Match.DOCUMENT,
}


class CustomerFileError(ValueError):
    """The file cannot be read as a list of customers; the message names it (and the line)."""


@dataclass(frozen=True)
class CustomerFile:
    entries: list[int | str]
    match: Match | None  # None: integers alone, read as ids
    lines: list[int]  # the line of each entry (entries[i] is on lines[i])

    def line_of(self, position: int) -> int:
        """The line of the entry at 1-based `position`."""
        return self.lines[position - 1]


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _text(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise CustomerFileError(f"{path} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
        data = path.read_bytes()
    except OSError as error:
        raise CustomerFileError(f"cannot read {path}: {error.strerror or error}") from None
    nul = data.find(b"\x00")
    if nul >= 0:
        raise CustomerFileError(f"{path}, line {_line_at(data, nul)}: a NUL byte (not a text file?)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CustomerFileError(
            f"{path}, line {_line_at(data, error.start)}: byte 0x{data[error.start]:02x} is not UTF-8 "
            "(save the file as UTF-8)"
        ) from None


def _delimiter(first: str) -> str | None:
    return next((mark for mark in ";,\t" if mark in first), None)


def _column(path: Path, header: list[str], match: Match | None) -> tuple[int, Match]:
    named = [
        (index, HEADERS[cell.strip().lower()]) for index, cell in enumerate(header) if cell.strip().lower() in HEADERS
    ]
    if match is not None:
        chosen = [one for one in named if one[1] is match]
        if not chosen:
            raise CustomerFileError(f"{path}: no column of the header holds {match.value} ({', '.join(header)})")
        return chosen[0]
    if len(named) > 1:
        raise CustomerFileError(f"{path}: the header names several columns of customers; say which with --match")
    return named[0]


def read_customer_file(path: Path, match: Match | None) -> CustomerFile:
    rows = [
        (number, line.removesuffix("\r"))
        for number, line in enumerate(_text(path).split("\n"), start=1)
        if line.strip()
    ]
    if not rows:
        raise CustomerFileError(f"{path} names no customer (it is empty)")
    mark = _delimiter(rows[0][1])
    cells = [(number, next(csv.reader([line], delimiter=mark)) if mark else [line]) for number, line in rows]
    first = cells[0][1]
    if any(cell.strip().lower() in HEADERS for cell in first):
        index, kind = _column(path, first, match)
        match, cells = kind, cells[1:]
    elif len(first) > 1:
        raise CustomerFileError(
            f"{path} has {len(first)} columns and no header naming the one of customers (id, external_ref or document)"
        )
    else:
        index = 0
    entries: list[int | str] = []
    lines: list[int] = []
    for number, row in cells:
        value = row[index].strip() if index < len(row) else ""
        # Without a kind, numbers are ids and anything else a string (a mix is refused, naming it);
        # with one, entries stay text, which the job's rules read as ids, refs or documents.
        reads_as_id = match is None and _INTEGER.fullmatch(value) and len(value) <= _MAX_ID_DIGITS
        entries.append(int(value) if reads_as_id else value)
        lines.append(number)
    if not entries:
        raise CustomerFileError(f"{path} names no customer (a header alone)")
    return CustomerFile(entries, match, lines)
