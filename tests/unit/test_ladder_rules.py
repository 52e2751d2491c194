"""The collection ladder's rules with no database: the configuration, the reduced rate, the rule of
the stage a customer is due (Policy.stage_due) and the next step (Policy.next_step), the RADIUS
profile and group of each stage, and the machine's four ladder events."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statemachine.exceptions import TransitionNotAllowed

from workflow.domain import radius
from workflow.domain.customer_machine import (
    EFFECTS,
    KEPT_STATUS_REASONS,
    CustomerFacts,
    CustomerLifecycle,
    LifecycleState,
    TransitionRequest,
)
from workflow.domain.delinquency import (
    NOTHING_OVERDUE,
    CustomerCutFacts,
    Ladder,
    Overdue,
    Policy,
    ladder_moves,
    parse_weekdays,
    stage_rank,
)
from workflow.domain.errors import GuardFailed, InvalidInput
from workflow.domain.vocabulary import CustomerEvent, DelinquencyStage, Effect, Role, RouterVendor

BR = holidays.country_holidays("BR")
TUESDAY = date(2026, 12, 1)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LADDER = Ladder(notice_after_days=5, reduce_after_days=10)
POLICY = Policy(15, Decimal("50.00"), parse_weekdays("sat,sun"), BR.get, LADDER)
ACTIVE = CustomerCutFacts("active")
NONE, NOTICE, REDUCED = DelinquencyStage.NONE, DelinquencyStage.NOTICE, DelinquencyStage.REDUCED


def owing(days_overdue: int, total: str = "100.00") -> Overdue:
    return Overdue(TUESDAY - timedelta(days=days_overdue), Decimal(total), 1)


# -- the configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ladder, grace, problems",
    [
        (Ladder(), 15, []),
        (Ladder(0, None), 15, []),  # day 0: the notice from the first day past due
        (Ladder(None, 0), 15, []),
        (Ladder(0, 1), 2, []),
        (Ladder(5, 10), 15, []),
        (Ladder(14, None), 15, []),  # the last day before the cut
        (Ladder(15, None), 15, ["the notice (15 days) must come before the cut (15 days of grace)"]),
        (Ladder(None, 14), 15, []),
        (Ladder(None, 15), 15, ["the reduction (15 days) must come before the cut (15 days of grace)"]),
        (Ladder(None, 20), 15, ["the reduction (20 days) must come before the cut (15 days of grace)"]),
        (Ladder(0, None), 0, ["the notice (0 days) must come before the cut (0 days of grace)"]),
        (Ladder(8, 8), 15, ["the notice (8 days) must come before the reduction (8 days)"]),
        (Ladder(9, 8), 15, ["the notice (9 days) must come before the reduction (8 days)"]),
        (
            Ladder(20, 16),
            15,
            [
                "the notice (20 days) must come before the cut (15 days of grace)",
                "the reduction (16 days) must come before the cut (15 days of grace)",
                "the notice (20 days) must come before the reduction (16 days)",
            ],
        ),
        (Ladder(None, 5, reduced_rate_percent=1), 15, []),
        (Ladder(None, 5, reduced_rate_percent=99), 15, []),
        (
            Ladder(None, 5, reduced_rate_percent=0),
            15,
            ["the reduced rate must be 1 to 99 percent of the plan's, not 0"],
        ),
        (
            Ladder(None, 5, reduced_rate_percent=100),
            15,
            ["the reduced rate must be 1 to 99 percent of the plan's, not 100"],
        ),
        (Ladder(None, 5, reduced_rate_kbps=1), 15, []),
        (Ladder(None, 5, reduced_rate_kbps=0), 15, ["the reduced rate must be at least 1 kbps, not 0"]),
    ],
)
def test_a_ladders_problems_each_in_one_line(ladder, grace, problems):
    assert ladder.problems(grace) == problems


@pytest.mark.parametrize(
    "ladder, plan_kbps, reduced",
    [
        (Ladder(), 100_000, 50_000),  # the default: half
        (Ladder(reduced_rate_percent=30), 100_000, 30_000),
        (Ladder(reduced_rate_percent=33), 1_000, 330),
        (Ladder(reduced_rate_percent=33), 10, 3),  # rounded down
        (Ladder(reduced_rate_percent=1), 50, 1),  # never 0 (a router reads 0 as no limit)
        (Ladder(reduced_rate_percent=1), 1, 1),
        (Ladder(reduced_rate_kbps=2_048), 100_000, 2_048),
        (Ladder(reduced_rate_kbps=2_048), 1_024, 1_024),  # never above the plan's
        (Ladder(reduced_rate_kbps=2_048), 2_048, 2_048),
        (Ladder(reduced_rate_kbps=0), 1_024, 1),  # a bad ladder still never gives 0
    ],
)
def test_the_reduced_rate(ladder, plan_kbps, reduced):
    assert ladder.reduced_rate(plan_kbps) == reduced


def test_the_steps_in_order_with_their_days():
    assert LADDER.step_days() == [(NOTICE, 5), (REDUCED, 10)]
    assert Ladder(None, 3).step_days() == [(REDUCED, 3)]
    assert Ladder(0).step_days() == [(NOTICE, 0)]
    assert Ladder().step_days() == []


def test_stage_rank():
    assert [stage_rank(s) for s in ("none", "notice", "reduced")] == [0, 1, 2]
    assert stage_rank("frozen") == 0


# -- Policy.stage_due: THE rule of the ladder -----------------------------------------------------


@pytest.mark.parametrize(
    "customer, overdue, stage",
    [
        # each condition that spares a customer, with a debt that would otherwise reduce it
        (CustomerCutFacts("inactive"), owing(30), NONE),
        (CustomerCutFacts("active", auto_block_exempt=True), owing(30), NONE),
        (CustomerCutFacts("active", trust_unlock_until=NOW + timedelta(minutes=1)), owing(30), NONE),
        (CustomerCutFacts("active", trust_unlock_until=NOW), owing(30), REDUCED),  # over at its deadline
        (CustomerCutFacts("active", trust_unlock_until=NOW - timedelta(days=1)), owing(30), REDUCED),
        (CustomerCutFacts("active", forced_hold_until=TUESDAY), owing(30), NONE),  # through its last day
        (CustomerCutFacts("active", forced_hold_until=TUESDAY + timedelta(days=4)), owing(30), NONE),
        (CustomerCutFacts("active", forced_hold_until=TUESDAY - timedelta(days=1)), owing(30), REDUCED),
        (ACTIVE, NOTHING_OVERDUE, NONE),
        (ACTIVE, owing(30, "49.99"), NONE),  # below the minimum
        (ACTIVE, owing(30, "50.00"), REDUCED),  # at the minimum
        # the days: a step starts the day after its threshold, as the cut after the grace
        (ACTIVE, owing(0), NONE),
        (ACTIVE, owing(5), NONE),
        (ACTIVE, owing(6), NOTICE),
        (ACTIVE, owing(10), NOTICE),
        (ACTIVE, owing(11), REDUCED),
        (ACTIVE, owing(15), REDUCED),
        (ACTIVE, owing(40), REDUCED),  # past the cut's grace: still reduced until the sweep cuts
    ],
)
def test_the_stage_a_customer_is_due(customer, overdue, stage):
    assert POLICY.stage_due(customer, overdue, TUESDAY, NOW) is stage


@pytest.mark.parametrize(
    "ladder, days_overdue, stage",
    [
        (Ladder(notice_after_days=5), 5, NONE),
        (Ladder(notice_after_days=5), 6, NOTICE),
        (Ladder(notice_after_days=5), 40, NOTICE),  # notice only: no reduction, ever
        (Ladder(reduce_after_days=10), 6, NONE),  # reduce only: no notice first
        (Ladder(reduce_after_days=10), 10, NONE),
        (Ladder(reduce_after_days=10), 11, REDUCED),
        (Ladder(notice_after_days=0), 0, NONE),  # due today is not overdue
        (Ladder(notice_after_days=0), 1, NOTICE),  # day 0: from the first day past due
        (Ladder(), 40, NONE),  # no ladder: only the cut
    ],
)
def test_a_ladder_of_one_step_or_none(ladder, days_overdue, stage):
    policy = Policy(15, Decimal("50.00"), frozenset(), BR.get, ladder)
    assert policy.stage_due(ACTIVE, owing(days_overdue), TUESDAY, NOW) is stage


def test_a_step_is_due_on_any_day_a_cut_is_not():
    # Saturday and Christmas: no cuts, but the ladder moves.
    for day in (date(2026, 12, 5), date(2026, 12, 25)):
        assert POLICY.no_cut(day) is not None
        assert POLICY.stage_due(ACTIVE, Overdue(day - timedelta(days=6), Decimal(100), 1), day, NOW) is NOTICE


# -- Policy.next_step -----------------------------------------------------------------------------

DUE = date(2026, 11, 28)  # a Saturday; 3 days overdue on TUESDAY
RECENT = Overdue(DUE, Decimal("100.00"), 1)


@pytest.mark.parametrize(
    "customer, stage, overdue, today, step",
    [
        (ACTIVE, "none", RECENT, TUESDAY, ("notice", DUE + timedelta(days=6))),  # Friday Dec 4
        (ACTIVE, "notice", RECENT, TUESDAY, ("reduced", DUE + timedelta(days=11))),  # Wednesday Dec 9
        (ACTIVE, "reduced", RECENT, TUESDAY, ("cut", DUE + timedelta(days=16))),  # Monday Dec 14
        # the job has not run yet: the step is today
        (ACTIVE, "none", RECENT, date(2026, 12, 7), ("notice", date(2026, 12, 7))),
        # past both steps and not run: the rule takes the reduction at once, not the notice first
        (ACTIVE, "none", RECENT, date(2026, 12, 10), ("reduced", date(2026, 12, 10))),
        # a hold moves the steps after it; two steps on the same day: the later one
        (
            CustomerCutFacts("active", forced_hold_until=date(2026, 12, 10)),
            "none",
            RECENT,
            TUESDAY,
            ("reduced", date(2026, 12, 11)),
        ),
        (
            CustomerCutFacts("active", forced_hold_until=date(2026, 12, 7)),
            "none",
            RECENT,
            TUESDAY,
            ("notice", date(2026, 12, 8)),
        ),
        # a hold through the cut's first day: the steps fall on the cut, the cut is next
        (
            CustomerCutFacts("active", forced_hold_until=date(2026, 12, 13)),
            "none",
            RECENT,
            TUESDAY,
            ("cut", date(2026, 12, 14)),
        ),
        # a cut day past a weekend: the steps before it stay on their days
        (ACTIVE, "none", Overdue(date(2026, 11, 20), Decimal(100), 1), TUESDAY, ("reduced", TUESDAY)),
        # none ahead
        (CustomerCutFacts("inactive"), "none", RECENT, TUESDAY, None),
        (CustomerCutFacts("active", auto_block_exempt=True), "none", RECENT, TUESDAY, None),
        (ACTIVE, "none", NOTHING_OVERDUE, TUESDAY, None),
        (ACTIVE, "none", Overdue(DUE, Decimal("49.99"), 1), TUESDAY, None),
    ],
)
def test_the_next_step_and_its_day(customer, stage, overdue, today, step):
    assert POLICY.next_step(customer, stage, overdue, today) == step


def test_with_no_ladder_the_next_step_is_the_cut():
    policy = Policy(15, Decimal("50.00"), parse_weekdays("sat,sun"), BR.get)
    assert policy.next_step(ACTIVE, "none", RECENT, TUESDAY) == ("cut", date(2026, 12, 14))


@st.composite
def ladders(draw) -> tuple[int, Ladder]:
    """A cut's grace and a ladder before it: a notice, a reduction, both or neither."""
    grace = draw(st.integers(0, 20))
    notice = draw(st.none() | st.integers(0, grace - 1)) if grace > 0 else None
    low = 0 if notice is None else notice + 1
    reduce = draw(st.none() | st.integers(low, grace - 1)) if low < grace else None
    return grace, Ladder(notice, reduce)


