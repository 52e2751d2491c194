"""Celery side of Ativa: the workers that carry out the outbox effects (see issue "Effects pipeline").

Until it lands, transitions write their effects to the outbox as `pending` and nothing consumes them.
"""
