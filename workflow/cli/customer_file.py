"""A file of customers for `ativa bulk --csv`, read by the one rule set (domain.customer_list),
its refusals worded in one line of English that names the file and the line."""

from pathlib import Path

from ..domain.bulk import Match
from ..domain.customer_list import MAX_LIST_BYTES, CustomerList, ListRefused, Refusal, read_customer_list

_LIMIT = f"{MAX_LIST_BYTES // (1024 * 1024)} MB"


class CustomerFileError(ValueError):
    """The file cannot be read as a list of customers; the message names it (and the line)."""


def _worded(path: Path, refused: ListRefused, match: Match | None = None) -> str:
    at = f"{path}, line {refused.line}" if refused.line else str(path)
    return {
        Refusal.TOO_LARGE: f"{path} is larger than {_LIMIT}; split the list into several jobs",
        Refusal.NOT_TEXT: f"{at}: byte {refused.detail} is neither UTF-8 nor Windows-1252 (save the file as UTF-8)",
        Refusal.CONTROL_CHARACTER: f"{at}: a control character, {refused.detail} (not a text file?)",
        Refusal.EMPTY_CELL: f"{at}: the column of customers is empty",
        Refusal.NO_CUSTOMER: f"{path} names no customer ({refused.detail})",
        Refusal.TOO_MANY: f"{at}: a job holds at most {refused.detail} customers",
        Refusal.SEVERAL_COLUMNS: f"{at}: the header names several columns of customers ({refused.detail}); "
        "say which with --match",
        Refusal.HEADER_CONTRADICTS_MATCH: f"{at}: no column of the header holds {match} "
        f"(its columns hold {refused.detail})",
    }[refused.kind]


def read_customer_file(path: Path, match: Match | None) -> CustomerList:
    try:
        if path.stat().st_size > MAX_LIST_BYTES:  # refused before it is read into memory
            raise CustomerFileError(_worded(path, ListRefused(Refusal.TOO_LARGE, None)))
        raw = path.read_bytes()
    except OSError as error:
        raise CustomerFileError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        return read_customer_list(raw, match.value if match else None)
    except ListRefused as refused:
        raise CustomerFileError(_worded(path, refused, match)) from None
