"""The Celery tasks' registered names are what queued messages carry: renaming a function must not
change them, or messages already in the broker would find no task (NotRegistered)."""


def test_the_registered_task_names_stay():
    from workers import tasks
    from workers.app import app

    assert tasks.hand_over_effects.name == "workers.tasks.run_effects"
    assert {name for name in app.tasks if name.startswith("workers.")} == {
        "workers.tasks.run_effects",
        "workers.tasks.relay",
        "workers.tasks.sweep",
        "workers.tasks.sweep_batch",
        "workers.tasks.bulk_batch",
        "workers.tasks.timers",
        "workers.tasks.warnings",
        "workers.tasks.ladder",
        "workers.tasks.purge_idempotency",
        "workers.tasks.reconcile",
    }
