"""The CLI's tables within a terminal's width, and its times in the provider's zone (no I/O)."""

import io
import re

import pytest
from rich.console import Console

from workflow.cli.output import WHOLE_WORD, local_time, print_table

HEADERS = ["id", "name", "state", "completed", "reason", "detail"]
ROW = [
    "1234",
    "Maria Aparecida dos Santos Oliveira",
    "failed (8 attempts)",
    "2026-03-10 12:04:09",
    "contract_termination",
    "HTTP 502 from billing: upstream timeout after three tries",
]


def _render(width: int, rows, *, wide: bool = False, headers=HEADERS) -> str:
    console = Console(file=io.StringIO(), width=width, markup=False)
    print_table(console, "Effects (times in America/Sao_Paulo)", headers, rows, wide=wide)
    return console.file.getvalue()


@pytest.mark.parametrize("width", [80, 90, 120])
def test_a_table_fits_the_width_and_keeps_its_words_whole(width):
    text = _render(width, [ROW, ["7", "Zé", "done", None, "manual", None]])
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    assert "…" not in text
    words = {word for line in lines for word in line.split()}
    for value in ("2026-03-10", "12:04:09", "contract_termination", "Oliveira", "upstream", "(8", "attempts)"):
        assert value in words, (value, text)


def test_a_word_too_long_for_any_column_folds_instead_of_being_cut():
    reference = "R" * (WHOLE_WORD + 40)
    text = _render(80, [[reference, "x " * 60]], headers=["ref", "note"])
    assert max(len(line) for line in text.splitlines()) <= 80 and "…" not in text
    assert text.count("R") == len(reference)  # every character is there, over several lines


def test_wide_keeps_each_row_on_one_line_past_the_terminal():
    text = _render(80, [ROW], wide=True)
    assert re.search(r" +".join(map(re.escape, ROW)), text)
    assert max(len(line) for line in text.splitlines()) > 80


def test_markup_in_a_value_is_printed_as_written():
    assert "[bold]Ana[/]" in _render(80, [["1", "[bold]Ana[/]", "done", None, None, None]])


def test_times_are_shown_in_the_given_zone():
    assert local_time("2026-03-10T15:04:05Z", "America/Sao_Paulo") == "2026-03-10 12:04:05"
    assert local_time("2026-03-10T15:04:05+00:00", "Asia/Tokyo") == "2026-03-11 00:04:05"
    assert local_time(None, "America/Sao_Paulo") is None
