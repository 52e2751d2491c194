"""The collection ladder: the steps an active customer takes before the cut (notice, reduced
speed), each a change the machine decides and the history records, with the customer's logins
moved to the step's group in the same transaction and their live sessions told (CoA, or a
Disconnect when a login leaves the notice list).

Who moves is the domain's rule (Policy.stage_due), asked under each customer's lock; the query
here only narrows the customers to ask (a superset, proved by test_due_rule_property.py).
"""

import logging
from dataclasses import astuple, dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, bindparam, exists, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ..db.bulk import id_list
from ..db.engine import Database
from ..db.models import Customer, Invoice, OutboxEffect, Service, StatusChange
from ..db.types import utcnow
from ..domain import brazilian, radius
from ..domain.customer_machine import KEPT_STATUS_REASONS, TransitionRequest
from ..domain.delinquency import NOTHING_OVERDUE, Overdue, Policy, ladder_moves, stage_rank
from ..domain.errors import AtivaError
from ..domain.freeze import Freeze
from ..domain.vocabulary import (
    ActivationReason,
    CustomerEvent,
    CustomerStatus,
    DelinquencyStage,
    Effect,
    InactivationReason,
    InvoiceStatus,
    ServiceStatus,
    Source,
)
from ..settings import Settings, get_settings
from .batch_writes import Decided, write_decided
from .customer_locks import lock_customer_row, lock_customers_in_id_order
from .delinquency import (
    SCHEDULER,
    cut_facts,
    money_of_cents,
    overdue_by_customer,
    overdue_facts,
    overdue_subquery,
    policy_from,
)
from .effect_bus import publish_after_commit
from .freeze import freeze_in_force, read_state, trip_on_payment_silence
from .progress import BatchesDone, OnBatch, batch_sizes
from .radius.enforcement import services_changed, services_changed_many
from .transitions import (
    Actor,
    Decision,
    TransitionOutcome,
    count_overdue_invoices,
    decide,
    guard_facts,
    history_row,
    state_of,
    transition_locked,
)

log = logging.getLogger(__name__)
_customers = Customer.__table__
_services = Service.__table__
_changes = StatusChange.__table__
_effects = OutboxEffect.__table__


@dataclass
class LadderRun:
    advanced: dict[int, str] = field(default_factory=dict)  # customer id -> the stage it reached
    cleared: list[int] = field(default_factory=list)
    resumed: list[int] = field(default_factory=list)  # back on the notice list after a snooze
    kept: dict[int, str] = field(default_factory=dict)  # refused under the lock, with the rule's words
    frozen: Freeze | None = None  # a freeze held: no customer stepped forward (going back still happens)
    tripped: bool = False  # this run froze the cuts, on a payment silence


def _ladder_candidates(policy: Policy, today: date):
    """The WHERE of candidates_for_ladder (see there)."""
    at_a_step = Customer.delinquency_stage != DelinquencyStage.NONE.value
    steps = policy.ladder.step_days()
    if steps:
        first = min(days for _, days in steps)
        owes = exists().where(
            Invoice.customer_id == Customer.id,
            Invoice.status == InvoiceStatus.OPEN,
            Invoice.due_date < today - timedelta(days=first),
        )
        wanted = or_(at_a_step, and_(Customer.auto_block_exempt.is_(False), owes))
    else:
        wanted = at_a_step
    return and_(Customer.status == CustomerStatus.ACTIVE, wanted)


def candidates_for_ladder(conn: Connection | Session, policy: Policy, today: date) -> list[int]:
    """The SQL pre-filter of Policy.stage_due: active customers at a step (it may have to end),
    and active, non-exempt customers with an open invoice past due for longer than the first
    step's days. A superset: the amount, holds and trust unlocks are weighed under the lock."""
    query = select(Customer.id).where(_ladder_candidates(policy, today)).order_by(Customer.id)
    return list(conn.scalars(query))


READ_CHUNK = 5000  # candidates read (and weighed) per statement


