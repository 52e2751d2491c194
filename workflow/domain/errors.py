"""Domain errors. Each carries a machine `code`; entry points map codes to HTTP or exit codes."""


class AtivaError(Exception):
    code = "error"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class InvalidInput(AtivaError):
    code = "validation_error"


class OutOfRange(InvalidInput):
    """A date outside the accepted window (domain/limits.py); same code as any validation error."""


class UnsafeText(InvalidInput):
    """Text holding a control character or a lone surrogate (domain/limits.py)."""


class InvalidReason(InvalidInput):
    """A reason that does not belong to the event (same code: clients see a validation error)."""


class NotFound(AtivaError):
    code = "not_found"


class DuplicateDocument(AtivaError):
    code = "duplicate_document"


class DuplicateExternalRef(AtivaError):
    code = "duplicate_external_ref"


class TransitionNotAllowed(AtivaError):
    code = "transition_not_allowed"


class GuardFailed(AtivaError):
    """A guard refused the transition; `rule` names it so clients can react to it."""

    code = "guard_failed"

    def __init__(self, rule: str, detail: str):
        super().__init__(f"{rule}: {detail}")
        self.rule = rule


class StaleVersion(AtivaError):
    code = "stale_version"


class UnknownStoredStatus(AtivaError):
    """The database holds a status the machine does not know: refuse rather than guess."""

    code = "unknown_status"


class CustomerInactive(AtivaError):
    code = "customer_inactive"


class DuplicateLogin(InvalidInput):
    """A RADIUS login another service holds, in any letter case."""

    code = "duplicate_login"


class DuplicateName(InvalidInput):
    """A plan or router name (or a router address) another one already has."""

    code = "duplicate_name"


class InUse(AtivaError):
    """A plan some service uses, which cannot be deleted (retire it instead)."""

    code = "in_use"
