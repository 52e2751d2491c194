"""Customers for the benchmarks: fresh valid CPFs, and the alternating inactivate/activate
transitions every thread makes on its own customers."""

from collections.abc import Iterator

from validate_docbr import CPF

from workflow.domain.customer_machine import TransitionRequest
from workflow.domain.vocabulary import ActivationReason, CustomerEvent, InactivationReason, Role

# The k-th transition of a customer (k from 0): inactivate when k is even, activate when odd.
REASONS = {
    CustomerEvent.INACTIVATE: InactivationReason.CUSTOMER_REQUEST.value,
    CustomerEvent.ACTIVATE: ActivationReason.MANUAL.value,
}
REQUESTS = {event: TransitionRequest(reason, None, actor_role=Role.OPERATOR) for event, reason in REASONS.items()}


def event_for(k: int) -> CustomerEvent:
    return CustomerEvent.INACTIVATE if k % 2 == 0 else CustomerEvent.ACTIVATE


def fresh_cpfs(taken: set[str]) -> Iterator[str]:
    """Valid CPFs never handed out before in this run (each one is added to `taken`)."""
    generator = CPF()
    while True:
        cpf = generator.generate()
        if cpf not in taken:
            taken.add(cpf)
            yield cpf