def customers_to_move(db: Database, policy: Policy, today: date) -> list[int]:
    """The candidates the rule moves, weighed without a lock (read in chunks): only those are
    locked and weighed again, so the hourly job does not lock every customer who owes something."""
    now = utcnow()
    with db.read() as session:
        conn = session.connection()
        candidate_ids = candidates_for_ladder(conn, policy, today)
        movers = []
        for start in range(0, len(candidate_ids), READ_CHUNK):
            chunk = candidate_ids[start : start + READ_CHUNK]
            rows = conn.execute(select(_customers).where(_customers.c.id.in_(chunk))).all()
            overdue = overdue_by_customer(conn, chunk, today)
            movers += [
                row.id
                for row in rows
                if ladder_moves(
                    row.delinquency_stage,
                    policy.stage_due(cut_facts(row), overdue.get(row.id, NOTHING_OVERDUE), today, now),
                )
            ]
    return sorted(movers)


@dataclass(frozen=True)
class StageEntry:
    """A customer of the ladder's preview: its stage now and the debt the rule weighs."""

    customer_id: int
    name: str
    external_ref: str | None
    stage: str  # now
    overdue_total: Decimal
    oldest_due: date | None
    days_overdue: int
    overdue_invoices: int


@dataclass
class LadderPreview:
    """What the ladder job would do on a day, without writing: who moves to each step and who goes
    back to the plan (Policy.stage_due and `moves` asked for the candidates_for_ladder, as
    advance_ladder does), and who is at each step now."""

    to_notice: list[StageEntry] = field(default_factory=list)
    to_reduced: list[StageEntry] = field(default_factory=list)
    back_to_plan: list[StageEntry] = field(default_factory=list)
    at_notice: list[StageEntry] = field(default_factory=list)
    at_reduced: list[StageEntry] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {name: len(entries) for name, entries in vars(self).items()}


_PREVIEW_COLUMNS = (
    Customer.id,
    Customer.name,
    Customer.external_ref,
    Customer.status,
    Customer.auto_block_exempt,
    Customer.trust_unlock_until,
    Customer.forced_hold_until,
    Customer.delinquency_stage,
)


def ladder_preview(
    conn: Connection | Session, policy: Policy, today: date, now: datetime | None = None
) -> LadderPreview:
    """The ladder job's answer for `today`, read-only (the job itself re-asks under each lock)."""
    now = now or utcnow()
    overdue = overdue_subquery(today).subquery()
    rows = conn.execute(
        select(*_PREVIEW_COLUMNS, overdue.c.oldest_due, overdue.c.cents, overdue.c.invoices)
        .outerjoin(overdue, overdue.c.customer_id == Customer.id)
        .where(
            or_(
                _ladder_candidates(policy, today),
                and_(
                    Customer.status == CustomerStatus.ACTIVE,
                    Customer.delinquency_stage != DelinquencyStage.NONE.value,
                ),
            )
        )
        .order_by(Customer.name, Customer.id)
    )
    preview = LadderPreview()
    for row in rows:
        debt = (
            Overdue(row.oldest_due, money_of_cents(row.cents), row.invoices)
            if row.oldest_due is not None
            else NOTHING_OVERDUE
        )
        entry = StageEntry(
            row.id,
            row.name,
            row.external_ref,
            row.delinquency_stage,
            debt.total,
            debt.oldest_due,
            (today - debt.oldest_due).days if debt.oldest_due else 0,
            debt.invoices,
        )
        if row.delinquency_stage == DelinquencyStage.NOTICE:
            preview.at_notice.append(entry)
        elif row.delinquency_stage == DelinquencyStage.REDUCED:
            preview.at_reduced.append(entry)
        wanted = policy.stage_due(cut_facts(row), debt, today, now)
        if not ladder_moves(row.delinquency_stage, wanted):
            continue
        if wanted is DelinquencyStage.NONE:
            preview.back_to_plan.append(entry)
        else:
            (preview.to_notice if wanted is DelinquencyStage.NOTICE else preview.to_reduced).append(entry)
    return preview


