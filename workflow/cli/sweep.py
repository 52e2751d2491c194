"""`ativa sweep`: the delinquency cut, by hand."""

from datetime import date

import typer

from ..domain.errors import OutOfRange
from ..domain.freeze import Freeze
from ..settings import get_settings
from ..usecases import delinquency, freeze, freeze_views, ladder
from .console import out, print_json
from .errors import fail
from .groups import root
from .options import JSON_OPTION
from .output import print_table
from .progress import BatchProgress
from .session import install_publisher, open_database, unit


@root.command()
def sweep(
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Only show who would be cut, who would move on the collection ladder, and why."
    ),
    as_of: str = typer.Option(None, "--as-of", help="Business date (YYYY-MM-DD); default today, provider time."),
    as_json: bool = JSON_OPTION,
):
    """Move customers along the collection ladder, then inactivate those due for a cut (reason
    delinquency, source scheduler)."""
    settings = get_settings()
    try:
        today = delinquency.business_day(date.fromisoformat(as_of) if as_of else None, settings.timezone)
    except OutOfRange as error:
        fail(f"--as-of: {error.detail}", 2)
    except ValueError:
        fail(f"--as-of {as_of!r} is not a date like 2026-12-01", 2)
    policy = delinquency.policy_from(settings)
    why_not = policy.why_not_a_cut_day(today)
    if dry_run:
        with unit() as session:
            found = delinquency.candidates(session, policy, today)
            held = delinquency.held_candidates(session, policy, today)
            steps = ladder.ladder_preview(session.connection(), policy, today)
            frozen = freeze.holding(session)
        rows = [
            {**vars(c), "overdue_total": str(c.overdue_total), "oldest_due": c.oldest_due.isoformat()} for c in found
        ]
        if as_json:
            skipped = [
                {
                    **vars(c),
                    "overdue_total": str(c.overdue_total),
                    "oldest_due": c.oldest_due.isoformat(),
                    "held_until": c.held_until.isoformat(),
                }
                for c in held
            ]
            return print_json(
                {
                    "as_of": today.isoformat(),
                    "cut_day": why_not is None,
                    "not_a_cut_day": why_not,
                    "candidates": rows,
                    "skipped": skipped,
                    "frozen": _frozen_json(frozen),
                    "ladder": {
                        "counts": {**steps.counts(), "cuts": len(found)},
                        **{name: [_entry(e) for e in entries] for name, entries in vars(steps).items()},
                    },
                }
            )
        if frozen is not None:
            out.print(f"nobody would be cut on {today}: {frozen.describe()}")
        if why_not:
            out.print(f"no cuts on {today}: {why_not}")
        print_table(
            out,
            f"Due for a cut on {today}",
            ["customer", "name", "ref", "overdue R$", "oldest due", "days", "invoices"],
            [
                [
                    r["customer_id"],
                    r["name"],
                    r["external_ref"],
                    r["overdue_total"],
                    r["oldest_due"],
                    r["days_overdue"],
                    r["overdue_invoices"],
                ]
                for r in rows
            ],
        )
        for c in held:
            out.print(
                f"skipped: customer {c.customer_id} ({c.name}), held by a forced activation through {c.held_until}"
            )
        _print_ladder(steps)
        return
    install_publisher()  # the steps' and the cuts' effects are published after commit
    db = open_database(settings)
    try:
        # The ladder first, as the worker's sweep does (a customer cut today had its steps before);
        # it asks the payment-silence rule before anything moves.
        with BatchProgress(f"ladder of {today}") as moving:
            moved = ladder.advance_ladder(db, policy, today, settings, on_batch=moving)
        with BatchProgress(f"sweep of {today}") as cutting:
            result = delinquency.run_sweep(db, policy, today, settings.sweep_batch_size, on_batch=cutting)
    finally:
        db.dispose()
    data = {
        "as_of": today.isoformat(),
        "ladder": {
            "advanced": {str(k): v for k, v in moved.advanced.items()},
            "cleared": moved.cleared,
            "kept": {str(k): v for k, v in moved.kept.items()},
            "frozen": moved.frozen is not None,
        },
        "frozen": _frozen_json(result.frozen),
        "tripped": moved.tripped or result.tripped,
        "not_a_cut_day": result.not_a_cut_day,
        "candidates": result.candidates,
        "inactivated": result.inactivated,
        "skipped": {str(k): v for k, v in result.skipped.items()},
    }
    if as_json:
        return print_json(data)
    out.print(
        f"ladder of {today}: "
        + ", ".join(f"{sum(1 for s in moved.advanced.values() if s == stage)} to {stage}" for stage in STAGES)
        + f", {len(moved.cleared)} back to their plan"
        + (f", {len(moved.kept)} refused" if moved.kept else "")
        + (" (frozen: nobody stepped forward)" if moved.frozen is not None else "")
    )
    if result.frozen is not None:
        tripped_now = " (frozen by this run: payments have gone silent)" if data["tripped"] else ""
        out.print(f"sweep of {today}: nobody cut{tripped_now}, {result.frozen.describe()}")
        return
    if result.not_a_cut_day:
        out.print(f"no cuts on {today}: {result.not_a_cut_day}")
        return
    out.print(
        f"sweep of {today}: {len(result.inactivated)} inactivated, {len(result.skipped)} skipped "
        f"of {result.candidates} candidate(s)"
    )


STAGES = ("notice", "reduced")
PREVIEW_LISTS = {
    "to_notice": "Would move to the notice stage",
    "to_reduced": "Would move to reduced speed",
    "back_to_plan": "Would go back to their plan",
    "at_notice": "At the notice stage now",
    "at_reduced": "At reduced speed now",
}


def _frozen_json(frozen: Freeze | None) -> dict | None:
    shown = freeze_views.FreezeOut.of(frozen)
    return shown.model_dump(mode="json") if shown else None


def _entry(entry: ladder.StageEntry) -> dict:
    return {
        **vars(entry),
        "overdue_total": str(entry.overdue_total),
        "oldest_due": entry.oldest_due.isoformat() if entry.oldest_due else None,
    }


def _print_ladder(steps: ladder.LadderPreview) -> None:
    """The collection ladder's lists, after the cuts' table; an empty list is one line."""
    for name, title in PREVIEW_LISTS.items():
        entries = getattr(steps, name)
        if not entries:
            out.print(f"{title}: none")
            continue
        print_table(
            out,
            f"{title}: {len(entries)}",
            ["customer", "name", "ref", "stage", "overdue R$", "oldest due", "days"],
            [
                [e.customer_id, e.name, e.external_ref, e.stage, e.overdue_total, e.oldest_due, e.days_overdue]
                for e in entries
            ],
        )