@settings(max_examples=500, deadline=None)
@given(
    drawn=ladders(),
    days_overdue=st.integers(1, 40),
    hold_days=st.none() | st.integers(-3, 25),
    stage=st.sampled_from(list(DelinquencyStage)),
    today=st.dates(date(2026, 1, 1), date(2027, 12, 31)),
)
def test_the_next_step_is_what_the_rule_says_on_its_day(drawn, days_overdue, hold_days, stage, today):
    """next_step and stage_due/sweep_cuts are one rule: until the announced day the rule asks for
    no later stage than the current one, and on that day it asks for the announced step (or the
    sweep cuts)."""
    grace, ladder = drawn
    assert ladder.problems(grace) == []
    policy = Policy(grace, Decimal("10.00"), parse_weekdays("sat,sun"), BR.get, ladder)
    customer = CustomerCutFacts(
        "active", forced_hold_until=None if hold_days is None else today + timedelta(days=hold_days)
    )
    overdue = Overdue(today - timedelta(days=days_overdue), Decimal("100.00"), 1)
    if stage_rank(policy.stage_due(customer, overdue, today, NOW)) > stage_rank(stage):
        stage = policy.stage_due(customer, overdue, today, NOW)  # the job ran today
    step = policy.next_step(customer, stage, overdue, today)
    assert step is not None
    name, day = step
    for before in (today + timedelta(days=n) for n in range((day - today).days)):
        assert stage_rank(policy.stage_due(customer, overdue, before, NOW)) <= stage_rank(stage)
        assert not policy.sweep_cuts(customer, overdue, before, NOW)
    if name == "cut":
        assert policy.sweep_cuts(customer, overdue, day, NOW)
    else:
        assert policy.stage_due(customer, overdue, day, NOW) == name
        assert stage_rank(name) > stage_rank(stage)
        assert day < policy.heading_for_cut(customer, overdue, today)


