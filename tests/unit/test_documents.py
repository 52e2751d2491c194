import pytest

from workflow.domain.documents import Document, format_document, parse_document
from workflow.domain.errors import InvalidInput


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("529.982.247-25", Document("52998224725", "cpf")),
        ("52998224725", Document("52998224725", "cpf")),
        (" 529 982 247 25 ", Document("52998224725", "cpf")),
        ("11.222.333/0001-81", Document("11222333000181", "cnpj")),
        ("11222333000181", Document("11222333000181", "cnpj")),
    ],
)
def test_valid_documents_are_stored_as_digits(raw, expected):
    assert parse_document(raw) == expected


@pytest.mark.parametrize(
    "raw, message",
    [
        ("529.982.247-26", "check digits"),
        ("111.111.111-11", "check digits"),
        ("11.222.333/0001-82", "check digits"),
        ("1234", "has 4 digits"),
        ("", "has 0 digits"),
        ("529.982.247-2X", "only digits"),
    ],
)
def test_invalid_documents_are_refused_with_the_reason(raw, message):
    with pytest.raises(InvalidInput) as refused:
        parse_document(raw)
    assert message in refused.value.detail


def test_format_document():
    assert format_document(Document("52998224725", "cpf")) == "529.982.247-25"
    assert format_document(Document("11222333000181", "cnpj")) == "11.222.333/0001-81"
