"""A file listing customers for a bulk job (the UI's upload, `ativa bulk --csv`): one rule set.

Spreadsheets export UTF-8 (with or without a BOM) or Windows-1252 (Excel on a Brazilian Windows),
with `;` (the Brazilian locale), `,` or tab between columns. A first line whose cells name a column
(id, cpf, código...) is a header: it says which column holds the customers and what they are;
without one, the first column is read. Each entry keeps its line, so that any refusal, here or by
the job's rules (domain.bulk), names the line a person sees in the spreadsheet. Pure: each front
end words a ListRefused its own way.
"""

import csv
import re
from dataclasses import dataclass
from enum import StrEnum

from . import limits
from .bulk import MAX_CUSTOMERS, Match

# 100,000 customers of 30 bytes a line (a formatted CNPJ takes 18).
MAX_LIST_BYTES = 3 * 1024 * 1024
DELIMITERS = ";,\t"
# A header's words (casefolded) and what the column they name holds.
HEADERS: dict[str, Match] = {
    **dict.fromkeys(["id", "ids", "customer_id", "cliente", "número", "numero", "nº"], Match.ID),
    **dict.fromkeys(
        ["external_ref", "ref", "referência", "referencia", "código", "codigo"],
        Match.EXTERNAL_REF,
    ),
    **dict.fromkeys(
        ["document", "documento", "cpf", "cnpj", "cpf/cnpj", "cpf_cnpj", "cpf ou cnpj"],
        Match.DOCUMENT,
    ),
}


class Refusal(StrEnum):
    TOO_LARGE = "too_large"  # detail: the file's size in bytes
    NOT_TEXT = "not_text"  # detail: the byte, "0x81", neither UTF-8 nor Windows-1252
    CONTROL_CHARACTER = "control_character"  # detail: "U+0000 at position 3"
    EMPTY_CELL = "empty_cell"  # the customers' column is empty on a line that is not
    NO_CUSTOMER = "no_customer"  # detail: "it is empty" or "a header alone"
    TOO_MANY = "too_many"  # detail: the most a job holds
    SEVERAL_COLUMNS = "several_columns"  # the header names columns of different kinds; detail: them
    HEADER_CONTRADICTS_MATCH = "header_contradicts_match"  # detail: what the header's columns hold


class ListRefused(ValueError):
    """The file cannot be a list of customers; `line` (1-based) where the problem is, if one."""

    def __init__(self, kind: Refusal, line: int | None, detail: str = ""):
        super().__init__(f"{kind}{f' (line {line})' if line else ''}{f': {detail}' if detail else ''}")
        self.kind = kind
        self.line = line
        self.detail = detail


@dataclass(frozen=True)
class CustomerList:
    entries: list[str]  # what the bulk job is given, as text, in the file's order
    lines: list[int]  # the file's line of each entry (entries[i] is on lines[i])
    match: Match | None  # what the entries are: the header's column, else as asked, else unsaid

    def line_of(self, position: int) -> int:
        """The line of the entry at 1-based `position` (as the job's refusals count)."""
        return self.lines[position - 1]


def _line_at(raw: bytes, offset: int) -> int:
    return len(re.findall(rb"\r\n|\n|\r", raw[:offset])) + 1


def _decoded(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError as error:  # one of the five bytes Windows-1252 leaves undefined
        raise ListRefused(Refusal.NOT_TEXT, _line_at(raw, error.start), f"0x{raw[error.start]:02x}") from None


def _cells(line: str, delimiter: str | None) -> list[str]:
    if delimiter is None:
        return [line]
    try:
        return next(csv.reader([line], delimiter=delimiter), [""])
    except csv.Error:  # an odd quote: split at the delimiter alone
        return line.split(delimiter)


def _column(header: list[str], number: int, match: Match | None) -> tuple[int, Match] | None:
    """The header's column of customers and its kind, or None when the line is not a header."""
    named = [
        (index, HEADERS[cell.strip().casefold()])
        for index, cell in enumerate(header)
        if cell.strip().casefold() in HEADERS
    ]
    if not named:
        return None
    kinds = list(dict.fromkeys(kind for _, kind in named))
    if match is not None:
        chosen = next((one for one in named if one[1] is match), None)
        if chosen is None:
            raise ListRefused(Refusal.HEADER_CONTRADICTS_MATCH, number, ", ".join(kinds))
        return chosen
    if len(kinds) > 1:
        raise ListRefused(Refusal.SEVERAL_COLUMNS, number, ", ".join(kinds))
    return named[0]


def read_customer_list(raw: bytes, match: str | None) -> CustomerList:
    """The customers a file lists, each with its line; `match`, when given, says what they are
    (a header that names another kind is refused)."""
    if len(raw) > MAX_LIST_BYTES:
        raise ListRefused(Refusal.TOO_LARGE, None, str(len(raw)))
    asked = Match(match) if match is not None else None
    # Lines are split here as a spreadsheet counts them (str.splitlines would also split at form
    # feeds), not by the csv module, so that a stray quote cannot join lines and shift numbers.
    rows: list[tuple[int, str]] = []
    for number, line in enumerate(re.split(r"\r\n|\n|\r", _decoded(raw)), start=1):
        # Before the blank test: str.strip() takes U+001C..U+001F for whitespace.
        bad = limits.forbidden_character(line, multiline=True)  # tab separates columns
        if bad:
            raise ListRefused(Refusal.CONTROL_CHARACTER, number, str(bad))
        if line.strip():
            rows.append((number, line))
    if not rows:
        raise ListRefused(Refusal.NO_CUSTOMER, None, "it is empty")
    delimiter = next((mark for mark in DELIMITERS if mark in rows[0][1]), None)
    column = _column(_cells(rows[0][1], delimiter), rows[0][0], asked)
    index, kind = 0, asked
    if column is not None:
        (index, kind), rows = column, rows[1:]
    entries: list[str] = []
    lines: list[int] = []
    for number, line in rows:
        cells = _cells(line, delimiter)
        value = cells[index].strip() if index < len(cells) else ""
        if not value:
            raise ListRefused(Refusal.EMPTY_CELL, number)
        if len(entries) == MAX_CUSTOMERS:
            raise ListRefused(Refusal.TOO_MANY, number, str(MAX_CUSTOMERS))
        entries.append(value)
        lines.append(number)
    if not entries:
        raise ListRefused(Refusal.NO_CUSTOMER, None, "a header alone")
    return CustomerList(entries, lines, kind)