# -- RADIUS: the profile and the group of each stage ------------------------------------------------


@pytest.mark.parametrize(
    "stage, snoozed_until, profile",
    [
        ("none", None, radius.Profile.PLAN),
        ("none", NOW + timedelta(hours=1), radius.Profile.PLAN),
        ("notice", None, radius.Profile.NOTICE),
        ("notice", NOW + timedelta(seconds=1), radius.Profile.PLAN),  # acknowledged: off the list
        # The stored state alone decides: off the list until resume_notice clears the snooze.
        ("notice", NOW - timedelta(hours=1), radius.Profile.PLAN),
        ("reduced", None, radius.Profile.REDUCED),
        ("reduced", NOW + timedelta(hours=1), radius.Profile.REDUCED),  # a snooze never lifts a reduction
        ("frozen", None, radius.Profile.PLAN),
    ],
)
def test_the_profile_of_each_stage(stage, snoozed_until, profile):
    assert radius.profile_for(stage, snoozed_until) is profile


def test_the_group_names_of_each_profile():
    assert radius.plan_group(7) == "ativa_plano_7"
    assert radius.plan_group(7, radius.Profile.PLAN) == "ativa_plano_7"
    assert radius.plan_group(7, radius.Profile.NOTICE) == "ativa_plano_7_aviso"
    assert radius.plan_group(7, radius.Profile.REDUCED) == "ativa_plano_7_reduzido"
    assert radius.group_for("active", 7, radius.Profile.REDUCED) == "ativa_plano_7_reduzido"
    # a service that is not active is blocked or cancelled, whatever its customer's stage
    assert radius.group_for("suspended", 7, radius.Profile.NOTICE) == radius.BLOCKED_GROUP
    assert radius.group_for("cancelled", 7, radius.Profile.REDUCED) == radius.CANCELLED_GROUP
    names = {radius.plan_group(7, profile) for profile in radius.Profile}
    assert len(names) == 3 and all(name.startswith(radius.GROUP_PREFIX) for name in names)


