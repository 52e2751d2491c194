"""When a delinquent customer is due to be cut: grace period, minimum amount, cut days, holds,
and the warning before a cut.

Pure rules on dates and amounts, and the one definition of "who is due for an automatic cut":
`Policy.not_due` (and `Policy.sweep_cuts`, which adds the calendar). The use-case layer feeds them
the ledger and the provider's calendar (time zone, holidays); its SQL (usecases/delinquency.py) is
the fast path of these functions, proved equal to them by tests/integration/test_due_rule_property.py.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple, TypeGuard

from .vocabulary import CustomerStatus, DelinquencyStage, InvoiceStatus

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# The longest hold a forced activation may set: a person's decision, not a permanent exemption
# (that is auto_block_exempt).
FORCED_HOLD_MAX_DAYS = 90


def is_held(hold_until: date | None, today: date) -> TypeGuard[date]:
    """A forced activation's hold: no automatic cut, trust-unlock cut or early warning through
    `hold_until` (inclusive, the provider's business date); the normal rule applies from the next
    day. The sweep's SQL states the same rule (usecases/delinquency.py, _not_held)."""
    return hold_until is not None and today <= hold_until


def on_trust_unlock(trust_unlock_until: datetime | None, now: datetime) -> bool:
    """A trust unlock holds the sweep off until its deadline (an instant, not a day); at the
    deadline the timers cut the customer if an invoice is still past due."""
    return trust_unlock_until is not None and trust_unlock_until > now


# -- the facts the rule reads ---------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceFacts:
    """What the cut rule reads of one invoice."""

    status: str
    due_date: date | None  # not known yet: never past due
    amount: Decimal | None  # not known yet: counts as nothing owed
    amount_paid: Decimal = Decimal(0)


class Overdue(NamedTuple):
    """A customer's open invoices past due, summed up: what the cut rule weighs."""

    oldest_due: date | None
    total: Decimal
    invoices: int


NOTHING_OVERDUE = Overdue(None, Decimal("0.00"), 0)


def is_overdue(invoice: InvoiceFacts, today: date) -> bool:
    """Open and past its due date (due today is not overdue yet)."""
    return invoice.status == InvoiceStatus.OPEN and invoice.due_date is not None and invoice.due_date < today


def overdue_of(invoices: Iterable[InvoiceFacts], today: date) -> Overdue:
    """The overdue aggregate: every open invoice due before `today` counts, and owes its amount
    (none when unknown) less what was paid of it. usecases/delinquency.py's _overdue_by_customer
    is its SQL form."""
    past_due = [invoice for invoice in invoices if is_overdue(invoice, today)]
    if not past_due:
        return NOTHING_OVERDUE
    owed = sum(((invoice.amount or Decimal(0)) - invoice.amount_paid for invoice in past_due), Decimal(0))
    return Overdue(
        min(day for invoice in past_due if (day := invoice.due_date) is not None),
        owed.quantize(Decimal("0.01")),
        len(past_due),
    )


@dataclass(frozen=True)
class CustomerCutFacts:
    """What the cut and warning rules read of a customer."""

    status: str
    auto_block_exempt: bool = False
    trust_unlock_until: datetime | None = None
    forced_hold_until: date | None = None
    warned_for_due: date | None = None  # the oldest due date the last warning was for


class NotDueReason(StrEnum):
    NOT_ACTIVE = "not_active"
    EXEMPT = "auto_block_exempt"
    TRUST_UNLOCK = "trust_unlock"
    FORCED_HOLD = "forced_activation_hold"
    NOTHING_OVERDUE = "nothing_overdue"
    WITHIN_GRACE = "within_grace"
    BELOW_MINIMUM = "below_minimum"


@dataclass(frozen=True)
class NotDue:
    """Why a customer is not due for a cut: the first rule that spares it, in the order the rule
    reads them (the customer's own state first, then its debt)."""

    reason: NotDueReason
    status: str | None = None  # NOT_ACTIVE: the customer's status
    until: date | datetime | None = None  # TRUST_UNLOCK: its deadline; FORCED_HOLD: the hold's last day


@dataclass(frozen=True)
class NoCut:
    """Why a day has no cuts: a weekday without cuts, or a holiday (named in the calendar's language)."""

    day: date
    weekday: int | None = None  # date.weekday(), when the weekday has no cuts
    holiday: str | None = None


STAGE_ORDER = (DelinquencyStage.NONE, DelinquencyStage.NOTICE, DelinquencyStage.REDUCED)


def stage_rank(stage: str) -> int:
    """none < notice < reduced; an unknown stored value ranks as none (the column only ever gets
    the machine's values)."""
    try:
        return STAGE_ORDER.index(DelinquencyStage(stage))
    except ValueError:
        return 0


def ladder_moves(stage: str, wanted: DelinquencyStage) -> bool:
    """Whether the ladder moves a customer at `stage` whom the rule (Policy.stage_due) puts at
    `wanted`: to a later step, or back to none. A step back short of none waits for the payment (a
    partial payment does not undo a step; a debt that falls below the minimum does, as none)."""
    if stage_rank(wanted) > stage_rank(stage):
        return True
    return wanted is DelinquencyStage.NONE and stage != DelinquencyStage.NONE


@dataclass(frozen=True)
class Ladder:
    """The steps before the cut, each after some days past the oldest overdue invoice's due date
    (None: no such step). The cut itself comes after the policy's grace days."""

    notice_after_days: int | None = None
    reduce_after_days: int | None = None
    reduced_rate_percent: int = 50  # of the plan's rates, when no fixed rate is given
    reduced_rate_kbps: int | None = None  # a fixed rate instead (never above the plan's)

    def problems(self, grace_days: int) -> list[str]:
        """What is wrong with this ladder before a cut at `grace_days`, in one line each."""
        found = []
        for name, days in (("notice", self.notice_after_days), ("reduction", self.reduce_after_days)):
            if days is not None and days >= grace_days:
                found.append(f"the {name} ({days} days) must come before the cut ({grace_days} days of grace)")
        if (
            self.notice_after_days is not None
            and self.reduce_after_days is not None
            and self.notice_after_days >= self.reduce_after_days
        ):
            found.append(
                f"the notice ({self.notice_after_days} days) must come before the reduction "
                f"({self.reduce_after_days} days)"
            )
        if not 1 <= self.reduced_rate_percent <= 99:
            found.append(f"the reduced rate must be 1 to 99 percent of the plan's, not {self.reduced_rate_percent}")
        if self.reduced_rate_kbps is not None and self.reduced_rate_kbps < 1:
            found.append(f"the reduced rate must be at least 1 kbps, not {self.reduced_rate_kbps}")
        return found

    def reduced_rate(self, plan_kbps: int) -> int:
        """One direction's reduced rate: the fixed rate capped at the plan's, or the percentage."""
        # Never 0: a router reads a rate of 0 as no limit at all.
        if self.reduced_rate_kbps is not None:
            return max(1, min(plan_kbps, self.reduced_rate_kbps))
        return max(1, plan_kbps * self.reduced_rate_percent // 100)

    def step_days(self) -> list[tuple[DelinquencyStage, int]]:
        """The configured steps with their days, in order."""
        return [
            (stage, days)
            for stage, days in (
                (DelinquencyStage.NOTICE, self.notice_after_days),
                (DelinquencyStage.REDUCED, self.reduce_after_days),
            )
            if days is not None
        ]


NO_LADDER = Ladder()


@dataclass(frozen=True)
class Policy:
    grace_days: int
    min_overdue_amount: Decimal
    no_cut_weekdays: frozenset[int]  # date.weekday() numbers
    is_holiday: Callable[[date], str | None]  # the holiday's name, or None
    ladder: Ladder = NO_LADDER

    def no_cut(self, day: date) -> NoCut | None:
        """None on a cut day; otherwise why there is no cut that day."""
        if day.weekday() in self.no_cut_weekdays:
            return NoCut(day, weekday=day.weekday())
        holiday = self.is_holiday(day)
        if holiday:
            return NoCut(day, holiday=holiday)
        return None

    def why_not_a_cut_day(self, day: date) -> str | None:
        reason = self.no_cut(day)
        if reason is None:
            return None
        if reason.weekday is not None:
            return f"{day.isoformat()} is a {WEEKDAYS[reason.weekday]}, a day without cuts"
        return f"{day.isoformat()} is a holiday ({reason.holiday})"

    def debt_not_due(self, overdue: Overdue, today: date) -> NotDue | None:
        """The debt's half of the rule: None when it is old enough and large enough for a cut."""
        if overdue.oldest_due is None:
            return NotDue(NotDueReason.NOTHING_OVERDUE)
        if (today - overdue.oldest_due).days <= self.grace_days:
            return NotDue(NotDueReason.WITHIN_GRACE)
        if overdue.total < self.min_overdue_amount:
            return NotDue(NotDueReason.BELOW_MINIMUM)
        return None

    def not_due(self, customer: CustomerCutFacts, overdue: Overdue, today: date, now: datetime) -> NotDue | None:
        """THE rule of an automatic cut: None when the customer is due on `today` (whether or not
        it is a cut day), else why not. Active, not exempt, no trust unlock running at `now`, no
        forced activation's hold through `today`, and a debt past the grace and the minimum.
        usecases/delinquency.py's _due is its SQL fast path."""
        return self.spared(customer, today, now) or self.debt_not_due(overdue, today)

    @staticmethod
    def spared(customer: CustomerCutFacts, today: date, now: datetime) -> NotDue | None:
        """The customer's own half of the rule, shared by the cut and every step of the ladder:
        only an active customer, not exempt, on no trust unlock and under no forced hold moves."""
        if customer.status != CustomerStatus.ACTIVE:
            return NotDue(NotDueReason.NOT_ACTIVE, status=customer.status)
        if customer.auto_block_exempt:
            return NotDue(NotDueReason.EXEMPT)
        if on_trust_unlock(customer.trust_unlock_until, now):
            return NotDue(NotDueReason.TRUST_UNLOCK, until=customer.trust_unlock_until)
        if is_held(customer.forced_hold_until, today):
            return NotDue(NotDueReason.FORCED_HOLD, until=customer.forced_hold_until)
        return None

    # -- the collection ladder: the steps an active customer takes before the cut --

    def stage_due(self, customer: CustomerCutFacts, overdue: Overdue, today: date, now: datetime) -> DelinquencyStage:
        """THE rule of the ladder: the stage an active customer should be in on `today` (any day:
        only the cut waits for a cut day). The same customer and debt conditions as the cut (active,
        not exempt, no trust unlock, no hold, at least the minimum past due), and the last step
        whose days have passed. usecases/ladder.py's SQL is its pre-filter, proved a superset by
        tests/integration/test_due_rule_property.py."""
        if self.spared(customer, today, now) is not None:
            return DelinquencyStage.NONE
        if overdue.oldest_due is None or overdue.total < self.min_overdue_amount:
            return DelinquencyStage.NONE
        days = (today - overdue.oldest_due).days
        reached = [stage for stage, after in self.ladder.step_days() if days > after]
        return reached[-1] if reached else DelinquencyStage.NONE

    def next_step(
        self, customer: CustomerCutFacts, stage: str, overdue: Overdue, today: date
    ) -> tuple[str, date] | None:
        """The next step after `stage` if nothing is paid, and its day: a later stage of the ladder,
        or the cut (`"cut"`, on the projected cut day); None when none is ahead (not active, exempt,
        nothing or less than the minimum past due)."""
        cut = self.heading_for_cut(customer, overdue, today)
        if cut is None or overdue.oldest_due is None:
            return None
        held_from = customer.forced_hold_until + timedelta(days=1) if customer.forced_hold_until else None
        ahead: tuple[str, date] | None = None
        for step, after in self.ladder.step_days():
            if stage_rank(step) <= stage_rank(stage):
                continue
            day = max(overdue.oldest_due + timedelta(days=after + 1), today)
            if held_from is not None:
                day = max(day, held_from)
            if day >= cut or (ahead is not None and day > ahead[1]):
                break
            # Steps falling on the same day (after a hold, or a job that has not run): the rule
            # takes the last of them that day, as stage_due does.
            ahead = step.value, day
        return ahead or ("cut", cut)

    def held_off(self, customer: CustomerCutFacts, overdue: Overdue, today: date, now: datetime) -> date | None:
        """The hold's last day when a forced activation's hold is all that spares the customer
        on `today` (the preview lists it as skipped); else None."""
        if not is_held(customer.forced_hold_until, today):
            return None
        unheld = replace(customer, forced_hold_until=None)
        return customer.forced_hold_until if self.not_due(unheld, overdue, today, now) is None else None

    def sweep_cuts(self, customer: CustomerCutFacts, overdue: Overdue, today: date, now: datetime) -> bool:
        """Whether the sweep run for `today` cuts the customer: a cut day, and due."""
        return self.no_cut(today) is None and self.not_due(customer, overdue, today, now) is None

    def heading_for_cut(self, customer: CustomerCutFacts, overdue: Overdue, today: date) -> date | None:
        """The day the sweep will cut the customer if nothing changes (after the grace, on a cut
        day, after a forced activation's hold), or None when the sweep never will: not active,
        exempt, nothing past due or less than the minimum. A running trust unlock is not weighed
        here: its end is a rule of its own (the timers cut then if an invoice is still past due)."""
        if customer.status != CustomerStatus.ACTIVE or customer.auto_block_exempt:
            return None
        if overdue.oldest_due is None or overdue.total < self.min_overdue_amount:
            return None
        return self.projected_cut(overdue.oldest_due, today, held_until=customer.forced_hold_until)

    def warning_due(self, customer: CustomerCutFacts, overdue: Overdue, today: date, warning_days: int) -> date | None:
        """The projected cut that a `customer.delinquency_warning` announces on `today`, or None
        when no warning goes out: once per episode (per oldest overdue invoice, `warned_for_due`),
        from `warning_days` days before the cut the customer is heading for. usecases/delinquency.py's
        candidates_for_warning is the SQL pre-filter (a superset) of it."""
        cut = self.heading_for_cut(customer, overdue, today)
        if cut is None or customer.warned_for_due == overdue.oldest_due or (cut - today).days > warning_days:
            return None
        return cut

    def first_due_day(self, oldest_due: date) -> date:
        return oldest_due + timedelta(days=self.grace_days + 1)

    def next_cut_day(self, day: date) -> date:
        """`day` itself when it is a cut day, else the first cut day after it."""
        for _ in range(60):  # a calendar never has 60 days without a cut day
            if self.no_cut(day) is None:
                return day
            day += timedelta(days=1)
        return day

    def projected_cut(self, oldest_due: date, today: date, held_until: date | None = None) -> date:
        """The first cut day on which the customer would be due (if nothing is paid), after the
        hold of a forced activation if there is one."""
        day = max(self.first_due_day(oldest_due), today)
        if held_until is not None:
            day = max(day, held_until + timedelta(days=1))
        return self.next_cut_day(day)


FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def parse_weekdays(text: str) -> frozenset[int]:
    """ "fri,sat,sun" or "friday, saturday": the weekdays, as date.weekday() numbers."""
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in WEEKDAYS and n not in FULL_NAMES]
    if unknown:
        raise ValueError(f"unknown weekday(s) {', '.join(unknown)}; use {', '.join(WEEKDAYS)}")
    return frozenset(WEEKDAYS.index(n[:3]) for n in names)