def advance_ladder(
    db: Database, policy: Policy, today: date, settings: Settings | None = None, on_batch: OnBatch | None = None
) -> LadderRun:
    """Every active customer to the step the rule asks for today: a later step, or back to the
    plan once the rule asks for none (paid, exempt, held). The movers go in batches of
    ATIVA_SWEEP_BATCH_SIZE, each one transaction (advance_batch), the rule asked again under the
    batch's locks."""
    settings = settings or get_settings()
    run = LadderRun()
    # A payment silence freezes the steps before any is taken.
    run.tripped = trip_on_payment_silence(db, settings) is not None
    with db.read() as session:
        state = read_state(session)
    run.frozen = state.freeze if state.holds else None
    movers = customers_to_move(db, policy, today)
    of_batches = len(batch_sizes(len(movers), settings.sweep_batch_size))
    for number, start in enumerate(range(0, len(movers), settings.sweep_batch_size), start=1):
        batch = movers[start : start + settings.sweep_batch_size]
        try:
            done = advance_batch(db, policy, batch, today, settings)
        except (SQLAlchemyError, LadderRuleDrift) as failure:
            # One batch's failure (a lost connection, a drift) leaves the others to move, and the
            # cut that follows in the daily run to go ahead; the hourly job tries these again.
            why = str(failure) if isinstance(failure, LadderRuleDrift) else type(failure).__name__
            log.error("ladder: a batch of %d customer(s) failed (%s); tried again next hour", len(batch), why)
            run.kept.update({cid: f"not moved: its batch failed ({type(failure).__name__})" for cid in batch})
        else:
            run.advanced.update(done.advanced)
            run.cleared += done.cleared
            run.kept.update(done.kept)
        if on_batch is not None:
            on_batch(BatchesDone(start + len(batch), len(movers), number, of_batches))
    return run


def advance_one(db: Database, policy: Policy, customer_id: int, today: date, settings: Settings) -> LadderRun:
    """The per-customer path (one transaction, change_stage): the reference the batch path is
    proved equal to (tests/integration/test_ladder_write_paths.py)."""
    run = LadderRun()
    try:
        with db.write() as session:
            _step(session, policy, customer_id, today, settings, run)
    except AtivaError as refused:
        run.kept[customer_id] = refused.detail
    return run


def _step(session: Session, policy: Policy, customer_id: int, today: date, settings: Settings, run: LadderRun) -> None:
    conn = session.connection()
    row = lock_customer_row(conn, customer_id)
    if row.status != CustomerStatus.ACTIVE:
        return
    overdue = overdue_facts(conn, customer_id, today)
    now = utcnow()
    wanted = policy.stage_due(cut_facts(row), overdue, today, now)
    current = row.delinquency_stage
    if not ladder_moves(current, wanted):
        run.kept[customer_id] = f"no longer moves: the rule asks for {wanted.value} at {current}"
        return
    if stage_rank(wanted) > stage_rank(current):
        change_stage(
            session,
            row,
            CustomerEvent.ADVANCE_STAGE,
            advance_request(wanted, overdue, today),
            SCHEDULER,
            Source.SCHEDULER,
            overdue=overdue.invoices,
            today=today,
            stage_due=wanted.value,
            settings=settings,
        )
        run.advanced[customer_id] = wanted.value
    else:
        _back_to_the_plan(session, row, SCHEDULER, Source.SCHEDULER, overdue, today, clear_note(overdue), settings)
        run.cleared.append(customer_id)


class LadderRuleDrift(RuntimeError):
    """The batch path met what the per-customer path never would (a decision that differs within a
    group of customers it decided once for): nothing of the batch is written."""


@dataclass(frozen=True)
class _Move:
    row: Any  # the customer's row, read under the batch's lock
    overdue: Overdue
    wanted: DelinquencyStage
    event: CustomerEvent
    request: TransitionRequest