@pytest.mark.parametrize(
    "before, after, packet",
    [
        (radius.Profile.PLAN, radius.Profile.PLAN, None),
        (radius.Profile.NOTICE, radius.Profile.NOTICE, None),
        (radius.Profile.PLAN, radius.Profile.NOTICE, Effect.RADIUS_COA),
        (radius.Profile.PLAN, radius.Profile.REDUCED, Effect.RADIUS_COA),
        (radius.Profile.REDUCED, radius.Profile.PLAN, Effect.RADIUS_COA),
        (radius.Profile.NOTICE, radius.Profile.PLAN, Effect.RADIUS_DISCONNECT),  # off the list
        (radius.Profile.NOTICE, radius.Profile.REDUCED, Effect.RADIUS_DISCONNECT),
    ],
)
def test_the_session_packet_of_a_change_of_profile(before, after, packet):
    assert radius.session_packet(before, after) == packet


def test_each_profiles_attributes():
    ladder = Ladder(5, 10, reduced_rate_percent=25)
    mikrotik = RouterVendor.MIKROTIK
    assert radius.profile_attributes(mikrotik, radius.Profile.PLAN, 8000, 2000, ladder, "aviso") == (
        radius.Attribute("Mikrotik-Rate-Limit", ":=", "2000k/8000k"),
    )
    assert radius.profile_attributes(mikrotik, radius.Profile.NOTICE, 8000, 2000, ladder, "aviso") == (
        radius.Attribute("Mikrotik-Rate-Limit", ":=", "2000k/8000k"),
        radius.Attribute("Mikrotik-Address-List", ":=", "aviso"),
    )
    assert radius.profile_attributes(mikrotik, radius.Profile.REDUCED, 8000, 2000, ladder, "aviso") == (
        radius.Attribute("Mikrotik-Rate-Limit", ":=", "500k/2000k"),
    )
    assert radius.profile_attributes(RouterVendor.GENERIC, radius.Profile.NOTICE, 8000, 2000, ladder, "aviso") == (
        radius.Attribute("WISPr-Bandwidth-Max-Up", ":=", "2000000"),
        radius.Attribute("WISPr-Bandwidth-Max-Down", ":=", "8000000"),
    )
    groups = radius.kept_groups([radius.PlanRates(3, 8000, 2000)], "address_list", "bloq", ladder, "aviso")
    assert set(groups) == {
        "ativa_plano_3",
        "ativa_plano_3_aviso",
        "ativa_plano_3_reduzido",
        radius.BLOCKED_GROUP,
        radius.CANCELLED_GROUP,
    }


