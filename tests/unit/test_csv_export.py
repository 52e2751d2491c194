"""The CSV a Brazilian spreadsheet opens: BOM, `;`, CRLF, Brazilian numbers and dates, formulas
neutralised, and any text (`;`, quotes, line breaks) read back as written."""

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from workflow.web import csv_export

ZONE = "America/Sao_Paulo"


def written(rows, chunks=1):
    size = max(1, len(rows) // chunks)
    parts = [rows[i : i + size] for i in range(0, len(rows), size)]
    return b"".join(csv_export.stream(["Nome", "Valor"], parts, ZONE))


def test_bom_separator_line_ends_and_every_text_read_back_whole():
    awkward = 'Silva; "Zé"\nFilho\r\nJr.'
    data = written([[awkward, Decimal("1234.5")], ["Ana", 7]], chunks=2)
    assert data.startswith(b"\xef\xbb\xbfNome;Valor\r\n")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert rows == [["Nome", "Valor"], [awkward, "1.234,50"], ["Ana", "7"]]


@pytest.mark.parametrize("text", ["=1+1", "+55 11", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_a_formula_is_kept_as_text(text):
    assert csv_export.cell(text, ZONE) == "'" + text


def test_numbers_dates_and_yes_no_the_brazilian_way():
    moment = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    assert csv_export.cell(moment, ZONE) == "30/11/2026 20:30"
    assert csv_export.cell(date(2026, 1, 2), ZONE) == "02/01/2026"
    assert csv_export.cell(Decimal("-1234567.891"), ZONE) == "-1.234.567,89"  # ours: never neutralised
    # Ids and counts are plain digits (a bulk upload reads them back); separators are for money.
    assert csv_export.cell(1234567, ZONE) == "1234567"
    assert csv_export.cell(True, ZONE) == "Sim" and csv_export.cell(None, ZONE) == ""
