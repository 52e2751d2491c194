"""The benchmarks still run (tiny sizes): each one verifies its own work before printing."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The benchmarks FLUSHDB their broker database: the tests' own, never a bench default another run uses.
REDIS_URL = os.environ.get("ATIVA_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")


@pytest.mark.parametrize(
    "script, args, expected",
    [
        (
            "bench/transitions.py",
            ["--threads", "2", "--transitions-per-thread", "10", "--rounds", "1"],
            "ratio service/baseline throughput",
        ),
        (
            "bench/effects.py",
            ["--transitions", "40", "--noop-tasks", "100"],
            "ratio effect throughput / no-op throughput",
        ),
        (
            "bench/payments.py",
            ["--events", "40", "--rate", "20", "--threads", "4", "--concurrency", "2"],
            "aim: CPU per event at most 10 ms",
        ),
        (
            "bench/payments_batch.py",
            [
                "--customers",
                "60",
                "--batch",
                "25",
                "--senders",
                "2",
                "--warm-up",
                "6",
                "--sample",
                "20",
                "--concurrency",
                "2",
            ],
            "s to all settled",
        ),
        (
            "bench/sweep.py",
            ["--customers", "2000", "--delinquent", "200", "--processes", "2"],
            "ratio real run / baseline time",
        ),
        (
            "bench/ladder.py",
            ["--customers", "100", "--batch", "30"],
            "ratio ladder / sweep time",
        ),
        (
            "bench/bulk.py",
            ["--customers", "120", "--batch", "25", "--concurrency", "2"],
            "ratio bulk job / sweep rate",
        ),
        (
            "bench/restorations.py",
            ["--customers", "40", "--per-transaction", "20", "--concurrency", "2"],
            "ratio webhook calls/s in the run / sequential baseline",
        ),
        (
            "bench/radius.py",
            ["--customers", "60", "--routers", "2", "--concurrency", "2"],
            "ratio Ativa / baseline rate",
        ),
    ],
)
def test_benchmark_runs_and_verifies(postgres_url, script, args, expected):
    if script.endswith(("effects.py", "payments.py", "payments_batch.py", "radius.py", "bulk.py", "restorations.py")):
        import redis

        try:
            redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        except redis.ConnectionError as error:
            from tests.conftest import service_missing

            service_missing("Redis", error)
        args = [*args, "--redis-url", REDIS_URL]
    result = subprocess.run([sys.executable, script, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert expected in result.stdout
    assert "verified:" in result.stdout
