"""Bulk jobs: their states and outcomes, and the rules of a list of customers as given.

Pure: which kind each entry of a list is, whether the list may be read as ids, billing references
or CPF/CNPJ, and the refusals that name every offending entry (position and value).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from . import limits
from .documents import parse_document
from .errors import AtivaError, InvalidInput
from .vocabulary import ActivationReason, CustomerEvent, InactivationReason

MAX_CUSTOMERS = 100_000  # customers in one job
MAX_ENTRY_LENGTH = 200  # characters of one entry of a list (a reference or a document)


# The reasons a job may give, for the API, the CLI's choices and the UI's: a trust unlock needs its
# number of days, which a job does not carry, so it is one customer at a time.
BULK_REASONS: dict[CustomerEvent, tuple[str, ...]] = {
    CustomerEvent.ACTIVATE: tuple(
        reason.value for reason in ActivationReason if reason != ActivationReason.TRUST_UNLOCK
    ),
    CustomerEvent.INACTIVATE: tuple(reason.value for reason in InactivationReason),
}
# A reason that says nothing by itself: the job's note must say it (the machine would refuse each).
REASONS_NEEDING_A_NOTE = frozenset({InactivationReason.OTHER.value})


class BulkJobState(StrEnum):
    PREVIEW = "preview"  # a dry run: what would happen, nothing changed
    QUEUED = "queued"  # confirmed, its batches handed to the workers
    RUNNING = "running"  # a batch has started
    CANCELLED = "cancelled"  # stopped between batches: those not run are `skipped`
    DONE = "done"  # every batch has run


OPEN_STATES = frozenset({BulkJobState.QUEUED, BulkJobState.RUNNING})


class PreviewOutcome(StrEnum):
    CHANGE = "change"  # the machine would carry it out
    REFUSED = "refused"  # a guard (or an unknown stored status) refuses it, with its rule
    UNCHANGED = "unchanged"  # already in the state asked for


class ItemOutcome(StrEnum):
    PENDING = "pending"  # its batch has not run
    DONE = "done"
    REFUSED = "refused"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"  # the job was cancelled before its batch ran


class Match(StrEnum):
    ID = "id"
    EXTERNAL_REF = "external_ref"
    DOCUMENT = "document"


class TooManyCustomers(AtivaError):
    code = "payload_too_large"


class Conflict(AtivaError):
    """The job is not in a state that allows what was asked (run twice, cancel a finished job)."""

    code = "conflict"


class NothingSelected(InvalidInput):
    """A filter or a preset, well formed, that names no customer (nothing was created)."""


class SelectionRefused(InvalidInput):
    """A list of customers refused as a whole; `entries` names each offending entry."""

    def __init__(self, detail: str, entries: list[dict]):
        super().__init__(detail)
        self.entries = entries

    @property
    def extra(self) -> dict:
        return {"entries": self.entries}


@dataclass(frozen=True)
class Entry:
    position: int  # 1-based, in the list as given
    given: str  # the entry as given, as text
    key: int | str  # what is looked up: an id, a reference, a document's digits


def _described(entries: Sequence[tuple[int, object]], limit: int = 20) -> str:
    shown = ", ".join(f"#{position} {value!r}" for position, value in entries[:limit])
    more = f" and {len(entries) - limit} more" if len(entries) > limit else ""
    return shown + more


def _shown(value: object) -> object:
    """An entry as the answer can carry it: a lone surrogate (which no encoder writes) or a
    control character escaped."""
    if isinstance(value, str) and limits.forbidden_character(value):
        return value.encode("unicode_escape", "backslashreplace").decode("ascii")
    return value


def _refuse(why: str, bad: Sequence[tuple[int, object]]) -> SelectionRefused:
    return SelectionRefused(
        f"{why}: {_described(bad)}; nothing was created",
        [{"position": position, "value": _shown(value)} for position, value in bad],
    )


def read_entries(customers: list, match: str | None) -> tuple[Match, list[Entry]]:
    """The entries of a list of customers, each with what to look it up by; duplicates folded
    (the first position kept). A list that mixes kinds, or strings without `match`, is refused."""
    if not customers:
        raise InvalidInput("customers is empty: give at least one customer; nothing was created")
    if len(customers) > MAX_CUSTOMERS:
        raise TooManyCustomers(f"a job holds at most {MAX_CUSTOMERS} customers; {len(customers)} were given")
    numbered = list(enumerate(customers, start=1))
    ints = [(n, v) for n, v in numbered if type(v) is int]
    strings = [(n, v) for n, v in numbered if type(v) is str]
    other = [(n, v) for n, v in numbered if type(v) not in (int, str)]
    if other:
        raise _refuse("entries must be integer ids or strings", other)
    if ints and strings:
        fewer = strings if len(strings) <= len(ints) else ints
        raise _refuse("the list mixes integer ids and strings; send one kind, with `match`", fewer)
    if match is None:
        if strings:
            raise _refuse(
                "strings are ambiguous without `match`: say external_ref or document",
                strings[:20],
            )
        kind = Match.ID
    else:
        try:
            kind = Match(match)
        except ValueError:
            raise InvalidInput(f"match {match!r} is unknown: use id, external_ref or document") from None
        if ints and kind is not Match.ID:
            raise _refuse(f"match {kind} takes strings; these entries are not", ints)
    entries: list[Entry] = []
    bad: list[tuple[int, object]] = []
    seen: set[int | str] = set()
    for position, value in numbered:
        key = _key(kind, value)
        if key is None:
            bad.append((position, value))
            continue
        if key not in seen:
            seen.add(key)
            # The text stored is what was looked up by: "1" and "1" followed by spaces are one entry.
            entries.append(Entry(position, value.strip() if isinstance(value, str) else str(value), key))
    if bad:
        why = {
            Match.ID: f"ids must be between 1 and {limits.MAX_ROW_ID}",
            Match.EXTERNAL_REF: f"references must be 1 to {MAX_ENTRY_LENGTH} characters, without control characters",
            Match.DOCUMENT: "documents must be valid CPF or CNPJ numbers",
        }[kind]
        raise _refuse(why, bad)
    return kind, entries


def _key(kind: Match, value: int | str) -> int | str | None:
    """What an entry is looked up by, or None for an entry that cannot name any customer."""
    # Before stripping: str.strip() takes U+001C..U+001F for whitespace, a control is refused.
    if isinstance(value, str) and limits.forbidden_character(value):
        return None
    if kind is Match.ID:
        # Ids as numbers, or (with match "id", as a CSV gives them) as strings of digits.
        if isinstance(value, str):
            digits = value.strip()
            value = int(digits) if digits.isascii() and digits.isdigit() and len(digits) <= 10 else 0
        return value if 1 <= value <= limits.MAX_ROW_ID else None
    text = str(value).strip()
    if not text or len(text) > MAX_ENTRY_LENGTH or limits.forbidden_character(text):
        return None
    if kind is Match.EXTERNAL_REF:
        return text
    try:
        return parse_document(text).digits
    except InvalidInput:
        return None


def unknown_entries(entries: list[Entry], found: set[int | str]) -> SelectionRefused | None:
    """The refusal that lists every entry no customer answers to, or None."""
    unknown = [
        (entry.position, entry.key if isinstance(entry.key, int) else entry.given)
        for entry in entries
        if entry.key not in found
    ]
    if not unknown:
        return None
    return SelectionRefused(
        f"{len(unknown)} {'entry names' if len(unknown) == 1 else 'entries name'} no customer: "
        f"{_described(unknown)}; nothing was created",
        [{"position": position, "value": value} for position, value in unknown],
    )
