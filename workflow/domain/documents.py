"""Brazilian taxpayer documents: CPF (people) and CNPJ (companies), stored as digits."""

from dataclasses import dataclass

from validate_docbr import CNPJ, CPF

from .errors import InvalidInput

_CPF = CPF()
_CNPJ = CNPJ()


@dataclass(frozen=True)
class Document:
    digits: str
    type: str  # "cpf" | "cnpj"


def only_digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def parse_document(raw: str) -> Document:
    """Accept a CPF or CNPJ with or without punctuation; check its digits."""
    if any(ch.isalpha() for ch in raw):
        raise InvalidInput(f"document {raw!r} must contain only digits and punctuation")
    digits = only_digits(raw)
    if len(digits) == 11:
        if not _CPF.validate(digits):
            raise InvalidInput(f"CPF {raw!r} is invalid: its check digits do not match")
        return Document(digits, "cpf")
    if len(digits) == 14:
        if not _CNPJ.validate(digits):
            raise InvalidInput(f"CNPJ {raw!r} is invalid: its check digits do not match")
        return Document(digits, "cnpj")
    raise InvalidInput(f"document {raw!r} has {len(digits)} digits; a CPF has 11 and a CNPJ 14")


def format_document(doc: Document) -> str:
    return _CPF.mask(doc.digits) if doc.type == "cpf" else _CNPJ.mask(doc.digits)