def advance_batch(
    db: Database, policy: Policy, customer_ids: list[int], today: date, settings: Settings | None = None
) -> LadderRun:
    """_step for many customers in one transaction, writing for each mover exactly what
    change_stage writes for one (the proof: test_ladder_write_paths.py): the batch's rows locked in
    id order, their overdue facts read in one statement after the locks, Policy.stage_due and
    `moves` asked for each, the machine deciding once per group of customers alike (prior state,
    event, request), then multi-row writes: the customers, their history rows, their NOTIFY_STAGE
    rows, and their active logins with one session effect each (services_changed_many once per
    packet).

    A customer who no longer moves (paid since the unlocked read), is no longer active, or does not
    exist is skipped as _step skips it. A group the machine refuses is skipped too, each customer
    with the machine's words in `kept`, as the per-customer path records them; the rest of the batch
    is written."""
    settings = settings or get_settings()
    run = LadderRun()
    with db.write() as session:
        conn = session.connection()
        locked = {row.id: row for row in lock_customers_in_id_order(conn, customer_ids)}
        # A statement of its own after the locks: one that waited for a lock keeps its old snapshot.
        overdue = overdue_by_customer(conn, sorted(locked), today) if locked else {}
        frozen = freeze_in_force(conn)  # the machine refuses every step forward then
        now = utcnow()
        moving: list[_Move] = []
        for customer_id in sorted(set(customer_ids)):
            row = locked.get(customer_id)
            if row is None:
                run.kept[customer_id] = f"customer {customer_id} does not exist"  # as lock_customer_row says
                continue
            if row.status != CustomerStatus.ACTIVE:
                continue  # cut (or suspended) since the read: the cut ended the ladder
            facts = overdue.get(customer_id, NOTHING_OVERDUE)
            wanted = policy.stage_due(cut_facts(row), facts, today, now)
            if not ladder_moves(row.delinquency_stage, wanted):
                run.kept[customer_id] = f"no longer moves: the rule asks for {wanted.value} at {row.delinquency_stage}"
                continue
            if stage_rank(wanted) > stage_rank(row.delinquency_stage):
                moving.append(
                    _Move(row, facts, wanted, CustomerEvent.ADVANCE_STAGE, advance_request(wanted, facts, today))
                )
            else:
                request = clear_request(SCHEDULER, facts, clear_note(facts))
                moving.append(_Move(row, facts, wanted, CustomerEvent.CLEAR_STAGE, request))
        decided = _decide_moves(moving, today, now, run, frozen)
        if decided:
            effect_ids = _write_moves(conn, settings, decided, now)
            publish_after_commit(session, effect_ids)
        for move, _ in sorted(decided, key=lambda pair: pair[0].row.id):  # in id order, as advance_one's
            if move.event is CustomerEvent.ADVANCE_STAGE:
                run.advanced[move.row.id] = move.wanted.value
            else:
                run.cleared.append(move.row.id)
    return run


def _decide_moves(
    moving: list[_Move], today: date, now: datetime, run: LadderRun, frozen: Freeze | None
) -> list[tuple[_Move, Decision]]:
    """The machine stays the authority: it decides once per distinct (prior lifecycle state, event,
    target stage, reason, whether anything is past due), everything its ladder guards and actions
    read; the note, the only other difference, is written as given. A refused group is kept."""
    groups: dict[tuple, list[_Move]] = {}
    for move in moving:
        key = (
            astuple(state_of(move.row)),
            move.event,
            move.wanted,
            move.request.reason,
            move.request.automatic,
            move.overdue.invoices > 0,
        )
        groups.setdefault(key, []).append(move)
    decided: list[tuple[_Move, Decision]] = []
    for members in groups.values():
        first = members[0]
        try:
            decision = _decide(first, today, now, frozen)
        except AtivaError:
            # Each customer gets the machine's own words, as advance_one would record them.
            for move in members:
                try:
                    _decide(move, today, now, frozen)
                except AtivaError as refused:
                    run.kept[move.row.id] = refused.detail
                    continue
                raise LadderRuleDrift(
                    f"the machine refused customer {first.row.id} but not customer {move.row.id} of the same "
                    "group: the batch's grouping misses a fact the machine reads; nothing of this batch was written"
                ) from None
            continue
        if decision.state.forced_hold_until != first.row.forced_hold_until:
            # write_transition would start a new warning episode; a ladder step never sets a hold.
            raise LadderRuleDrift(
                f"a ladder step of customer {first.row.id} changed its hold; nothing of this batch was written"
            )
        decided += [(move, decision) for move in members]
    return decided


