"""A JSON-lines file of billing events, read lazily a batch at a time (a 50,000-line file is never
held whole): each non-blank line is either an event to post, or refused here with its reason.

What is refused here would make the server refuse the whole batch (not JSON, not an object, a lone
surrogate its parser cannot read) or cannot be an event at all (no id, type or data); the rest,
an unknown type or customer included, is the server's to judge, event by event.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

BOM = b"\xef\xbb\xbf"
MAX_LINE_BYTES = 65536  # a longer line is refused unread (a binary file, a lost line break)
_READ_CHUNK = 1 << 16


@dataclass(frozen=True)
class Event:
    line: int
    text: str  # the line as it was, without its line break
    id: str
    body: bytes  # the object, as posted (compact UTF-8 JSON)


@dataclass(frozen=True)
class Refused:
    line: int
    text: str
    problem: str


Read = Event | Refused


def _lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """(number, bytes) of each non-blank line, its line break and a leading BOM removed; a line
    longer than MAX_LINE_BYTES comes back cut there (and is refused by its length)."""
    number = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while (rest := stream.readline(_READ_CHUNK)) and not rest.endswith(b"\n"):
                pass  # skip the rest of the overlong line
        if number == 1:
            raw = raw.removeprefix(BOM)
        if raw.strip():
            yield number, raw.rstrip(b"\r\n")


def count_lines(path: Path) -> int:
    """The non-blank lines of the file (what the progress counts), in one streaming pass."""
    with path.open("rb") as stream:
        return sum(1 for _ in _lines(stream))


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def parse(number: int, raw: bytes) -> Read:
    """One line: the event to post, or why it is refused here."""
    if len(raw) > MAX_LINE_BYTES:
        return Refused(number, raw.decode("utf-8", "replace"), f"longer than {MAX_LINE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        where = f"byte 0x{raw[error.start]:02x} at position {error.start + 1}"
        return Refused(number, raw.decode("utf-8", "replace"), f"not UTF-8 text ({where})")
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except ValueError as error:
        reason = f"{error.msg} (column {error.colno})" if isinstance(error, json.JSONDecodeError) else str(error)
        return Refused(number, text, f"not JSON: {reason}")
    problem = _shape_problem(value)
    if problem is not None:
        return Refused(number, text, problem)
    try:
        body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError as error:
        return Refused(number, text, f"a lone surrogate (U+{ord(error.object[error.start]):04X}) is not text")
    return Event(number, text, value["id"], body)


_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true or false"}
_JSON_KINDS[type(None)] = "null"


def _shape_problem(value: object) -> str | None:
    if not isinstance(value, dict):
        return f"not a JSON object ({_JSON_KINDS.get(type(value), 'something else')})"
    missing = [key for key in ("id", "type", "data") if key not in value]
    if missing:
        return f"no {', '.join(missing)}"
    if not isinstance(value["id"], str) or not value["id"]:
        return "id must be a non-empty string"
    if not isinstance(value["type"], str):
        return "type must be a string"
    if not isinstance(value["data"], dict):
        return "data must be an object"
    return None


def batches(path: Path, size: int) -> Iterator[list[Read]]:
    """The file's non-blank lines, `size` at a time, each parsed."""
    with path.open("rb") as stream:
        batch: list[Read] = []
        for number, raw in _lines(stream):
            batch.append(parse(number, raw))
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch
