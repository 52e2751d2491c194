"""/api/v1/delinquency: preview the sweep (who, why, how much) and run it (admin)."""

from datetime import date

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from ..usecases import delinquency, freeze, freeze_views, ladder
from .auth import Principal, can_read, is_admin
from .customers import PROBLEMS
from .fields import IsoDate
from .idempotency import Idempotent, idempotent
from .schemas import Strict

router = APIRouter(prefix="/api/v1/delinquency", tags=["delinquency"])


class LadderPreviewOut(BaseModel):
    counts: dict[str, int] = Field(
        description="How many in each list below, and `cuts`: how many candidates the sweep would cut"
    )
    to_notice: list[ladder.StageEntry] = Field(description="The ladder job would move them to the notice stage")
    to_reduced: list[ladder.StageEntry] = Field(description="The ladder job would reduce their speed")
    back_to_plan: list[ladder.StageEntry] = Field(
        description="At a step the rule no longer asks for (exempt, hold, trust unlock, paid): back to the plan"
    )
    at_notice: list[ladder.StageEntry] = Field(description="Active customers at the notice stage now")
    at_reduced: list[ladder.StageEntry] = Field(description="Active customers at reduced speed now")


class PreviewOut(BaseModel):
    as_of: date
    cut_day: bool
    not_a_cut_day: str | None
    candidates: list[delinquency.Candidate]
    skipped: list[delinquency.HeldCandidate] = Field(
        description="Due by the rule, but held by a forced activation through held_until"
    )
    ladder: LadderPreviewOut = Field(
        description="The collection ladder on as_of (any day, not only cut days), as its job would see it"
    )
    frozen: freeze_views.FreezeOut | None = Field(
        description="The freeze of automatic cuts holding now (the real date decides, not as_of): a run "
        "would cut nobody and the ladder would step nobody forward (going back to the plan still "
        "happens); null: not frozen"
    )


def ladder_out(preview: ladder.LadderPreview, cuts: int) -> LadderPreviewOut:
    return LadderPreviewOut(counts={**preview.counts(), "cuts": cuts}, **vars(preview))


def _today(request: Request, as_of: date | None) -> date:
    return delinquency.business_day(as_of, request.app.state.settings.timezone)


@router.get("/preview", response_model=PreviewOut, responses=PROBLEMS)
def preview(request: Request, as_of: IsoDate | None = Query(None), _: Principal = Depends(can_read)):
    settings = request.app.state.settings
    policy = delinquency.policy_from(settings)
    today = _today(request, as_of)
    with request.app.state.db.read() as session:
        found = delinquency.candidates(session, policy, today)
        held = delinquency.held_candidates(session, policy, today)
        steps = ladder.ladder_preview(session.connection(), policy, today)
        frozen = freeze.holding(session)  # on the provider's real date, whatever as_of
    why_not = policy.why_not_a_cut_day(today)
    return PreviewOut(
        as_of=today,
        cut_day=why_not is None,
        not_a_cut_day=why_not,
        candidates=found,
        skipped=held,
        ladder=ladder_out(steps, len(found)),
        frozen=freeze_views.FreezeOut.of(frozen),
    )


class RunIn(Strict):
    as_of: IsoDate | None = None


@router.post("/run", status_code=202, responses=PROBLEMS)
def run(
    request: Request,
    body: RunIn | None = None,
    _: Principal = Depends(is_admin),
    idem: Idempotent = Depends(idempotent),
):
    """Hands the due customers to the workers in batches; each batch re-checks under its rows' lock.
    The cut only: the ladder's steps are the hourly job's and the daily sweep's. A payment silence
    freezes the cuts first (`tripped`); while a freeze holds (`frozen`), nobody is handed out."""
    settings = request.app.state.settings
    today = _today(request, body.as_of if body else None)

    def handler(_session: Session) -> dict:
        result = delinquency.dispatch_sweep(
            request.app.state.db, delinquency.policy_from(settings), today, settings.sweep_batch_size
        )
        return {
            "as_of": today.isoformat(),
            "not_a_cut_day": result.not_a_cut_day,
            "candidates": result.candidates,
            "batches": result.batches,
            "frozen": run_frozen(result),
            "tripped": result.tripped,
        }

    return idem.run(202, handler)


def run_frozen(result: delinquency.SweepRun) -> dict | None:
    out = freeze_views.FreezeOut.of(result.frozen)
    return out.model_dump(mode="json") if out else None