def _decide(move: _Move, today: date, now: datetime, frozen: Freeze | None) -> Decision:
    facts = guard_facts(move.overdue.invoices, now, today, stage_due=move.wanted.value, frozen=frozen)
    return decide(move.row.id, state_of(move.row), move.event, move.request, facts)


_ACTIVE_LOGINS_OF_MANY = (
    select(_services.c.customer_id, _services.c.id)
    .where(
        _services.c.customer_id.in_(id_list("customer_ids")),
        _services.c.status == ServiceStatus.ACTIVE.value,
        _services.c.login.is_not(None),
    )
    .order_by(_services.c.id)
)


def _write_moves(
    conn: Connection, settings: Settings, decided: list[tuple[_Move, Decision]], now: datetime
) -> list[int]:
    """Write the decided moves as change_stage writes each (the same statement columns and row
    builders as transition_locked and follow_profile), many rows per statement; returns the ids of
    the effects queued."""
    written = write_decided(
        conn,
        [
            Decided(
                move.row,
                decision,
                history_row(
                    move.row.id,
                    move.row.version + 1,
                    move.event,
                    move.row.status,
                    decision,
                    move.request,
                    SCHEDULER,
                    Source.SCHEDULER,
                    now,
                ),
            )
            for move, decision in decided
        ],
        now,
    )
    change_ids, effect_ids = written.change_ids, written.effect_ids
    # The logins, as follow_profile moves each customer's: grouped by the session packet the
    # profile change calls for, one services_changed_many per packet.
    packets: dict[Effect, list[int]] = {}
    for move, decision in decided:
        before = radius.profile_for(move.row.delinquency_stage, move.row.notice_snoozed_until)
        after = radius.profile_for(decision.state.delinquency_stage, decision.state.notice_snoozed_until)
        packet = radius.session_packet(before, after)
        if packet is not None:
            packets.setdefault(packet, []).append(move.row.id)
    if packets:
        logins: dict[int, list[int]] = {}
        customers_with_packets = sorted(cid for ids in packets.values() for cid in ids)
        for customer_id, service_id in conn.execute(_ACTIVE_LOGINS_OF_MANY, {"customer_ids": customers_with_packets}):
            logins.setdefault(customer_id, []).append(service_id)
        for packet, customer_ids in packets.items():
            changes_of_packet: list[tuple[list[int], int | None]] = [
                (logins[cid], change_ids[cid]) for cid in customer_ids if cid in logins
            ]
            if not changes_of_packet:
                continue
            queued = services_changed_many(conn, settings, changes_of_packet, packet, origin="transition")
            effect_ids += [effect_id for per_change in queued for effect_id, _ in per_change]
    return effect_ids


def advance_request(stage: DelinquencyStage, overdue: Overdue, today: date) -> TransitionRequest:
    """The scheduler's request of a later step (both write paths of the job send it)."""
    return TransitionRequest(
        InactivationReason.DELINQUENCY.value,
        step_note(stage, overdue, today),
        actor_role=SCHEDULER.role,
        automatic=True,
        stage=stage.value,
    )


