"""`ativa sweep`: the delinquency cut, by hand."""

from datetime import date

import typer

from ..domain.errors import OutOfRange
from ..settings import get_settings
from ..usecases import delinquency
from .console import out, print_json
from .errors import fail
from .groups import root
from .options import JSON_OPTION
from .output import print_table
from .session import install_publisher, open_database, unit


@root.command()
def sweep(
    dry_run: bool = typer.Option(False, "--dry-run", help="Only show who would be cut, and why."),
    as_of: str = typer.Option(None, "--as-of", help="Business date (YYYY-MM-DD); default today, provider time."),
    as_json: bool = JSON_OPTION,
):
    """Inactivate customers due for a cut (reason delinquency, source scheduler)."""
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
                }
            )
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
        return
    install_publisher()  # the cuts' effects are published after commit
    db = open_database(settings)
    try:
        result = delinquency.run_sweep(db, policy, today, settings.sweep_batch_size)
    finally:
        db.dispose()
    data = {
        "as_of": today.isoformat(),
        "not_a_cut_day": result.not_a_cut_day,
        "candidates": result.candidates,
        "inactivated": result.inactivated,
        "skipped": {str(k): v for k, v in result.skipped.items()},
    }
    if as_json:
        return print_json(data)
    if result.not_a_cut_day:
        out.print(f"no cuts on {today}: {result.not_a_cut_day}")
        return
    out.print(
        f"sweep of {today}: {len(result.inactivated)} inactivated, {len(result.skipped)} skipped "
        f"of {result.candidates} candidate(s)"
    )
