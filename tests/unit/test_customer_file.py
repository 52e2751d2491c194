"""`ativa bulk --csv`: the files a spreadsheet or a script writes are read as the operator meant,
each entry with its line, and anything else refused naming the line."""

import pytest

from workflow.cli.customer_file import CustomerFileError, read_customer_file
from workflow.domain.bulk import Match
from workflow.domain.customer_list import MAX_LIST_BYTES


def read(tmp_path, content: bytes, match: Match | None = None):
    path = tmp_path / "clientes.csv"
    path.write_bytes(content)
    return read_customer_file(path, match)


@pytest.mark.parametrize(
    "content, match, entries, kind, lines",
    [
        (b"1\n2\n\n3\n", None, ["1", "2", "3"], None, [1, 2, 4]),  # blank lines skipped, lines kept
        (b"\xef\xbb\xbfid\r\n7\r\n8\r\n", None, ["7", "8"], Match.ID, [2, 3]),  # BOM, CRLF, a header
        (b'nome;CPF\n"Silva; Ana";529.982.247-25\n', None, ["529.982.247-25"], Match.DOCUMENT, [2]),
        (b"ref,name\nIXC-1,Ana\n", None, ["IXC-1"], Match.EXTERNAL_REF, [2]),
        (b"id\tref\n5\tIXC-5\n", Match.EXTERNAL_REF, ["IXC-5"], Match.EXTERNAL_REF, [2]),  # --match picks
        (b"IXC-1\nIXC-2\n", Match.EXTERNAL_REF, ["IXC-1", "IXC-2"], Match.EXTERNAL_REF, [1, 2]),
        (b"1,2\n3,4\n", None, ["1", "3"], None, [1, 2]),  # no header: the first column
        (b"c\xf3digo\nJO\xc3O-1\n", None, ["JOÃO-1"], Match.EXTERNAL_REF, [2]),  # Windows-1252
    ],
    ids=["ids", "bom-crlf-header", "quoted-semicolon", "comma", "match-picks", "refs", "no-header", "cp1252"],
)
def test_files_are_read_as_meant(tmp_path, content, match, entries, kind, lines):
    read_back = read(tmp_path, content, match)
    assert (read_back.entries, read_back.match, read_back.lines) == (entries, kind, lines)


@pytest.mark.parametrize(
    "content, match, message",
    [
        (b"", None, "names no customer (it is empty)"),
        (b"id\n", None, "names no customer (a header alone)"),
        (b"id;ref\n1;A\n", None, "line 1: the header names several columns of customers (id, external_ref); say which"),
        (b"id\n1\n", Match.DOCUMENT, "line 1: no column of the header holds document (its columns hold id)"),
        (b"1\n2\n\x00\n", None, "line 3: a control character, U+0000 at position 1"),
        (b"1\n\x81\n", None, "line 2: byte 0x81 is neither UTF-8 nor Windows-1252"),
        (b"1;a\n;b\n", None, "line 2: the column of customers is empty"),
    ],
    ids=["empty", "header-alone", "two-kinds", "no-such-column", "nul", "not-text", "empty-cell"],
)
def test_unreadable_files_are_refused_naming_the_line(tmp_path, content, match, message):
    with pytest.raises(CustomerFileError) as refused:
        read(tmp_path, content, match)
    assert message in str(refused.value)
    assert str(refused.value).startswith(str(tmp_path / "clientes.csv"))


def test_a_file_past_the_limit_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "clientes.csv"
    with path.open("wb") as file:
        file.truncate(MAX_LIST_BYTES + 1)  # sparse: NULs never read, the size alone refuses it
    with pytest.raises(CustomerFileError) as refused:
        read_customer_file(path, None)
    assert str(refused.value) == f"{path} is larger than 3 MB; split the list into several jobs"


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(CustomerFileError) as refused:
        read_customer_file(tmp_path / "missing.csv", None)
    assert str(refused.value) == f"cannot read {tmp_path / 'missing.csv'}: No such file or directory"
