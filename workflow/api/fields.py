"""The API's input types, bounded by workflow/domain/limits.py: every id, date and text a request
carries is checked here, before anything reaches the database, and refused as a 422 naming it."""

import re
from datetime import date, datetime
from typing import Annotated, Any

from annotated_types import Interval
from fastapi import Path
from pydantic import AfterValidator, AwareDatetime, BeforeValidator

from ..domain import limits

# A row id or a version: what an INTEGER column holds (ge/le also appear in the OpenAPI document).
IdValue = Annotated[int, Interval(ge=1, le=limits.MAX_ROW_ID)]
RowId = Annotated[IdValue, Path()]


def _text_rule(multiline: bool):
    def check(value: str) -> str:
        bad = limits.forbidden_character(value, multiline=multiline)
        if bad:
            raise ValueError(f"must not contain control characters or lone surrogates ({bad})")
        return value

    return AfterValidator(check)


class _Documented:
    """Puts the characters a text refuses into the OpenAPI document as a `pattern`, so clients
    (and fuzzers) know the rule (domain/limits.py states it)."""

    def __init__(self, pattern: str):
        self.pattern = pattern

    def __get_pydantic_json_schema__(self, core_schema, handler):
        return {**handler(core_schema), "pattern": self.pattern}


# names, references, search terms
Line = Annotated[str, _text_rule(multiline=False), _Documented(limits.LINE_PATTERN)]
# notes: tab and line breaks allowed
Text = Annotated[str, _text_rule(multiline=True), _Documented(limits.TEXT_PATTERN)]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}.*")


def _iso(pattern: re.Pattern, example: str):
    """Dates travel as ISO strings; a number (which pydantic would read as a Unix time) is refused."""

    def check(value: Any) -> Any:
        if isinstance(value, (date, datetime)):
            return value
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise ValueError(f"must be an ISO string like {example}")
        return value

    return BeforeValidator(check)


IsoDate = Annotated[date, _iso(_ISO_DATE, "2026-12-01")]
IsoDateTime = Annotated[AwareDatetime, _iso(_ISO_DATETIME, "2026-12-01T14:30:00-03:00")]
