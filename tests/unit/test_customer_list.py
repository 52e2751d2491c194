"""The one reader of a list of customers (the UI's upload and `ativa bulk --csv`): encodings and
separators as spreadsheets export them, a header naming the column and its kind, each entry with
the line a person sees, and every file that cannot be a list refused naming the line."""

import pytest

from workflow.domain.bulk import MAX_CUSTOMERS, Match
from workflow.domain.customer_list import MAX_LIST_BYTES, ListRefused, Refusal, read_customer_list


@pytest.mark.parametrize(
    "raw, match, entries, kind, lines",
    [
        (
            "Código;Nome\r\nJOÃO-1;João\r\nZÉ-2;Zé\r\n".encode("cp1252"),
            None,
            ["JOÃO-1", "ZÉ-2"],
            Match.EXTERNAL_REF,
            [2, 3],
        ),
        (
            '\ufeffnome,cpf\n"Souza, Maria","529.982.247-25"\n\n  \nAna,111.444.777-35\n'.encode(),
            "document",
            ["529.982.247-25", "111.444.777-35"],
            Match.DOCUMENT,
            [2, 5],
        ),
        (b"id\tref\n5\tIXC-5\n", "external_ref", ["IXC-5"], Match.EXTERNAL_REF, [2]),  # the match picks
        (b"N\xba;CPF/CNPJ\n7;x\n", "id", ["7"], Match.ID, [2]),  # "Nº" in Windows-1252
        (b"1\n2\n\n3\n", None, ["1", "2", "3"], None, [1, 2, 4]),  # no header, nothing said
        (b"IXC-1;Ana\rIXC-2;Bia\r", "external_ref", ["IXC-1", "IXC-2"], Match.EXTERNAL_REF, [1, 2]),  # old Mac
        (
            b"7\n0012\n12a\n\xb2\n99999999999999999999\n",
            "id",
            ["7", "0012", "12a", "²", "99999999999999999999"],
            Match.ID,
            [1, 2, 3, 4, 5],
        ),
        (b'"A;1\nB\n', "external_ref", ["A;1", "B"], Match.EXTERNAL_REF, [1, 2]),  # a stray quote joins no lines
    ],
    ids=["cp1252-header", "bom-quotes-blank-lines", "tab", "header-n-degree", "bare", "cr", "text-kept", "quote"],
)
def test_lists_are_read_as_meant(raw, match, entries, kind, lines):
    listed = read_customer_list(raw, match)
    assert (listed.entries, listed.match, listed.lines) == (entries, kind, lines)
    assert listed.line_of(len(entries)) == lines[-1]


@pytest.mark.parametrize(
    "raw, match, kind, line, detail",
    [
        (b"", None, Refusal.NO_CUSTOMER, None, "it is empty"),
        (b"\r\n \n", "id", Refusal.NO_CUSTOMER, None, "it is empty"),
        (b"cpf\n\n", "document", Refusal.NO_CUSTOMER, None, "a header alone"),
        (b"1\n2\n\x00\n", None, Refusal.CONTROL_CHARACTER, 3, "U+0000 at position 1"),
        (b"A\x0cB\n", "external_ref", Refusal.CONTROL_CHARACTER, 1, "U+000C at position 2"),
        (b"1\n\x1c\n", "id", Refusal.CONTROL_CHARACTER, 2, "U+001C at position 1"),  # whitespace to str.strip
        (b"\xff\xfe1\x00\n", "id", Refusal.CONTROL_CHARACTER, 1, "U+0000 at position 4"),  # UTF-16
        (b"1\r\n2\x81\n", None, Refusal.NOT_TEXT, 2, "0x81"),  # undefined in Windows-1252
        (b"1;a\n;x\n", "id", Refusal.EMPTY_CELL, 2, ""),
        (b"nome;cpf\nAna;\n", None, Refusal.EMPTY_CELL, 2, ""),
        (b"id;ref\n1;A\n", None, Refusal.SEVERAL_COLUMNS, 1, "id, external_ref"),
        (b"\ncpf\n1\n", "id", Refusal.HEADER_CONTRADICTS_MATCH, 2, "document"),
        (b"1" * (MAX_LIST_BYTES + 1), "id", Refusal.TOO_LARGE, None, str(MAX_LIST_BYTES + 1)),
        (b"1\n" * (MAX_CUSTOMERS + 1), "id", Refusal.TOO_MANY, MAX_CUSTOMERS + 1, str(MAX_CUSTOMERS)),
    ],
    ids=[
        "empty",
        "blank",
        "header-alone",
        "nul",
        "form-feed",
        "file-separator",
        "utf-16",
        "not-cp1252",
        "empty-cell",
        "empty-named-cell",
        "two-kinds",
        "header-contradicts",
        "too-large",
        "too-many",
    ],
)
def test_files_that_cannot_be_a_list_are_refused_naming_the_line(raw, match, kind, line, detail):
    with pytest.raises(ListRefused) as refused:
        read_customer_list(raw, match)
    assert (refused.value.kind, refused.value.line, refused.value.detail) == (kind, line, detail)
