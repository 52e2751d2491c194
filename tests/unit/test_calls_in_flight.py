"""The webhook calls a worker process may have in flight are bounded: with the threads pool each
task's calls run side by side, a thread and a connection each."""

import pytest
from pydantic import ValidationError

from workers.runtime import calls_at_once
from workflow.settings import CALLS_IN_FLIGHT_MAX, Settings


def test_a_threads_pool_refuses_more_calls_in_flight_than_the_bound():
    with pytest.raises(ValidationError, match="ATIVA_WEBHOOK_CONCURRENCY × ATIVA_WORKER_CONCURRENCY"):
        Settings(worker_pool="threads", worker_concurrency=100, webhook_concurrency=16)
    at_the_bound = Settings(worker_pool="threads", worker_concurrency=CALLS_IN_FLIGHT_MAX // 16, webhook_concurrency=16)
    assert calls_at_once(at_the_bound) == CALLS_IN_FLIGHT_MAX


def test_a_prefork_process_runs_one_task_so_its_calls_are_the_rounds_size():
    settings = Settings(worker_pool="prefork", worker_concurrency=100, webhook_concurrency=16)
    assert calls_at_once(settings) == 16
