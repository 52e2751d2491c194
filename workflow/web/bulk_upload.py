"""A spreadsheet's list of customers for a bulk job: its first column, line by line.

Spreadsheets export UTF-8 (with or without a BOM) or Windows' Latin-1, with `;` (the Brazilian
locale) or `,` between columns. What each entry means is the bulk job's rule (usecases/bulk.py):
here the file only becomes a list, and each entry keeps its line so a refusal names the line.
"""

import csv
import io
import re
from dataclasses import dataclass

from ..domain.bulk import MAX_CUSTOMERS

# 30 bytes a line for 100,000 customers (a formatted CNPJ takes 18); the request as a whole is
# bounded by ATIVA_BULK_MAX_BODY_BYTES (4 MB by default), which leaves room for the other fields.
MAX_UPLOAD_BYTES = 3 * 1024 * 1024
# A first line that names the column is a header, not a customer.
HEADER_WORDS = {
    "id",
    "ids",
    "número",
    "numero",
    "nº",
    "código",
    "codigo",
    "referência",
    "referencia",
    "ref",
    "external_ref",
    "cpf",
    "cnpj",
    "cpf/cnpj",
    "cpf_cnpj",
    "cpf ou cnpj",
    "documento",
    "document",
    "cliente",
}


class UnreadableFile(ValueError):
    """The file cannot be a list of customers; the message is the operator's."""


@dataclass(frozen=True)
class Listed:
    entries: list[str]  # what the bulk job is given, in the file's order
    lines: list[int]  # the file's line of each entry


def decoded(raw: bytes) -> str:
    """UTF-8 first (a BOM dropped); any other bytes are read as Windows' Latin-1 (Excel's
    export on a Brazilian Windows), whose every byte is a character."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return raw.decode("cp1252")
        except UnicodeDecodeError:  # the five bytes cp1252 leaves undefined
            return raw.decode("latin-1")


def _lines(text: str) -> list[str]:
    """The lines a spreadsheet counts (str.splitlines would also split at form feeds and the like)."""
    return re.split(r"\r\n|\n|\r", text)


def _first_cell(line: str, delimiter: str) -> str:
    try:
        cells = next(csv.reader(io.StringIO(line), delimiter=delimiter), [""])
    except csv.Error:  # an odd quote: the text up to the first delimiter
        cells = line.split(delimiter)
    return (cells[0] if cells else "").strip()


def _delimiter(text: str) -> str:
    first = next((line for line in _lines(text) if line.strip()), "")
    return ";" if ";" in first else ","


def read_list(raw: bytes) -> Listed:
    """The first column of every non-blank line, as text (the job reads ids from digits)."""
    if len(raw) > MAX_UPLOAD_BYTES:
        raise UnreadableFile(
            f"O arquivo tem {len(raw) // 1024} KB; o limite é {MAX_UPLOAD_BYTES // (1024 * 1024)} MB. "
            "Divida a lista em mais de um lote."
        )
    text = decoded(raw)
    entries: list[str] = []
    lines: list[int] = []
    # Lines are split here, not by the csv module, so each entry keeps its own line number even
    # when a stray quote would make the csv module read on across lines.
    delimiter = _delimiter(text)
    for number, line in enumerate(_lines(text), start=1):
        if not line.strip():
            continue
        value = _first_cell(line, delimiter)
        if not entries and value.casefold() in HEADER_WORDS:
            continue
        if not value:
            raise UnreadableFile(f"A linha {number} tem a primeira coluna vazia. Apague a linha ou preencha-a.")
        entries.append(value)
        lines.append(number)
        if len(entries) > MAX_CUSTOMERS:
            raise UnreadableFile(f"Um lote tem no máximo {MAX_CUSTOMERS:,} clientes.".replace(",", "."))
    if not entries:
        raise UnreadableFile("O arquivo não tem nenhum cliente: a primeira coluna está vazia em todas as linhas.")
    return Listed(entries, lines)