# -- the machine's ladder events ------------------------------------------------------------------

SNOOZE = timedelta(hours=24)


def facts(overdue=1, stage_due=None, now=NOW):
    return CustomerFacts(overdue, now=now, today=TUESDAY, stage_due=stage_due, notice_snooze=SNOOZE)


def at(stage="none", snoozed=None, status="active"):
    return LifecycleState(
        status, None if status == "active" else "delinquency", delinquency_stage=stage, notice_snoozed_until=snoozed
    )


def request(event, reason=None, *, automatic=True, stage=None, role=Role.ADMIN):
    return TransitionRequest(
        KEPT_STATUS_REASONS[CustomerEvent(event)] if reason is None else reason,
        "n",
        actor_role=role,
        automatic=automatic,
        stage=stage,
    )


def send(state, event, req, customer_facts):
    machine = CustomerLifecycle(state)
    machine.send(event, request=req, facts=customer_facts)
    return machine


ADVANCE, CLEAR, ACKNOWLEDGE, RESUME = "advance_stage", "clear_stage", "acknowledge_notice", "resume_notice"
LATER = NOW + timedelta(minutes=1)
EARLIER = NOW - timedelta(minutes=1)


@pytest.mark.parametrize(
    "event, state, req, customer_facts, rule",
    [
        # not later
        (ADVANCE, at("notice"), request(ADVANCE, stage="notice"), facts(stage_due="notice"), "stage_not_later"),
        (ADVANCE, at("reduced"), request(ADVANCE, stage="notice"), facts(stage_due="notice"), "stage_not_later"),
        (ADVANCE, at("reduced"), request(ADVANCE, stage="reduced"), facts(stage_due="reduced"), "stage_not_later"),
        (ADVANCE, at("notice"), request(ADVANCE, stage="none"), facts(stage_due="none"), "stage_not_later"),
        # not the rule's stage: an old request, the rule asking for another, or not asked
        (ADVANCE, at(), request(ADVANCE, stage="notice"), facts(stage_due="reduced"), "stage_not_due"),
        (ADVANCE, at(), request(ADVANCE, stage="reduced"), facts(stage_due="notice"), "stage_not_due"),
        (ADVANCE, at(), request(ADVANCE, stage="notice"), facts(stage_due="none"), "stage_not_due"),
        (ADVANCE, at(), request(ADVANCE, stage="notice"), facts(stage_due=None), "stage_not_due"),
        # not automatic: a person never takes a step
        (
            ADVANCE,
            at(),
            request(ADVANCE, stage="notice", automatic=False),
            facts(stage_due="notice"),
            "stage_is_automatic",
        ),
        (ADVANCE, at(), request(ADVANCE, stage="frozen"), facts(stage_due="notice"), "stage_unknown"),
        (ADVANCE, at(), request(ADVANCE, stage=None), facts(stage_due="notice"), "stage_unknown"),
        # a stage on another event
        (CLEAR, at("notice"), request(CLEAR, stage="none"), facts(0, "none"), "stage_only_for_advance"),
        (ACKNOWLEDGE, at("notice"), request(ACKNOWLEDGE, stage="notice"), facts(), "stage_only_for_advance"),
        (RESUME, at("notice", EARLIER), request(RESUME, stage="notice"), facts(), "stage_only_for_advance"),
        # clearing: a payment needs nothing past due; any other clearing the rule asking for none
        (CLEAR, at(), request(CLEAR), facts(0, "none"), "no_stage"),
        (CLEAR, at("notice"), request(CLEAR, "payment_received"), facts(1, "none"), "stage_debt_unpaid"),
        (CLEAR, at("reduced"), request(CLEAR, "payment_received"), facts(2, "reduced"), "stage_debt_unpaid"),
        (CLEAR, at("reduced"), request(CLEAR, "delinquency"), facts(1, "reduced"), "stage_still_due"),
        (CLEAR, at("reduced"), request(CLEAR, "delinquency"), facts(1, "notice"), "stage_still_due"),
        (CLEAR, at("notice"), request(CLEAR, "delinquency"), facts(1, None), "stage_still_due"),
        # acknowledging: at the notice, once per snooze
        (ACKNOWLEDGE, at(), request(ACKNOWLEDGE), facts(), "not_on_notice"),
        (ACKNOWLEDGE, at("reduced"), request(ACKNOWLEDGE), facts(), "not_on_notice"),
        (ACKNOWLEDGE, at("notice"), request(ACKNOWLEDGE), facts(now=None), "notice_clock"),
        (ACKNOWLEDGE, at("notice", LATER), request(ACKNOWLEDGE), facts(), "notice_already_acknowledged"),
        # resuming: only once the snooze is over
        (RESUME, at("notice"), request(RESUME), facts(), "notice_not_acknowledged"),
        (RESUME, at("notice", LATER), request(RESUME), facts(), "notice_snooze_not_over"),
        (RESUME, at("notice", EARLIER), request(RESUME), facts(now=None), "notice_snooze_not_over"),
    ],
)
def test_the_ladders_guards_refuse(event, state, req, customer_facts, rule):
    before = LifecycleState(**vars(state))
    with pytest.raises(GuardFailed) as refused:
        send(state, event, req, customer_facts)
    assert refused.value.rule == rule
    assert state == before  # a refusal changes nothing


