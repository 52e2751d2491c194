"""`ativa radius`: what FreeRADIUS answers for a login, read from its tables. Never a password."""

from typing import Any

import typer

from ..settings import get_settings
from ..usecases.radius import view
from ..usecases.radius.enforcement import radius_mode
from . import accept, groups
from .console import out, print_json
from .options import JSON_OPTION, WIDE_OPTION
from .output import local_time, print_table, times_in
from .session import unit

LOGIN_ARGUMENT = typer.Argument(..., help="The PPPoE/IPoE login (as the router sends it).", parser=accept.text(64))


@groups.radius.command("check")
def radius_check(login: str = LOGIN_ARGUMENT, as_json: bool = JSON_OPTION, wide: bool = WIDE_OPTION):
    """Show the group, check and reply attributes and Accept/Reject FreeRADIUS answers for a login,
    and its open sessions."""
    settings = get_settings()
    with unit() as session:
        conn = session.connection()
        mode = radius_mode(settings, conn.dialect.name)
        try:
            found = view.check_login(conn, settings, login)
        except view.RadiusOff:
            found = None
    if found is None:
        if as_json:
            return print_json({"login": login, "radius_mode": "off"})
        out.print("RADIUS is off (SQLite without ATIVA_RADIUS_DATABASE_URL, or set to off)", soft_wrap=True)
        return None
    data = login_json(found, mode)
    if as_json:
        return print_json(data)
    _print(data, settings.timezone, wide=wide)
    return None


def _attributes(attributes) -> list[dict[str, str]]:
    return [{"attribute": a.name, "op": a.op, "value": a.value} for a in attributes]


def login_json(found: view.LoginCheck, mode: str) -> dict[str, Any]:
    return {
        "login": found.login,
        "radius_mode": mode,
        "answer": found.answer,
        "service_id": found.service_id,
        "password_set": found.password_set,
        "wanted_group": found.wanted_group,
        "diverges": found.diverges,
        "user_check": _attributes(found.user_check),
        "groups": [
            {"name": g.name, "priority": g.priority, "check": _attributes(g.check), "reply": _attributes(g.reply)}
            for g in found.groups
        ],
        "sessions": [
            {
                "router_address": s.router_address,
                "router_name": s.router_name,
                "framed_ip": s.framed_ip,
                "since": s.since.isoformat() if s.since else None,
                "acct_session_id": s.acct_session_id,
            }
            for s in found.sessions
        ],
    }


def _print(data: dict[str, Any], zone: str, *, wide: bool) -> None:
    service = f"service {data['service_id']}" if data["service_id"] else "no service in Ativa"
    out.print(f"login {data['login']} ({service}): FreeRADIUS answers {data['answer'].capitalize()}", soft_wrap=True)
    out.print(
        f"password check: {'present' if data['password_set'] else 'MISSING (every request is rejected)'}",
        soft_wrap=True,
    )
    names = ", ".join(f"{g['name']} (priority {g['priority']})" for g in data["groups"]) or "none"
    out.print(f"group: {names}", soft_wrap=True)
    if data["wanted_group"]:
        verdict = "differs: the reconciler repairs it" if data["diverges"] else "matches"
        out.print(f"wanted by Ativa: {data['wanted_group']} ({verdict})", soft_wrap=True)
    rows = [["user check", a["attribute"], a["op"], a["value"]] for a in data["user_check"]]
    for group in data["groups"][:1]:  # FreeRADIUS applies the first group only (no Fall-Through)
        rows += [[f"{group['name']} check", a["attribute"], a["op"], a["value"]] for a in group["check"]]
        rows += [[f"{group['name']} reply", a["attribute"], a["op"], a["value"]] for a in group["reply"]]
    print_table(out, "Attributes", ["from", "attribute", "op", "value"], rows, wide=wide)
    sessions = [
        [
            s["router_name"] or "(not registered)",
            s["router_address"],
            s["framed_ip"],
            local_time(s["since"], zone),
            s["acct_session_id"],
        ]
        for s in data["sessions"]
    ]
    if sessions:
        headers = ["router", "address", "IP", "since", "session id"]
        print_table(out, f"Open sessions ({times_in(zone)})", headers, sessions, wide=wide)
    else:
        out.print("open sessions: none", soft_wrap=True)
