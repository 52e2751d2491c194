"""`ativa bulk --csv`: the files a spreadsheet or a script writes are read as the operator meant,
each entry with its line, and anything else refused naming the line."""

import pytest

from workflow.cli.customer_file import CustomerFileError, read_customer_file
from workflow.domain.bulk import Match


def read(tmp_path, content: bytes, match: Match | None = None):
    path = tmp_path / "clientes.csv"
    path.write_bytes(content)
    return read_customer_file(path, match)


@pytest.mark.parametrize(
    "content, match, entries, kind, lines",
    [
        (b"1\n2\n\n3\n", None, [1, 2, 3], None, [1, 2, 4]),  # blank lines skipped, lines kept
        (b"\xef\xbb\xbfid\r\n7\r\n8\r\n", None, ["7", "8"], Match.ID, [2, 3]),  # BOM, CRLF, a header
        (b'nome;CPF\n"Silva; Ana";529.982.247-25\n', None, ["529.982.247-25"], Match.DOCUMENT, [2]),
        (b"ref,name\nIXC-1,Ana\n", None, ["IXC-1"], Match.EXTERNAL_REF, [2]),
        (b"id\tref\n5\tIXC-5\n", Match.EXTERNAL_REF, ["IXC-5"], Match.EXTERNAL_REF, [2]),  # --match picks
        (b"IXC-1\nIXC-2\n", Match.EXTERNAL_REF, ["IXC-1", "IXC-2"], Match.EXTERNAL_REF, [1, 2]),
        (b"1\nIXC-1\n", None, [1, "IXC-1"], None, [1, 2]),  # a mix: the job's rules refuse it, by line
        (b"99999999999999999999999\n", None, ["99999999999999999999999"], None, [1]),  # never parsed whole
    ],
    ids=["ids", "bom-crlf-header", "quoted-semicolon", "comma", "match-picks", "refs", "mix", "huge"],
)
def test_files_are_read_as_meant(tmp_path, content, match, entries, kind, lines):
    read_back = read(tmp_path, content, match)
    assert (read_back.entries, read_back.match, read_back.lines) == (entries, kind, lines)


@pytest.mark.parametrize(
    "content, match, message",
    [
        (b"", None, "names no customer (it is empty)"),
        (b"id\n", None, "names no customer (a header alone)"),
        (b"id;ref\n1;A\n", None, "several columns of customers; say which with --match"),
        (b"id\n1\n", Match.DOCUMENT, "no column of the header holds document"),
        (b"1,2\n", None, "has 2 columns and no header"),
        (b"1\n2\n\x00\n", None, "line 3: a NUL byte"),
        (b"1\n\xe9\n", None, "line 2: byte 0xe9 is not UTF-8"),
    ],
    ids=["empty", "header-alone", "two-kinds", "no-such-column", "no-header", "nul", "latin-1"],
)
def test_unreadable_files_are_refused_naming_the_line(tmp_path, content, match, message):
    with pytest.raises(CustomerFileError) as refused:
        read(tmp_path, content, match)
    assert message in str(refused.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(CustomerFileError) as refused:
        read_customer_file(tmp_path / "missing.csv", None)
    assert str(refused.value) == f"cannot read {tmp_path / 'missing.csv'}: No such file or directory"
