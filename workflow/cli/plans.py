"""`ativa plans`: speed plans, each a FreeRADIUS group."""

import typer

from ..domain import radius
from ..usecases import plans
from . import accept, groups, tables
from .console import out, print_json
from .options import JSON_OPTION, WIDE_OPTION
from .records import plan_json
from .session import unit

RATE_HELP = f"kbit/s, 1 to {radius.MAX_RATE_KBPS} (10 Gbit/s)."


@groups.plans.command("add")
def plans_add(
    name: str = typer.Option(..., "--name", help="Unique name (letter case ignored).", parser=accept.PLAN_NAME),
    download: int = typer.Option(..., "--download", help=f"Download rate, {RATE_HELP}", min=1, max=accept.MAX_ID),
    upload: int = typer.Option(..., "--upload", help=f"Upload rate, {RATE_HELP}", min=1, max=accept.MAX_ID),
    as_json: bool = JSON_OPTION,
):
    """Add a plan; its FreeRADIUS group is written at once."""
    with unit(write=True) as session:
        data = plan_json(plans.create_plan(session, name, download, upload), 0)
    if as_json:
        return print_json(data)
    out.print(f"plan {data['id']} '{data['name']}' added (group {data['radius_group']})")


@groups.plans.command("list")
def plans_list(as_json: bool = JSON_OPTION, wide: bool = WIDE_OPTION):
    """List plans, retired ones too, with how many services use each."""
    with unit() as session:
        items = [plan_json(plan, used) for plan, used in plans.list_plans(session)]
    if as_json:
        return print_json({"items": items})
    tables.plans(out, items, wide=wide)
