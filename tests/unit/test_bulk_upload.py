"""The uploaded spreadsheet as a list: encodings and separators as spreadsheets export them, a
header skipped, each entry with the line a person sees in the spreadsheet."""

import pytest

from workflow.web.bulk_upload import MAX_UPLOAD_BYTES, UnreadableFile, read_list


def test_latin1_with_semicolons_and_a_header():
    raw = "Código;Nome\r\nJOÃO-1;João\r\nZÉ-2;Zé\r\n".encode("cp1252")
    listed = read_list(raw)
    assert (listed.entries, listed.lines) == (["JOÃO-1", "ZÉ-2"], [2, 3])


def test_utf8_with_a_bom_commas_quotes_and_blank_lines():
    raw = '\ufeffcpf,nome\n"529.982.247-25","Souza, Maria"\n\n  \n111.444.777-35,Ana\n'.encode()
    listed = read_list(raw)
    assert (listed.entries, listed.lines) == (["529.982.247-25", "111.444.777-35"], [2, 5])


def test_every_entry_stays_text_for_the_job_to_read_or_refuse():
    listed = read_list(b"id\n7\n0012\n12a\n\xb2\n99999999999999999999\n")
    assert listed.entries == ["7", "0012", "12a", "²", "99999999999999999999"]
    assert listed.lines == [2, 3, 4, 5, 6]


def test_control_characters_stay_in_the_entry_and_do_not_shift_the_lines():
    # A form feed is a line break to str.splitlines, never to a spreadsheet; a NUL is kept for the
    # job to refuse by its line.
    listed = read_list(b"A\x0cB\nC\x00\n'D\n")
    assert (listed.entries, listed.lines) == (["A\x0cB", "C\x00", "'D"], [1, 2, 3])


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"", "não tem nenhum cliente"),
        (b"cpf\n\n", "não tem nenhum cliente"),
        (b"1;a\n;x\n", "A linha 2 tem a primeira coluna vazia"),
        (b"1" * (MAX_UPLOAD_BYTES + 1), "o limite é 3 MB"),
    ],
)
def test_files_that_cannot_be_a_list(raw, words):
    with pytest.raises(UnreadableFile, match=words):
        read_list(raw)
