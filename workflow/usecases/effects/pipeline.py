"""Carrying out the effects of one message: claim, act, record the outcome.

A local effect runs in one transaction with the change it makes; an outbound call is made outside
any transaction and its outcome recorded after. `process_effects` is what a worker calls with the
ids of a message; `carry_out_effect` claims and carries out one effect alone (tests, tools)."""

import logging
from collections.abc import Callable
from functools import partial
from typing import TypeVar

from ...db.engine import Database
from ...domain.vocabulary import Effect, EffectState
from ...settings import Settings
from ..radius.enforcement import SESSION_EFFECTS
from .calls import conclude_call, prepare_call, prepare_calls, run_call, send_together
from .claims import claim_effects, is_local, record_error, settle_one, settle_together
from .local import run_local, run_locals_of_customers, run_locals_together
from .outcomes import Claim, Deliver, Delivery, RunResult, Settlement

log = logging.getLogger(__name__)

ERROR = "error"  # the effect raised: its cause is on the row, its claim lapses, the relay retries it

# Schedules effect `effect_id` to run again in `countdown` seconds (a short retry). It may raise
# (the broker is down): the effect is pending with its next attempt recorded, and the relay
# publishes it when due.
RetryLater = Callable[[int, float], None]

# Session calls are sent together and recorded together: a Disconnect sent again after a crash
# finds the session gone (NAK 503, done), so a big transaction risks nothing.
SETTLE_SESSIONS_TOGETHER = 500

_Done = TypeVar("_Done", RunResult, RunResult | Settlement, Delivery | Settlement | RunResult)


def process_effects(
    db: Database, effect_ids: list[int], settings: Settings, deliver: Deliver, retry_later: RetryLater
) -> list[RunResult]:
    """The effects of one message, claimed together, then carried out: the local effects of all
    its customers in one transaction (else of one customer at a time), then the outbound calls
    (those claimed, and the provisioning and session calls the local effects made, first): the
    session calls sent together, the webhooks in rounds of ATIVA_WEBHOOK_CONCURRENCY calls made
    at once, each round's outcomes recorded in one transaction. Whatever fails together is done
    again one at a time, so one failing never holds back the others of its transition. An effect
    that raises is recorded as ERROR; a failed call due again soon goes to `retry_later`, a later
    one waits for the relay."""
    try:
        work = claim_effects(db, effect_ids, settings)
    except Exception:  # any claim taken lapses; the relay publishes them again
        log.exception("claiming effects %s failed", effect_ids)
        return [RunResult(effect_id, ERROR) for effect_id in effect_ids]
    return _Message(db, settings, deliver, retry_later).carry_out(work)


def carry_out_effect(db: Database, effect_id: int, settings: Settings, deliver: Deliver) -> RunResult:
    """Claim one effect and carry it out, with the calls it makes; returns its own result. Errors
    propagate and a retry is left to the relay: for tests and tools, not workers."""
    claimed = claim_effects(db, [effect_id], settings)[0]
    if isinstance(claimed, RunResult):
        return claimed
    result = carry_out_claim(db, claimed, settings, deliver)
    for follow_up in result.follow_ups:
        carry_out_claim(db, follow_up, settings, deliver)
    return result


def carry_out_claim(db: Database, claim: Claim, settings: Settings, deliver: Deliver) -> RunResult:
    if is_local(claim):
        return run_local(db, claim, settings)
    return run_call(db, claim, settings, deliver)


