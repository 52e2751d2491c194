"""A worker of Ativa's Celery app (`python -m workflow worker`, the same options) that sends the
effects it publishes to a queue no worker consumes, for a benchmark that times the batch paths
alone: the effects stay pending in the outbox, as the baseline's do, and their messages wait in
that queue, where the benchmark counts them.

    python -m bench.harness.routed_worker EFFECTS_QUEUE CONCURRENCY
"""

import os
import sys


def main() -> None:
    effects_queue, concurrency = sys.argv[1], int(sys.argv[2])
    from workers.app import EFFECTS_QUEUE, app

    # Routes are read where a task is published: the pool children inherit this at fork.
    app.conf.task_routes = {"workers.tasks.run_effects": {"queue": effects_queue}}  # hand_over_effects
    argv = [
        "worker",
        "--loglevel=INFO",
        "-Q",
        EFFECTS_QUEUE,
        f"--concurrency={concurrency}",
        "--pool=prefork",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    app.worker_main(argv)
    sys.stdout.flush()
    os._exit(0)  # as `ativa worker`: billiard's atexit finalizer can hang after a pool child's death


if __name__ == "__main__":
    main()
