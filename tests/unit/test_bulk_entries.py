"""The entries of a list of customers as the domain reads them: the text stored is the one looked
up by, and controls Python's str.strip() would take for whitespace are refused."""

import pytest

from tests.conftest import cpf
from workflow.domain.bulk import Match, SelectionRefused, read_entries


def test_the_stored_text_is_stripped():
    kind, entries = read_entries(["1" + " " * 300, " IXC-7 "], "external_ref")
    assert kind is Match.EXTERNAL_REF
    assert [(entry.position, entry.given, entry.key) for entry in entries] == [(1, "1", "1"), (2, "IXC-7", "IXC-7")]
    _, ids = read_entries(["  42  "], "id")
    assert [(entry.given, entry.key) for entry in ids] == [("42", 42)]


@pytest.mark.parametrize("control", ["\x1c", "\x1d", "\x1e", "\x1f", "\x00"])
@pytest.mark.parametrize("match", ["id", "external_ref", "document"])
def test_controls_that_strip_would_take_for_whitespace_are_refused(control, match):
    value = {"id": "7", "external_ref": "IXC-7", "document": "529.982.247-25"}[match]
    with pytest.raises(SelectionRefused) as refused:
        read_entries([{"id": "8", "external_ref": "OK-1", "document": cpf(1)}[match], value + control], match)
    assert [entry["position"] for entry in refused.value.entries] == [2]
