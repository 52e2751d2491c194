"""`ativa freeze`: freeze the automatic cuts, lift the freeze, see it."""

from datetime import date

import typer

from ..domain.freeze import Freeze
from ..domain.vocabulary import Source
from ..settings import get_settings
from ..usecases import freeze, freeze_views
from . import accept, groups
from .console import out, print_json
from .options import JSON_OPTION
from .output import local_time, print_table
from .session import CLI_ACTOR, open_database

REASON = accept.text(freeze.REASON_MAX_CHARS, multiline=True)


def describe(frozen: Freeze | freeze_views.FreezeOut, zone: str) -> str:
    """One line: why, by whom, since when, through which day."""
    until = f" through {frozen.until.isoformat()}" if frozen.until else " until lifted"
    return f"{frozen.reason} (by {frozen.actor}, since {local_time(frozen.since, zone)}{until})"


def _freeze_of(state: freeze_views.FreezeStateOut) -> freeze_views.FreezeOut:
    return freeze_views.FreezeOut(
        reason=state.reason or "",
        until=state.until,
        since=state.since,
        actor=state.actor or "",
        source=state.source or "",
        automatic=state.automatic,
    )


def _state(as_json: bool, lifted: bool | None = None) -> None:
    settings = get_settings()
    db = open_database(settings)
    try:
        state = freeze_views.current_state(db)
    finally:
        db.dispose()
    if as_json:
        data = state.model_dump(mode="json")
        return print_json(data if lifted is None else {**data, "lifted": lifted})
    zone = settings.timezone
    if state.holds:
        out.print(f"automatic cuts are FROZEN: {describe(_freeze_of(state), zone)}")
    elif state.frozen:
        out.print(f"a freeze is recorded but its last day ({state.until}) has passed: automatic cuts go ahead")
    else:
        out.print("automatic cuts are not frozen")
    if state.history:
        print_table(
            out,
            f"Last changes ({zone})",
            ["when", "action", "reason", "until", "by", "alert"],
            [[local_time(c.at, zone), c.action, c.reason, c.until, c.actor, c.alert_state] for c in state.history],
        )


@groups.freeze.command("on")
def freeze_on(
    reason: str = typer.Option(..., "--reason", help="Why (up to 500 characters).", parser=REASON),
    until: date = typer.Option(
        None, "--until", help="The last day it holds (YYYY-MM-DD); default: until lifted.", parser=accept.iso_date
    ),
    as_json: bool = JSON_OPTION,
):
    """Freeze the automatic cuts (or change the reason or last day of the freeze). People still
    inactivate by hand; payments still reactivate."""
    db = open_database(get_settings())  # the alert goes out from the workers' timers
    try:
        freeze.freeze_cuts(db, reason, until, CLI_ACTOR.name, Source.CLI)
    finally:
        db.dispose()
    _state(as_json)


@groups.freeze.command("off")
def freeze_off(
    note: str = typer.Option(None, "--note", help="Why it is lifted (kept in the history).", parser=REASON),
    as_json: bool = JSON_OPTION,
):
    """Lift the freeze: the next sweep cuts as usual."""
    db = open_database(get_settings())  # the alert goes out from the workers' timers
    try:
        lifted = freeze.lift_freeze(db, CLI_ACTOR.name, Source.CLI, note) is not None
    finally:
        db.dispose()
    if not as_json:
        out.print("freeze lifted" if lifted else "nothing to lift: automatic cuts were not frozen")
    _state(as_json, lifted)


@groups.freeze.command("status")
def freeze_status(as_json: bool = JSON_OPTION):
    """Whether automatic cuts are frozen, by whom and why, and the last changes."""
    _state(as_json)
