"""Celery tasks: thin shells over workflow.services.effects."""

import logging

from datetime import date

from workflow.services import delinquency, effects, timers, tokens
from workflow.services.clock import provider_today
from workflow.settings import get_settings

from . import runtime
from .app import app, publish_effects
from .connectors import webhooks

log = logging.getLogger(__name__)


@app.task(name="workers.tasks.run_effects", acks_late=True)
def run_effects(effect_ids: list[int]) -> list[str]:
    """Claimed together, then each on its own: one failing never holds back the others of its
    transition. The provisioning calls an effect makes run right after it, in this task."""
    settings = get_settings()
    try:
        work = effects.claim_effects(runtime.db(), effect_ids, settings)
    except Exception:  # noqa: BLE001 - any claim taken lapses; the relay publishes them again
        log.exception("claiming effects %s failed", effect_ids)
        return ["error"] * len(effect_ids)
    states = []
    while work:
        item = work.pop(0)
        result = item if isinstance(item, effects.RunResult) else _carry_out(item, settings)
        work[:0] = result.follow_ups
        states.append(result.state)
    return states


def _carry_out(claim: effects.Claim, settings) -> effects.RunResult:
    try:
        result = effects.carry_out(
            runtime.db(), claim, settings, lambda delivery: webhooks.deliver(delivery, settings)
        )
    except Exception as error:  # noqa: BLE001 - recorded; the claim lapses and the relay retries
        log.exception("effect %s raised", claim.effect_id)
        try:
            effects.record_error(runtime.db(), claim.effect_id, error)
        except Exception:  # noqa: BLE001 - the database itself may be what failed
            log.exception("could not record the failure of effect %s", claim.effect_id)
        return effects.RunResult(claim.effect_id, "error")
    if result.retry_in is not None:
        log.info("effect %s failed, retry in %.1fs", claim.effect_id, result.retry_in)
        run_effects.apply_async(([claim.effect_id],), countdown=result.retry_in)
    return result


@app.task(name="workers.tasks.relay")
def relay() -> int:
    ids = effects.relay_pending(runtime.db(), get_settings())
    if ids:
        log.info("relay: publishing %d pending effect(s) again", len(ids))
        publish_effects(ids)
    return len(ids)


@app.task(name="workers.tasks.sweep")
def sweep(as_of: str | None = None) -> int:
    """The daily delinquency run: finds the due customers and hands them out in batches."""
    settings = get_settings()
    today = date.fromisoformat(as_of) if as_of else provider_today(settings.timezone)
    run = delinquency.run_sweep(
        runtime.db(), delinquency.policy_from(settings), today, settings.sweep_batch_size,
        dispatch=lambda ids: sweep_batch.delay(ids, today.isoformat()),
    )
    if run.not_a_cut_day:
        log.info("sweep skipped: %s", run.not_a_cut_day)
    else:
        log.warning("sweep of %s: %d candidate(s) in %d batch(es)", today, run.candidates, run.batches)
    return run.candidates


@app.task(name="workers.tasks.sweep_batch", acks_late=True)
def sweep_batch(customer_ids: list[int], as_of: str) -> int:
    """One transaction for the whole batch: those still due under the lock are cut."""
    settings = get_settings()
    done = delinquency.inactivate_due(
        runtime.db(), delinquency.policy_from(settings), customer_ids, date.fromisoformat(as_of)
    )
    return len(done.inactivated)


@app.task(name="workers.tasks.timers")
def timers_tick() -> int:
    """Trust unlocks that ended, and suspensions whose return date has come."""
    settings = get_settings()
    today = provider_today(settings.timezone)
    expired = timers.expire_trust_unlocks(runtime.db(), today)
    returned = timers.return_suspended(runtime.db(), today)
    return len(expired.changed) + len(returned.changed)


@app.task(name="workers.tasks.warnings")
def warnings_tick() -> int:
    settings = get_settings()
    return len(timers.queue_warnings(runtime.db(), delinquency.policy_from(settings),
                                     provider_today(settings.timezone), settings.warning_days))


@app.task(name="workers.tasks.purge_idempotency")
def purge_idempotency() -> int:
    with runtime.db().write() as session:
        return tokens.purge_idempotency_records(session, get_settings().idempotency_ttl_hours)


@app.task(name="workers.tasks.reconcile")
def reconcile() -> int:
    ids = effects.reconcile(runtime.db())  # published by the commit hook
    if ids:
        log.warning("reconciler: %d effect(s) created to repair drift", len(ids))
    return len(ids)
