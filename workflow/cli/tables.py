"""The `ativa` command's tables: the columns that fit 80 characters, and all of them with --wide.

Each function takes the JSON form of its rows (what --json prints), so both outputs show the same
data; instants (keys ending in _at or _until) are shown in the provider's time zone.
"""

from typing import Any

from rich.console import Console

from .output import local_time, print_table, times_in


def _with_reason(status: str, reason: str | None, stage: str | None = None) -> str:
    """'inactive (delinquency)'; an active customer at a step of the ladder: 'active (notice)'."""
    if reason:
        return f"{status} ({reason})"
    return f"{status} ({stage})" if stage and stage != "none" else status


def customers(console: Console, items: list[dict], *, wide: bool) -> None:
    if wide:
        headers = ["id", "name", "document", "external_ref", "status", "reason", "version"]
        rows = [
            [c["id"], c["name"], c["document"], c["external_ref"], c["status"], c["inactivation_reason"], c["version"]]
            for c in items
        ]
    else:
        headers = ["id", "name", "document", "ref", "status"]
        rows = [
            [
                c["id"],
                c["name"],
                c["document"],
                c["external_ref"],
                _with_reason(c["status"], c["inactivation_reason"], c.get("delinquency_stage")),
            ]
            for c in items
        ]
    print_table(console, "Customers", headers, rows, wide=wide)


def fields(console: Console, title: str, data: dict[str, Any], zone: str, *, wide: bool = False) -> None:
    """One record as field | value."""
    rows = [[key, local_time(value, zone) if _is_instant(key) else value] for key, value in data.items()]
    print_table(console, f"{title} ({times_in(zone)})", ["field", "value"], rows, wide=wide)


def _is_instant(key: str) -> bool:
    return key.endswith(("_at", "_until"))


def services(console: Console, customer_id: int, items: list[dict], *, wide: bool) -> None:
    print_table(
        console,
        f"Services of customer {customer_id}",
        ["id", "name", "external_ref", "status", "cause", "note"],
        [
            [s["id"], s["name"], s["external_ref"], s["status"], s["suspension_cause"], s["suspension_note"]]
            for s in items
        ],
        wide=wide,
    )


def plans(console: Console, items: list[dict], *, wide: bool) -> None:
    headers = ["id", "name", "down kbps", "up kbps", "retired", "services"]
    rows = [
        [p["id"], p["name"], p["download_kbps"], p["upload_kbps"], "yes" if p["retired"] else "", p["in_use"]]
        for p in items
    ]
    if wide:
        headers.append("group")
        rows = [[*row, p["radius_group"]] for row, p in zip(rows, items, strict=True)]
    print_table(console, "Plans", headers, rows, wide=wide)


def routers(console: Console, items: list[dict], *, wide: bool) -> None:
    print_table(
        console,
        "Routers (NAS)",
        ["id", "name", "address", "coa port", "vendor"],
        [[r["id"], r["name"], r["address"], r["coa_port"], r["vendor"]] for r in items],
        wide=wide,
    )


def tokens(console: Console, items: list[dict], zone: str, *, wide: bool) -> None:
    print_table(
        console,
        f"API tokens ({times_in(zone)})",
        ["id", "name", "role", "prefix", "created", "revoked"],
        [
            [
                t["id"],
                t["name"],
                t["role"],
                t["prefix"],
                local_time(t["created_at"], zone),
                local_time(t["revoked_at"], zone),
            ]
            for t in items
        ],
        wide=wide,
    )


def users(console: Console, items: list[dict], zone: str, *, wide: bool) -> None:
    print_table(
        console,
        f"Web users ({times_in(zone)})",
        ["id", "username", "role", "disabled", "last sign-in"],
        [
            [
                u["id"],
                u["username"],
                u["role"],
                local_time(u["disabled_at"], zone),
                local_time(u["last_login_at"], zone),
            ]
            for u in items
        ],
        wide=wide,
    )


def effects(console: Console, items: list[dict], zone: str, *, wide: bool) -> None:
    if wide:
        headers = ["id", "customer", "transition", "name", "state", "attempts", "last error", "note", "completed"]
        rows = [
            [
                e["id"],
                e["customer_id"],
                e["transition_id"],
                e["name"],
                e["state"],
                e["attempts"],
                e["last_error"],
                e["note"],
                local_time(e["completed_at"], zone),
            ]
            for e in items
        ]
    else:
        headers = ["id", "customer", "name", "state", "completed", "detail"]
        rows = [
            [
                e["id"],
                e["customer_id"],
                e["name"],
                _state(e),
                local_time(e["completed_at"], zone),
                e["last_error"] if e["state"] != "done" and e["last_error"] else e["note"],
            ]
            for e in items
        ]
    print_table(console, f"Effects ({times_in(zone)})", headers, rows, wide=wide)


def _state(effect: dict) -> str:
    attempts = effect["attempts"]
    return effect["state"] if attempts == 1 else f"{effect['state']} ({attempts} attempts)"


def history(console: Console, customer_id: int, items: list[dict], zone: str, *, wide: bool) -> None:
    """A customer's transitions; the effects of each under it, with their outcome."""
    title = f"History of customer {customer_id} ({times_in(zone)})"
    if wide:
        headers = ["when", "event", "from → to", "reason", "note", "actor", "source", "effects"]
        rows = [
            [
                local_time(t["created_at"], zone),
                _event(t),
                f"{t['from_status']} → {t['to_status']}",
                t["reason"],
                t["note"],
                t["actor"],
                t["source"] + (f" (bulk job {t['bulk_job_id']})" if t.get("bulk_job_id") else ""),
                _effect_lines(t, zone),
            ]
            for t in items
        ]
    else:
        headers = ["when", "change", "effects"]
        rows = [[local_time(t["created_at"], zone), _change(t), _effect_lines(t, zone)] for t in items]
    print_table(console, title, headers, rows, wide=wide)


def _event(transition: dict) -> str:
    return transition["event"] + (" (forced)" if transition["forced"] else "")


def _change(transition: dict) -> str:
    lines = [
        _event(transition),
        f"{transition['from_status']} → {transition['to_status']}",
        transition["reason"],
        f"by {transition['actor']} ({transition['source']})",
    ]
    if transition["note"]:
        lines.append(f"note: {transition['note']}")
    return "\n".join(lines)


def _effect_lines(transition: dict, zone: str) -> str:
    day = (local_time(transition["created_at"], zone) or "")[:10]
    return "\n".join(_effect_line(effect, day, zone) for effect in transition["effects"])


def _effect_line(effect: dict, day: str, zone: str) -> str:
    line = f"{effect['name']}: {effect['state']}"
    if effect["attempts"] != 1:
        line += f" ({effect['attempts']} attempts)"
    if effect["state"] != "done" and effect["last_error"]:
        line += f" {effect['last_error']}"
    completed = local_time(effect["completed_at"], zone)
    if completed:
        line += f" at {completed[11:] if completed.startswith(day) else completed}"  # the time alone on the same day
    return line
