"""Celery side of Ativa: workers that carry out the outbox effects, the relay and scheduled jobs."""