def clear_request(actor: Actor, overdue: Overdue, note: str) -> TransitionRequest:
    """clear_stage of a customer the rule no longer moves: reason payment_received when nothing is
    past due, else delinquency (the debt is still there, the rule spares it)."""
    paid = overdue.invoices == 0
    return TransitionRequest(
        ActivationReason.PAYMENT_RECEIVED.value if paid else InactivationReason.DELINQUENCY.value,
        note,
        actor_role=actor.role,
        automatic=actor is SCHEDULER,
    )


def clear_note(overdue: Overdue) -> str:
    """The history's note of the job's return to the plan, in Portuguese (operators read it)."""
    if overdue.invoices == 0:
        return "Nenhuma fatura vencida em aberto: de volta ao plano."
    return "A régua de cobrança não se aplica mais ao cliente (isento, prazo ou valor mínimo): de volta ao plano."


def step_note(stage: DelinquencyStage, overdue: Overdue, today: date) -> str:
    """The history's note of a step, in Portuguese (operators read it)."""
    oldest = f", a mais antiga vencida em {brazilian.day(overdue.oldest_due)}" if overdue.oldest_due else ""
    return (
        f"Régua de cobrança em {brazilian.day(today)}: etapa {brazilian.STAGE_NAMES[stage].lower()}; "
        f"{overdue.invoices} fatura(s) vencida(s), total {brazilian.money(overdue.total)}{oldest}."
    )


def change_stage(
    session: Session,
    row,
    event: CustomerEvent,
    request: TransitionRequest,
    actor: Actor,
    source: Source,
    *,
    overdue: int,
    today: date,
    stage_due: str | None = None,
    settings: Settings | None = None,
) -> TransitionOutcome:
    """A change of the ladder of a customer this unit locked (`row`): the machine decides and the
    history records it, then the customer's active logins move to the group of their new profile
    and each gets its session effect (CoA, or Disconnect off the notice list), in this transaction."""
    settings = settings or get_settings()
    before = radius.profile_for(row.delinquency_stage, row.notice_snoozed_until)
    outcome = transition_locked(
        session, row, event, request, actor, source, overdue=overdue, today=today, stage_due=stage_due
    )
    after = radius.profile_for(outcome.customer.delinquency_stage, outcome.customer.notice_snoozed_until)
    follow_profile(session, settings, row.id, before, after, outcome.transition.id)
    return outcome


_ACTIVE_LOGINS = (
    select(_services.c.id)
    .where(
        _services.c.customer_id == bindparam("customer_id"),
        _services.c.status == ServiceStatus.ACTIVE.value,
        _services.c.login.is_not(None),
    )
    .order_by(_services.c.id)
)


def follow_profile(
    session: Session,
    settings: Settings,
    customer_id: int,
    before: radius.Profile,
    after: radius.Profile,
    transition_id: int,
) -> list[int]:
    """The customer's active logins to their new profile's group, one session effect each."""
    packet = radius.session_packet(before, after)
    if packet is None:
        return []
    conn = session.connection()
    service_ids = list(conn.scalars(_ACTIVE_LOGINS, {"customer_id": customer_id}))
    if not service_ids:
        return []
    queued = services_changed(conn, settings, service_ids, packet, transition_id=transition_id, origin="transition")
    effect_ids = [effect_id for effect_id, _ in queued]
    publish_after_commit(session, effect_ids)
    return effect_ids


def clear_stage_if_paid_up(
    session: Session, row, actor: Actor, source: Source, today: date, note: str
) -> TransitionOutcome | None:
    """A payment that leaves nothing past due returns an active customer at any step to its plan
    at once (reason payment_received), in the payment's transaction (billing.py calls it)."""
    if row.status != CustomerStatus.ACTIVE or row.delinquency_stage == DelinquencyStage.NONE:
        return None
    overdue = count_overdue_invoices(session.connection(), row.id, today)
    if overdue:
        return None
    return change_stage(
        session,
        row,
        CustomerEvent.CLEAR_STAGE,
        TransitionRequest(ActivationReason.PAYMENT_RECEIVED.value, note, actor_role=actor.role),
        actor,
        source,
        overdue=0,
        today=today,
    )


