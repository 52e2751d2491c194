"""Celery tasks: thin shells over workflow.usecases.effects."""

import logging
from datetime import date, timedelta

from workflow.settings import get_settings
from workflow.usecases import bulk, delinquency, effects, freeze, ladder, sweep_dispatch, timers, tokens
from workflow.usecases.business_day import provider_today

from . import runtime
from .app import app, publish_effects
from .connectors import outbound

log = logging.getLogger(__name__)


# The registered name is what queued messages carry: it stays, whatever the function is called.
@app.task(name="workers.tasks.run_effects", acks_late=True)
def hand_over_effects(effect_ids: list[int]) -> list[str]:
    """Hands the effect ids of one message to the service, which claims, carries out and records them."""
    settings = get_settings()
    results = effects.process_effects(
        runtime.db(),
        effect_ids,
        settings,
        deliver=outbound.Outbound(settings),
        retry_later=_retry_later,
    )
    return [result.state for result in results]


def _retry_later(effect_id: int, countdown: float) -> None:
    """A short retry, as a countdown message (a longer one is parked: the relay publishes it)."""
    hand_over_effects.apply_async(
        ([effect_id],),
        countdown=countdown,
        retry=True,
        retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.2},
    )


@app.task(name="workers.tasks.relay")
def relay() -> int:
    ids = effects.relay_pending(runtime.db(), get_settings())
    if ids:
        log.info("relay: publishing %d pending effect(s) again", len(ids))
        publish_effects([[effect_id] for effect_id in ids])  # unrelated effects: packed BATCH a message
    return len(ids)


@app.task(name="workers.tasks.sweep")
def sweep(as_of: str | None = None) -> int:
    """The daily delinquency run: the collection ladder's steps first (a customer cut today had its
    steps before), then the due customers found and handed out in batches."""
    settings = get_settings()
    today = date.fromisoformat(as_of) if as_of else provider_today(settings.timezone)
    policy = delinquency.policy_from(settings)
    try:
        steps = ladder.advance_ladder(runtime.db(), policy, today, settings)
    except Exception:
        log.exception("sweep's ladder failed; the cut goes ahead and the hourly job tries the ladder again")
        steps = ladder.LadderRun()
    if steps.advanced or steps.cleared:
        log.info(
            "sweep's ladder: %d customer(s) advanced, %d back to their plan", len(steps.advanced), len(steps.cleared)
        )
    run = delinquency.run_sweep(
        runtime.db(),
        policy,
        today,
        settings.sweep_batch_size,
        dispatch=lambda ids: sweep_batch.delay(ids, today.isoformat()),
    )
    if run.frozen is not None:
        log.warning("sweep of %s: nobody cut, %s", today, run.frozen.describe())
    elif run.not_a_cut_day:
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


@app.task(name="workers.tasks.bulk_batch", acks_late=True)
def bulk_batch(job_id: int, batch_no: int) -> int:
    """One batch of a bulk job, one transaction; a batch run already (redelivered) writes nothing."""
    return len(bulk.run_batch(runtime.db(), job_id, batch_no).done)


@app.task(name="workers.tasks.timers")
def timers_tick() -> int:
    """The freeze's end and alerts, trust unlocks that ended, suspensions whose return date has
    come, notices whose snooze is over."""
    settings = get_settings()
    today = provider_today(settings.timezone)
    try:  # first, and on its own: a failure of the timers below must not hold back an alert
        freeze.lift_expired(runtime.db(), today)
        freeze.send_alerts(runtime.db(), settings, lambda webhook_id, body: _to_billing(webhook_id, body, settings))
    except Exception:
        log.exception("freeze alerts: this tick failed; the next one tries again")
    expired = timers.expire_trust_unlocks(runtime.db(), today)
    returned = timers.return_suspended(runtime.db(), today)
    resumed = ladder.resume_notices(runtime.db(), today)
    stalled = bulk.redispatch_stalled(
        runtime.db(),
        timedelta(seconds=settings.bulk_stall_seconds),
        sweep_dispatch.installed_bulk_dispatcher(),
    )
    if stalled:
        log.warning("bulk jobs with no progress, their pending batches queued again: %s", stalled)
    return len(expired.changed) + len(returned.changed) + len(resumed.resumed)


def _to_billing(webhook_id: str, body: dict, settings) -> None:
    outbound.webhooks.deliver(effects.Delivery("billing", webhook_id, body), settings)


@app.task(name="workers.tasks.ladder")
def ladder_tick() -> int:
    """The collection ladder's steps (notice, reduced speed) for the debts as they stand today."""
    settings = get_settings()
    run = ladder.advance_ladder(
        runtime.db(), delinquency.policy_from(settings), provider_today(settings.timezone), settings
    )
    if run.advanced or run.cleared:
        log.info("ladder: %d customer(s) advanced, %d back to their plan", len(run.advanced), len(run.cleared))
    if run.frozen is not None and run.kept:
        log.warning("ladder: %d step(s) not taken, %s", len(run.kept), run.frozen.describe())
    return len(run.advanced) + len(run.cleared)


@app.task(name="workers.tasks.warnings")
def warnings_tick() -> int:
    settings = get_settings()
    return len(
        timers.queue_warnings(
            runtime.db(), delinquency.policy_from(settings), provider_today(settings.timezone), settings.warning_days
        )
    )


@app.task(name="workers.tasks.purge_idempotency")
def purge_idempotency() -> int:
    with runtime.db().write() as session:
        return tokens.purge_idempotency_records(session, get_settings().idempotency_ttl_hours)


@app.task(name="workers.tasks.reconcile")
def reconcile() -> int:
    ids = effects.reconcile(runtime.db(), settings=get_settings())  # published by the commit hook
    if ids:
        log.warning("reconciler: %d effect(s) created to repair drift", len(ids))
    return len(ids) + len(effects.reconcile_notifications(runtime.db()))
