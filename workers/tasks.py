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
    """Claimed together, then carried out: the local effects of one customer in one transaction,
    then the outbound calls (those claimed, and the provisioning calls the local effects made)
    one after the other, their outcomes recorded in one transaction. Whatever fails together is
    done again one at a time, so one failing never holds back the others of its transition."""
    settings = get_settings()
    db = runtime.db()
    try:
        work = effects.claim_effects(db, effect_ids, settings)
    except Exception:  # noqa: BLE001 - any claim taken lapses; the relay publishes them again
        log.exception("claiming effects %s failed", effect_ids)
        return ["error"] * len(effect_ids)
    results: list[effects.RunResult] = []
    calls: list[effects.Claim] = []
    by_customer: dict[int, list[effects.Claim]] = {}
    for item in work:
        if isinstance(item, effects.RunResult):
            results.append(item)
        elif effects.is_local(item):
            by_customer.setdefault(item.customer_id, []).append(item)
        else:
            calls.append(item)
    made = []
    for group in by_customer.values():
        done = effects.run_locals_together(db, group, settings) if len(group) > 1 else None
        for result in done if done is not None else [_carry_out(claim, settings) for claim in group]:
            results.append(result)
            made += result.follow_ups
    calls[:0] = made  # the provisioning calls first: restoring is what the customer waits for

    settlements: list[effects.Settlement] = []
    for claim in calls:
        # Calls made are recorded before another one if it could outlive their claims (so no
        # other worker makes them again), and a few at a time in a big batch (the relay's).
        if settlements and (len(settlements) == SETTLE_TOGETHER or not all(
                effects.outlasts_a_call(s.until, settings) for s in settlements)):
            results += _settle(db, settlements)
            settlements = []
        outcome = _carry_out(claim, settings, settle=False)
        if isinstance(outcome, effects.Settlement):
            settlements.append(outcome)
        else:
            results.append(outcome)
    results += _settle(db, settlements)
    return [result.state for result in results]


# Calls made but not recorded yet are made again if the worker dies (the receiver deduplicates
# on webhook-id, as it must anyway): a few at most.
SETTLE_TOGETHER = 8


def _settle(db, settlements: list[effects.Settlement]) -> list[effects.RunResult]:
    if len(settlements) > 1:
        try:
            return effects.settle_together(db, settlements)
        except Exception:  # noqa: BLE001 - nothing recorded; one at a time below
            log.warning("settling %d calls together failed; one at a time", len(settlements), exc_info=True)
    return [_guarded(s.effect_id, lambda s=s: effects.settle_one(db, s)) for s in settlements]


def _carry_out(claim: effects.Claim, settings, settle: bool = True):
    """One effect; an outbound call made returns its Settlement unless `settle`."""
    deliver = lambda delivery: webhooks.deliver(delivery, settings)  # noqa: E731
    if settle or effects.is_local(claim):
        return _guarded(claim.effect_id, lambda: effects.carry_out(runtime.db(), claim, settings, deliver))
    return _guarded(claim.effect_id, lambda: effects.make_call(runtime.db(), claim, settings, deliver))


def _guarded(effect_id: int, run):
    try:
        result = run()
    except Exception as error:  # noqa: BLE001 - recorded; the claim lapses and the relay retries
        log.exception("effect %s raised", effect_id)
        try:
            effects.record_error(runtime.db(), effect_id, error)
        except Exception:  # noqa: BLE001 - the database itself may be what failed
            log.exception("could not record the failure of effect %s", effect_id)
        return effects.RunResult(effect_id, "error")
    if isinstance(result, effects.RunResult) and result.retry_in is not None:
        log.info("effect %s failed, retry in %.1fs", effect_id, result.retry_in)
        try:
            run_effects.apply_async(([effect_id],), countdown=result.retry_in, retry=True,
                                    retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.2})
        except Exception as error:  # noqa: BLE001 - a broker outage: one line, no traceback
            # The effect is pending with its next attempt recorded: the relay publishes it when due.
            log.warning("effect %s: retry not scheduled, the broker is unavailable (%s: %s); the relay "
                        "publishes it", effect_id, type(error).__name__, error)
    elif isinstance(result, effects.RunResult) and result.state == "pending":
        log.info("effect %s failed; parked until its next attempt is due (the relay publishes it)", effect_id)
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
    return len(ids) + len(effects.reconcile_notifications(runtime.db()))
