"""The words of the domain: statuses, reasons, sources, roles, effects."""

from enum import StrEnum


class CustomerStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class CustomerEvent(StrEnum):
    INACTIVATE = "inactivate"
    ACTIVATE = "activate"
    # Changes that keep the status: recorded like any transition, with no effects.
    END_TRUST_UNLOCK = "end_trust_unlock"  # the deadline passed and the customer is not cut
    END_FORCED_HOLD = "end_forced_hold"  # a payment or cancellation left nothing past due
    RESCHEDULE_RETURN = "reschedule_return"  # a suspension's return date changed or cleared
    # The collection ladder of an active customer (domain/delinquency.py, Ladder): recorded like
    # any transition; its effects tell billing and move the customer's logins to the stage's group.
    ADVANCE_STAGE = "advance_stage"  # none -> notice -> reduced, as the debt ages
    CLEAR_STAGE = "clear_stage"  # back to the plan: the debt is paid, or the rule no longer applies
    ACKNOWLEDGE_NOTICE = "acknowledge_notice"  # "Continuar navegando" on the notice page: off the list
    RESUME_NOTICE = "resume_notice"  # the acknowledgement's snooze is over: back on the list


class DelinquencyStage(StrEnum):
    """The steps of the collection ladder while the customer is still Ativo; the cut (Inativo for
    delinquency) comes after them."""

    NONE = "none"
    NOTICE = "notice"  # aviso: the login on the notice address list, at the plan's rate
    REDUCED = "reduced"  # redução de velocidade: the login at the reduced rate


class InactivationReason(StrEnum):
    CUSTOMER_REQUEST = "customer_request"
    DELINQUENCY = "delinquency"
    CONTRACT_TERMINATION = "contract_termination"
    OTHER = "other"


class ActivationReason(StrEnum):
    PAYMENT_RECEIVED = "payment_received"
    CUSTOMER_RETURN = "customer_return"
    MANUAL = "manual"
    TRUST_UNLOCK = "trust_unlock"  # desbloqueio de confiança: active until a deadline


class ServiceStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"


class ServiceEvent(StrEnum):
    SUSPEND = "suspend"
    RESUME = "resume"
    CANCEL = "cancel"


class SuspensionCause(StrEnum):
    CUSTOMER_INACTIVE = "customer_inactive"  # set by the customer's inactivation, undone by activation
    MANUAL = "manual"  # set by an operator on one service; only an operator undoes it


class InvoiceStatus(StrEnum):
    OPEN = "open"
    PAID = "paid"
    CANCELLED = "cancelled"


class Source(StrEnum):
    API = "api"
    CLI = "cli"
    UI = "ui"
    BILLING = "billing"
    SCHEDULER = "scheduler"
    NOTICE_PAGE = "notice_page"  # the customer, on the public notice page (/aviso)


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    BILLING = "billing"
    VIEWER = "viewer"


class Effect(StrEnum):
    SUSPEND_SERVICES = "suspend_services"
    PAUSE_INVOICING = "pause_invoicing"
    RESTORE_SERVICES = "restore_services"
    RESUME_INVOICING = "resume_invoicing"
    NOTIFY_BILLING = "notify_billing"
    WARN_BILLING = "warn_billing"  # customer.delinquency_warning, before the projected cut
    NOTIFY_STAGE = "notify_stage"  # customer.delinquency_stage, on each step of the ladder
    PROVISION_SUSPEND = "provision_suspend"  # one per service, when a provisioning URL is set
    PROVISION_RESTORE = "provision_restore"
    # One per service with a RADIUS login whose group changed: its open sessions are dropped (or, for
    # a plan change, given the new rate) so the router applies the new group (docs/radius.md).
    RADIUS_DISCONNECT = "radius_disconnect"
    RADIUS_COA = "radius_coa"


class EffectState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


class RouterVendor(StrEnum):
    MIKROTIK = "mikrotik"  # Mikrotik-Rate-Limit, Mikrotik-Address-List
    GENERIC = "generic"  # WISPr bandwidth attributes


class RadiusBlockMode(StrEnum):
    ADDRESS_LIST = "address_list"  # the router redirects the login to a notice page
    REJECT = "reject"  # the login is refused
