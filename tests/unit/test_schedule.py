"""The periodic jobs: the daily sweep runs at the provider's local time, beat keeps UTC messages."""

from datetime import UTC, datetime, timedelta

from workers.app import daily_at, make_celery
from workflow.settings import Settings


def test_sweep_runs_daily_at_the_local_time_of_the_provider():
    settings = Settings(sweep_local_time="07:30", timezone="America/Sao_Paulo")
    app = make_celery(settings)
    schedule = app.conf.beat_schedule["sweep"]["schedule"]
    assert app.conf.enable_utc is True and app.conf.timezone == "America/Sao_Paulo"
    from zoneinfo import ZoneInfo

    now = datetime.now(UTC)
    local = now.astimezone(ZoneInfo("America/Sao_Paulo"))
    next_run = local.replace(hour=7, minute=30, second=0, microsecond=0)
    if next_run <= local:
        next_run += timedelta(days=1)
    remaining = schedule.remaining_estimate(now)
    assert abs(remaining - (next_run - local)) < timedelta(seconds=5), (remaining, next_run)
    assert daily_at(settings, app).hour == {7} and daily_at(settings, app).minute == {30}


def test_every_periodic_job_is_a_registered_task():
    import workers.tasks  # noqa: F401 - registers the tasks
    from workers.app import app

    for name, entry in app.conf.beat_schedule.items():
        assert entry["task"] in app.tasks, name
