from dataclasses import dataclass

import pytest
from statemachine.exceptions import TransitionNotAllowed

from workflow.domain.errors import CustomerInactive, GuardFailed
from workflow.domain.service_machine import ServiceLifecycle
from workflow.domain.vocabulary import SuspensionCause


@dataclass
class Service:
    status: str = "active"
    suspension_cause: str | None = None
    suspension_note: str | None = None


def test_suspend_resume_cancel():
    service = Service()
    machine = ServiceLifecycle(service)
    machine.send("suspend", cause=SuspensionCause.MANUAL, note=" equipment swap ")
    assert (service.status, service.suspension_cause, service.suspension_note) == (
        "suspended",
        "manual",
        "equipment swap",
    )
    machine.send("resume", customer_active=True)
    assert (service.status, service.suspension_cause, service.suspension_note) == ("active", None, None)
    machine.send("cancel")
    assert service.status == "cancelled"


def test_manual_suspension_needs_a_reason():
    service = Service()
    with pytest.raises(GuardFailed) as refused:
        ServiceLifecycle(service).send("suspend", cause=SuspensionCause.MANUAL, note="  ")
    assert refused.value.rule == "reason_required"
    assert service.status == "active"


def test_a_service_of_an_inactive_customer_cannot_resume():
    service = Service("suspended", "customer_inactive")
    with pytest.raises(CustomerInactive):
        ServiceLifecycle(service).send("resume", customer_active=False)
    assert service.status == "suspended"


@pytest.mark.parametrize(
    "status, event", [("active", "resume"), ("cancelled", "resume"), ("cancelled", "suspend"), ("cancelled", "cancel")]
)
def test_refused_service_transitions(status, event):
    service = Service(status)
    kwargs = {"resume": {"customer_active": True}, "suspend": {"cause": SuspensionCause.MANUAL, "note": "x"}}
    with pytest.raises(TransitionNotAllowed):
        ServiceLifecycle(service).send(event, **kwargs.get(event, {}))
    assert service.status == status