def clear_stage_if_spared(
    session: Session, row, actor: Actor, source: Source, today: date, note: str, settings: Settings | None = None
) -> TransitionOutcome | None:
    """An active customer at a step whom the rule no longer moves (made exempt, say) returns to its
    plan at once, in the unit that changed it (reason delinquency: the debt is still there)."""
    settings = settings or get_settings()
    if row.status != CustomerStatus.ACTIVE or row.delinquency_stage == DelinquencyStage.NONE:
        return None
    conn = session.connection()
    overdue = overdue_facts(conn, row.id, today)
    wanted = policy_from(settings).stage_due(cut_facts(row), overdue, today, utcnow())
    if wanted is not DelinquencyStage.NONE:
        return None
    return _back_to_the_plan(session, row, actor, source, overdue, today, note, settings)


def _back_to_the_plan(
    session: Session, row, actor: Actor, source: Source, overdue: Overdue, today: date, note: str, settings: Settings
) -> TransitionOutcome:
    """clear_stage of a customer the rule no longer moves (the request: clear_request)."""
    return change_stage(
        session,
        row,
        CustomerEvent.CLEAR_STAGE,
        clear_request(actor, overdue, note),
        actor,
        source,
        overdue=overdue.invoices,
        today=today,
        stage_due=DelinquencyStage.NONE.value,
        settings=settings,
    )


NOTICE_PAGE = Actor(name="aviso", role=SCHEDULER.role)


def acknowledge_notice(
    db: Database, customer_id: int, today: date, note: str, settings: Settings | None = None
) -> TransitionOutcome:
    """ "Continuar navegando": the login leaves the notice list for ATIVA_NOTICE_SNOOZE_HOURS (the
    machine refuses it when the customer is not at the notice stage or already acknowledged)."""
    with db.write() as session:
        conn = session.connection()
        row = lock_customer_row(conn, customer_id)
        return change_stage(
            session,
            row,
            CustomerEvent.ACKNOWLEDGE_NOTICE,
            TransitionRequest(KEPT_STATUS_REASONS[CustomerEvent.ACKNOWLEDGE_NOTICE], note, actor_role=NOTICE_PAGE.role),
            NOTICE_PAGE,
            Source.NOTICE_PAGE,
            overdue=count_overdue_invoices(conn, customer_id, today),
            today=today,
            settings=settings,
        )


def resume_notices(db: Database, today: date) -> LadderRun:
    """Acknowledged notices whose snooze is over go back on the list (a timer). The snooze is
    compared with the clock the machine's guard reads, so a test moves the snooze, not the clock."""
    now = utcnow()
    with db.read() as session:
        due = list(
            session.scalars(
                select(Customer.id)
                .where(
                    Customer.delinquency_stage == DelinquencyStage.NOTICE.value,
                    Customer.notice_snoozed_until <= now,
                )
                .order_by(Customer.id)
            )
        )
    run = LadderRun()
    for customer_id in due:
        try:
            with db.write() as session:
                conn = session.connection()
                row = lock_customer_row(conn, customer_id)
                if row.notice_snoozed_until is None or row.notice_snoozed_until > utcnow():
                    continue
                change_stage(
                    session,
                    row,
                    CustomerEvent.RESUME_NOTICE,
                    TransitionRequest(
                        KEPT_STATUS_REASONS[CustomerEvent.RESUME_NOTICE],
                        "Fim do prazo do aviso confirmado pelo cliente: de volta à lista de aviso.",
                        actor_role=SCHEDULER.role,
                        automatic=True,
                    ),
                    SCHEDULER,
                    Source.SCHEDULER,
                    overdue=count_overdue_invoices(conn, customer_id, today),
                    today=today,
                )
                run.resumed.append(customer_id)
        except AtivaError as refused:
            run.kept[customer_id] = refused.detail
    return run
