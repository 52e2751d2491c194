"""Carrying out claimed effects: a local effect in one transaction with the change it makes, an
outbound call made outside any transaction and its outcome recorded after."""

from ...db.engine import Database
from ...settings import Settings
from .calls import run_call
from .claims import claim_effects, is_local
from .local import run_local
from .outcomes import Claim, Deliver, RunResult


def run_effect(db: Database, effect_id: int, settings: Settings, deliver: Deliver) -> RunResult:
    """Claim one effect and carry it out, with the calls it makes; returns its own result."""
    claimed = claim_effects(db, [effect_id], settings)[0]
    if isinstance(claimed, RunResult):
        return claimed
    result = carry_out(db, claimed, settings, deliver)
    for follow_up in result.follow_ups:
        carry_out(db, follow_up, settings, deliver)
    return result


def carry_out(db: Database, claim: Claim, settings: Settings, deliver: Deliver) -> RunResult:
    if is_local(claim):
        return run_local(db, claim, settings)
    return run_call(db, claim, settings, deliver)
