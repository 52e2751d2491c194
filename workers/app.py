"""The Celery app: configuration that makes effects survive crashes (see docs/architecture.md, Library traps)."""

import logging
from datetime import date

from celery import Celery
from celery.schedules import crontab
from celery.signals import after_setup_logger, worker_process_init

from workflow.settings import Settings, get_settings
from workflow.usecases import effect_bus, sweep_dispatch

from . import folder_broker, redis_broker

log = logging.getLogger(__name__)

EFFECTS_QUEUE = "ativa"
# Longer than any retry countdown (effects.COUNTDOWN_LIMIT_SECONDS), so Redis never redelivers a waiting one.
VISIBILITY_TIMEOUT = 3600


def daily_at(settings: Settings, app: Celery) -> crontab:
    """Every day at ATIVA_SWEEP_LOCAL_TIME on the provider's clock: crontabs follow the app's
    `timezone`, set to the provider's; messages and timestamps stay in UTC (enable_utc)."""
    hour, minute = (int(part) for part in settings.sweep_local_time.split(":"))
    return crontab(hour=hour, minute=minute, app=app)


def make_celery(settings: Settings) -> Celery:
    broker_url = settings.resolved_broker_url
    transport_options: dict = {"visibility_timeout": VISIBILITY_TIMEOUT}
    if broker_url.startswith("redis://"):
        broker_url = redis_broker.register(broker_url)  # survives Redis dying mid-work
    if broker_url.startswith("filesystem://"):
        broker_url = folder_broker.register()
        folder = settings.broker_folder
        (folder / "queue").mkdir(parents=True, exist_ok=True)
        # One folder in and out: the transport requires data_folder_in == data_folder_out.
        # The exchange table too, which kombu would otherwise keep in ./control of the cwd.
        transport_options = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "control_folder": str(folder / "control"),
            "store_processed": False,
            "polling_interval": 0.05,
        }
    app = Celery("ativa", broker=broker_url, include=["workers.tasks"])
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,  # capped by the effect's own attempt counter
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=EFFECTS_QUEUE,
        task_serializer="json",
        accept_content=["json"],
        enable_utc=True,
        timezone=settings.timezone,
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        # Ride out a broker outage however long it lasts (Celery gives up after 100 attempts,
        # about 45 min, by default); effects wait in the outbox meanwhile.
        broker_connection_retry=True,
        broker_connection_max_retries=None,
        broker_connection_timeout=3,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        beat_scheduler="workers.beat:LeasedScheduler",
        beat_schedule={
            # expires: a relay run stuck behind a backlog is useless once the next one is due.
            "relay": {
                "task": "workers.tasks.relay",
                "schedule": settings.relay_interval_seconds,
                "options": {"expires": settings.relay_interval_seconds * 2},
            },
            "reconcile": {"task": "workers.tasks.reconcile", "schedule": settings.reconcile_interval_seconds},
            "purge-idempotency": {"task": "workers.tasks.purge_idempotency", "schedule": 3600.0},
            "sweep": {"task": "workers.tasks.sweep", "schedule": daily_at(settings, app)},
            # Trust unlocks end within a minute of their deadline; returns on their day.
            "timers": {
                "task": "workers.tasks.timers",
                "schedule": settings.timers_interval_seconds,
                "options": {"expires": settings.timers_interval_seconds},
            },
            "warnings": {"task": "workers.tasks.warnings", "schedule": 3600.0},
            "ladder": {"task": "workers.tasks.ladder", "schedule": 3600.0, "options": {"expires": 3600.0}},
        },
    )
    return app


app = make_celery(get_settings())


BATCH = 50


def publish_effects(groups: list[list[int]]) -> None:
    """Fast path after commit: messages of up to BATCH effect ids, a group's ids (a transition's
    effects) never split across two (a group over BATCH is cut in BATCH pieces), so each payment of
    a batch is carried out at once. A short retry policy, so a dead broker does not stall requests."""
    for message in messages_of(groups, BATCH):
        _publish(message)


def messages_of(groups: list[list[int]], size: int) -> list[list[int]]:
    """The groups packed in order into messages of at most `size` ids, none split unless bigger."""
    messages: list[list[int]] = []
    current: list[int] = []
    for group in groups:
        for start in range(0, len(group), size):
            piece = group[start : start + size]
            if current and len(current) + len(piece) > size:
                messages.append(current)
                current = []
            current = current + piece
    if current:
        messages.append(current)
    return messages


def _publish(effect_ids: list[int]) -> None:
    from .tasks import hand_over_effects

    hand_over_effects.apply_async(
        (effect_ids,),
        retry=True,
        retry_policy=_PUBLISH_RETRY,
        # What logs show of the message, given: Celery's own (saferepr) costs a sixth of a publish.
        argsrepr=repr((effect_ids,)),
        kwargsrepr="{}",
    )


_PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


def dispatch_sweep_batch(customer_ids: list[int], as_of: date) -> None:
    """One batch of the delinquency sweep, for whichever worker takes it first."""
    from .tasks import sweep_batch

    sweep_batch.delay(customer_ids, as_of.isoformat())


def dispatch_bulk_batch(job_id: int, batch: int) -> None:
    """One batch of a bulk job, for whichever worker takes it first."""
    from .tasks import bulk_batch

    bulk_batch.delay(job_id, batch)


def install_adapters() -> None:
    """Celery behind the use-case layer's ports: effects published after commit, sweep and bulk
    job batches queued."""
    effect_bus.install_publisher(publish_effects)
    sweep_dispatch.install_dispatcher(dispatch_sweep_batch)
    sweep_dispatch.install_bulk_dispatcher(dispatch_bulk_batch)


# Whatever imports the Celery app (a worker, `ativa serve`, the CLI) publishes after commit.
install_adapters()


@worker_process_init.connect
def _after_fork(**_):
    # Engines and HTTP clients must not cross a fork.
    from . import runtime

    runtime.reset()


from . import heartbeat  # noqa: E402,F401 - after _after_fork: its handlers need the fresh engine


@after_setup_logger.connect
def _quieter_logs(**_):
    # The relay runs every few seconds: one line per task would drown what matters.
    # httpx logs every request with its URL at INFO: keep URLs (and anything in them) out of logs.
    for name in ("celery.app.trace", "celery.worker.strategy", "celery.beat", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)