@pytest.mark.parametrize("event", [ADVANCE, CLEAR, ACKNOWLEDGE, RESUME])
def test_the_ladders_events_have_their_reasons_and_no_extras(event):
    with pytest.raises(InvalidInput):
        send(at("notice", EARLIER), event, request(event, "manual", stage="reduced"), facts(0, "reduced"))
    with pytest.raises(GuardFailed) as refused:
        send(
            at("notice", EARLIER),
            event,
            TransitionRequest(KEPT_STATUS_REASONS[CustomerEvent(event)], "n", actor_role=Role.ADMIN, force=True),
            facts(0, "reduced"),
        )
    assert refused.value.rule == "force_not_applicable"


@pytest.mark.parametrize("event", [ADVANCE, CLEAR, ACKNOWLEDGE, RESUME])
def test_an_inactive_customer_has_no_ladder(event):
    with pytest.raises(TransitionNotAllowed):
        send(at("notice", EARLIER, status="inactive"), event, request(event, stage="reduced"), facts(0, "reduced"))


@pytest.mark.parametrize(
    "state, stage, after",
    [
        (at(), "notice", "notice"),
        (at(), "reduced", "reduced"),  # straight to the reduction when the job ran late
        (at("notice"), "reduced", "reduced"),
        (at("notice", LATER), "reduced", "reduced"),  # an acknowledgement was for the notice only
    ],
)
def test_a_step_taken(state, stage, after):
    machine = send(state, ADVANCE, request(ADVANCE, stage=stage), facts(stage_due=stage))
    assert (state.status, state.delinquency_stage, state.notice_snoozed_until) == ("active", after, None)
    assert machine.effects == [Effect.NOTIFY_STAGE] == list(EFFECTS[CustomerEvent.ADVANCE_STAGE])