class _Message:
    def __init__(self, db: Database, settings: Settings, deliver: Deliver, retry_later: RetryLater):
        self.db, self.settings, self.deliver, self.retry_later = db, settings, deliver, retry_later

    def carry_out(self, work: "list[Claim | RunResult]") -> list[RunResult]:
        results: list[RunResult] = []
        calls: list[Claim] = []
        by_customer: dict[int, list[Claim]] = {}
        for item in work:
            if isinstance(item, RunResult):
                results.append(item)
            elif is_local(item):
                by_customer.setdefault(item.customer_id, []).append(item)
            else:
                calls.append(item)
        made: list[Claim] = []
        for result in self._all_locals(list(by_customer.values())):
            results.append(result)
            made += result.follow_ups
        results += self._calls(made + calls)  # the provisioning calls first: restoring is what the customer waits for
        return results

    def _all_locals(self, groups: list[list[Claim]]) -> list[RunResult]:
        """Every customer's local effects in one transaction; if that fails, customer by customer."""
        together = run_locals_of_customers(self.db, groups, self.settings) if len(groups) > 1 else None
        if together is not None:
            return together
        return [result for group in groups for result in self._locals(group)]

    def _locals(self, group: list[Claim]) -> list[RunResult]:
        done = run_locals_together(self.db, group, self.settings) if len(group) > 1 else None
        if done is not None:
            return done
        return [self._guarded(c.effect_id, partial(run_local, self.db, c, self.settings)) for c in group]

    def _calls(self, calls: list[Claim]) -> list[RunResult]:
        sessions = [claim for claim in calls if Effect(claim.name) in SESSION_EFFECTS]
        others = [claim for claim in calls if Effect(claim.name) not in SESSION_EFFECTS]
        # The session calls first: dropping a session is what gives a paying customer access again.
        return (self._session_calls(sessions) if sessions else []) + self._in_rounds(others)

    def _session_calls(self, calls: list[Claim]) -> list[RunResult]:
        """All the CoA/Disconnect calls of the message described together, their packets sent
        together (concurrently), their outcomes recorded together; each effect keeps its own
        outcome, attempts and retries. If describing them together fails, a round at a time."""
        try:
            prepared = prepare_calls(self.db, calls, self.settings)
        except Exception:
            log.warning("describing %d session calls together failed; in rounds", len(calls), exc_info=True)
            return self._in_rounds(calls)
        results, settlements = self._send(calls, prepared)
        for start in range(0, len(settlements), SETTLE_SESSIONS_TOGETHER):
            results += self._settle(settlements[start : start + SETTLE_SESSIONS_TOGETHER])
        return results

    def _in_rounds(self, calls: list[Claim]) -> list[RunResult]:
        """The webhook calls a round at a time: each round's claims checked (renewed if nearly
        spent), its calls made at once (ATIVA_WEBHOOK_CONCURRENCY, so a round lasts one call and
        outlasts no claim), its outcomes recorded together before the next round: a worker killed
        mid-message leaves one round's calls at most to be made again, with the same webhook-id.
        A Deliver that makes calls only one at a time gets rounds of one."""
        size = self.settings.webhook_concurrency if hasattr(self.deliver, "deliver_many") else 1
        results: list[RunResult] = []
        for start in range(0, len(calls), size):
            round_ = calls[start : start + size]
            prepared = [self._guarded(c.effect_id, partial(prepare_call, self.db, c, self.settings)) for c in round_]
            done, settlements = self._send(round_, prepared)
            results += done + self._settle(settlements)
        return results

    def _send(
        self, calls: list[Claim], prepared: "list[Delivery | Settlement | RunResult]"
    ) -> tuple[list[RunResult], list[Settlement]]:
        """The calls prepared sent together; the results known and the settlements to record. A
        failed call is recorded here, alone (retry or give up)."""
        results: list[RunResult] = []
        settlements: list[Settlement] = []
        to_send: list[tuple[Claim, Delivery]] = []
        for claim, item in zip(calls, prepared, strict=True):
            if isinstance(item, Delivery):
                to_send.append((claim, item))
            elif isinstance(item, Settlement):
                settlements.append(item)
            else:
                results.append(item)
        if not to_send:
            return results, settlements
        try:
            sent = send_together(self.deliver, [delivery for _, delivery in to_send])
        except Exception as error:
            log.exception("sending %d calls failed", len(to_send))
            return results + [self._errored(claim.effect_id, error) for claim, _ in to_send], settlements
        for (claim, delivery), outcome in zip(to_send, sent, strict=True):
            concluded = self._guarded(
                claim.effect_id, partial(conclude_call, self.db, claim, delivery, outcome, self.settings)
            )
            if isinstance(concluded, Settlement):
                settlements.append(concluded)
            else:
                results.append(concluded)
        return results, settlements

    def _settle(self, settlements: list[Settlement]) -> list[RunResult]:
        if len(settlements) > 1:
            try:
                return settle_together(self.db, settlements)
            except Exception:  # nothing recorded; one at a time below
                log.warning("settling %d calls together failed; one at a time", len(settlements), exc_info=True)
        return [self._guarded(s.effect_id, partial(settle_one, self.db, s)) for s in settlements]

    def _guarded(self, effect_id: int, run: Callable[[], _Done]) -> _Done | RunResult:
        try:
            result = run()
        except Exception as error:  # recorded; the claim lapses and the relay retries
            log.exception("effect %s raised", effect_id)
            return self._errored(effect_id, error)
        if isinstance(result, RunResult) and result.retry_in is not None:
            self._retry_later(effect_id, result.retry_in)
        elif isinstance(result, RunResult) and result.state == EffectState.PENDING:
            log.info("effect %s failed; parked until its next attempt is due (the relay publishes it)", effect_id)
        return result

    def _errored(self, effect_id: int, error: Exception) -> RunResult:
        try:
            record_error(self.db, effect_id, error)
        except Exception:  # the database itself may be what failed
            log.exception("could not record the failure of effect %s", effect_id)
        return RunResult(effect_id, ERROR)

    def _retry_later(self, effect_id: int, countdown: float) -> None:
        log.info("effect %s failed, retry in %.1fs", effect_id, countdown)
        try:
            self.retry_later(effect_id, countdown)
        except Exception as error:  # noqa: BLE001 - a broker outage: one line, no traceback
            # The effect is pending with its next attempt recorded: the relay publishes it when due.
            log.warning(
                "effect %s: retry not scheduled, the broker is unavailable (%s: %s); the relay publishes it",
                effect_id,
                type(error).__name__,
                error,
            )
