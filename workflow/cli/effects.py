"""`ativa effects`: the effects of transitions (the outbox)."""

import typer

from ..domain.vocabulary import EffectState
from ..settings import get_settings
from ..usecases import customers, effects
from . import accept, groups, tables
from .console import out, print_json
from .options import JSON_OPTION, WIDE_OPTION
from .records import effect_json
from .session import CLI_ACTOR, unit


@groups.effects.command("list")
def effects_list(
    state: EffectState = typer.Option(None, "--state", help="pending, done, failed or skipped"),
    customer: str = typer.Option(None, "--customer", help="Customer id or external_ref.", parser=accept.ANY_TEXT),
    limit: int = typer.Option(100, "--limit", min=1, max=1000),
    as_json: bool = JSON_OPTION,
    wide: bool = WIDE_OPTION,
):
    """List effects, newest first."""
    with unit() as session:
        customer_id = customers.find_customer(session, customer).id if customer else None
        items = [effect_json(e) for e in effects.list_effects(session, state, customer_id, limit)]
    if as_json:
        return print_json({"items": items})
    tables.effects(out, items, get_settings().timezone, wide=wide)


@groups.effects.command("retry")
def effects_retry(effect_id: int = typer.Argument(..., help="A failed effect's id.", min=1, max=accept.MAX_ID)):
    """Give a failed effect a fresh set of attempts."""
    with unit(write=True) as session:
        effect = effects.retry_effect(session, effect_id, CLI_ACTOR.name)
        out.print(f"effect {effect.id} ({effect.name}) is pending again")