@pytest.mark.parametrize(
    "state, reason, customer_facts",
    [
        (at("notice"), "payment_received", facts(0, "none")),
        (at("reduced"), "payment_received", facts(0, "reduced")),  # a payment: whatever the rule's stage
        (at("notice", LATER), "payment_received", facts(0, None)),
        (at("reduced"), "delinquency", facts(1, "none")),  # exempt, held, below the minimum
        (at("notice", LATER), "delinquency", facts(3, "none")),
    ],
)
def test_a_stage_cleared(state, reason, customer_facts):
    machine = send(state, CLEAR, request(CLEAR, reason), customer_facts)
    assert (state.status, state.delinquency_stage, state.notice_snoozed_until) == ("active", "none", None)
    assert machine.effects == [Effect.NOTIFY_STAGE]


def test_a_notice_acknowledged_then_resumed():
    state = at("notice")
    machine = send(state, ACKNOWLEDGE, request(ACKNOWLEDGE), facts())
    assert (state.delinquency_stage, state.notice_snoozed_until, machine.effects) == ("notice", NOW + SNOOZE, [])
    # Not again once the snooze is over but before the timer resumed it: the login is still off
    # the list (profile_for reads the stored snooze), so there is nothing to acknowledge.
    later = NOW + SNOOZE
    with pytest.raises(GuardFailed) as refused:
        send(state, ACKNOWLEDGE, request(ACKNOWLEDGE), facts(now=later))
    assert refused.value.rule == "notice_already_acknowledged"
    machine = send(state, RESUME, request(RESUME), facts(now=later))
    assert (state.delinquency_stage, state.notice_snoozed_until, machine.effects) == ("notice", None, [])
    machine = send(state, ACKNOWLEDGE, request(ACKNOWLEDGE), facts(now=later))
    assert state.notice_snoozed_until == later + SNOOZE


@pytest.mark.parametrize("stage, snoozed", [("notice", LATER), ("reduced", None), ("none", None)])
def test_activate_and_inactivate_leave_the_ladder(stage, snoozed):
    state = at(stage, snoozed)
    send(state, "inactivate", TransitionRequest("delinquency", None, actor_role=Role.ADMIN, automatic=True), facts(1))
    assert (state.status, state.delinquency_stage, state.notice_snoozed_until) == ("inactive", "none", None)
    # a stage left behind on an inactive row (an old version) is cleared by the activation too
    state.delinquency_stage, state.notice_snoozed_until = stage, snoozed
    send(state, "activate", TransitionRequest("payment_received", None, actor_role=Role.ADMIN), facts(0))
    assert (state.status, state.delinquency_stage, state.notice_snoozed_until) == ("active", "none", None)


@pytest.mark.parametrize(
    "stage, wanted, moves",
    [
        ("none", "notice", True),
        ("none", "reduced", True),  # a late run goes straight to the later step
        ("notice", "reduced", True),
        ("notice", "none", True),  # paid, exempt, held: back to the plan
        ("reduced", "none", True),
        ("reduced", "notice", False),  # a partial payment does not undo a step
        ("notice", "notice", False),
        ("none", "none", False),
    ],
)
def test_the_ladder_moves_forward_or_back_to_none_only(stage, wanted, moves):
    assert ladder_moves(stage, DelinquencyStage(wanted)) is moves
