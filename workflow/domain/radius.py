"""What FreeRADIUS answers for a login: the one group it is in, and each group's attributes.

FreeRADIUS applies the first matching group of a login only, so a login is in exactly one group,
chosen from its service's status; blocking changes that group instead of adding one. The rules
for plans, logins and routers that every entry point accepts live here too.
"""

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from .delinquency import NO_LADDER, Ladder
from .errors import InvalidInput
from .limits import check_text
from .vocabulary import DelinquencyStage, Effect, RadiusBlockMode, RouterVendor, ServiceStatus

GROUP_PREFIX = "ativa_"  # every group Ativa keeps; the reconciler owns these and no others
BLOCKED_GROUP = "ativa_bloqueado"
CANCELLED_GROUP = "ativa_cancelado"
LOGIN_PRIORITY = 1

BLOCKED_MESSAGE = "Acesso suspenso. Entre em contato com o provedor para regularizar."
CANCELLED_MESSAGE = "Serviço cancelado."

MAX_RATE_KBPS = 10_000_000  # 10 Gbit/s: a plan above that is a typo
LOGIN_PATTERN = r"^[A-Za-z0-9._@+\-]{1,64}$"  # what PPPoE concentrators accept as a user name
_LOGIN = re.compile(LOGIN_PATTERN)
PASSWORD_MAX = 128
SECRET_MIN, SECRET_MAX = 8, 128


@dataclass(frozen=True)
class Attribute:
    """One row of radgroupcheck/radgroupreply/radcheck: attribute, operator, value."""

    name: str
    op: str
    value: str


@dataclass(frozen=True)
class GroupAttributes:
    check: tuple[Attribute, ...]
    reply: tuple[Attribute, ...]


class Profile(StrEnum):
    """What an active login gets, from its customer's step of the collection ladder."""

    PLAN = "plan"  # the plan's rates
    NOTICE = "notice"  # the plan's rates, and the notice address list (the router shows /aviso)
    REDUCED = "reduced"  # the reduced rates


_PROFILE_SUFFIX = {Profile.PLAN: "", Profile.NOTICE: "_aviso", Profile.REDUCED: "_reduzido"}


def profile_for(stage: str, notice_snoozed_until: datetime | None) -> Profile:
    """The notice stage puts the login on the list unless the customer acknowledged it (until the
    snooze's end, when the machine's resume_notice clears it: the stored state alone decides, never
    the clock, so a group and the change that moved it always agree); the reduced stage gives the
    reduced rates."""
    if stage == DelinquencyStage.REDUCED:
        return Profile.REDUCED
    if stage == DelinquencyStage.NOTICE and notice_snoozed_until is None:
        return Profile.NOTICE
    return Profile.PLAN


def plan_group(plan_id: int, profile: Profile = Profile.PLAN) -> str:
    return f"{GROUP_PREFIX}plano_{plan_id}{_PROFILE_SUFFIX[profile]}"


_PLAN_GROUP = re.compile(rf"^{GROUP_PREFIX}plano_\d+({'|'.join(s for s in _PROFILE_SUFFIX.values() if s)})?$")


def plan_group_profile(group: str) -> Profile | None:
    """The profile of one of a plan's groups by its name (None: not a plan's group)."""
    found = _PLAN_GROUP.fullmatch(group)
    if found is None:
        return None
    return next(p for p, suffix in _PROFILE_SUFFIX.items() if suffix == (found.group(1) or ""))


def group_for(service_status: str, plan_id: int, profile: Profile = Profile.PLAN) -> str:
    """The one group a login is in: its plan (as its customer's ladder step has it) while the
    service is active, else blocked or cancelled."""
    if service_status == ServiceStatus.ACTIVE:
        return plan_group(plan_id, profile)
    if service_status == ServiceStatus.SUSPENDED:
        return BLOCKED_GROUP
    return CANCELLED_GROUP


def session_packet(before: Profile, after: Profile) -> Effect | None:
    """What a live session of an active login needs when its profile changes: a CoA with the new
    attributes, or a Disconnect when the login leaves the notice list (a CoA cannot be trusted to
    take an address off a router's list; the redial gets the new group)."""
    if before == after:
        return None
    return Effect.RADIUS_DISCONNECT if before == Profile.NOTICE else Effect.RADIUS_COA


def mikrotik_rate_limit(download_kbps: int, upload_kbps: int) -> str:
    # rx/tx from the router's side: what it receives from the customer (upload) comes first.
    return f"{upload_kbps}k/{download_kbps}k"


def rate_attributes(vendor: str, download_kbps: int, upload_kbps: int) -> tuple[Attribute, ...]:
    """The rate as one kind of router reads it (a CoA carries only its own vendor's)."""
    if vendor == RouterVendor.MIKROTIK:
        return (Attribute("Mikrotik-Rate-Limit", ":=", mikrotik_rate_limit(download_kbps, upload_kbps)),)
    return (
        Attribute("WISPr-Bandwidth-Max-Up", ":=", str(upload_kbps * 1000)),
        Attribute("WISPr-Bandwidth-Max-Down", ":=", str(download_kbps * 1000)),
    )


def plan_attributes(download_kbps: int, upload_kbps: int) -> GroupAttributes:
    """A plan's group answers for every kind of router: each ignores the other vendor's attributes."""
    return profile_group_attributes(Profile.PLAN, download_kbps, upload_kbps, NO_LADDER, "")


def profile_rates(profile: Profile, download_kbps: int, upload_kbps: int, ladder: Ladder) -> tuple[int, int]:
    """(download, upload) of a profile: the plan's, or the ladder's reduced rates."""
    if profile == Profile.REDUCED:
        return ladder.reduced_rate(download_kbps), ladder.reduced_rate(upload_kbps)
    return download_kbps, upload_kbps


def profile_attributes(
    vendor: str, profile: Profile, download_kbps: int, upload_kbps: int, ladder: Ladder, notice_list: str
) -> tuple[Attribute, ...]:
    """What one kind of router is told of an active login's profile: its rates, and for the
    notice the address list (MikroTik only; a generic router only gets the rates)."""
    attributes = rate_attributes(vendor, *profile_rates(profile, download_kbps, upload_kbps, ladder))
    if profile == Profile.NOTICE and vendor == RouterVendor.MIKROTIK:
        attributes += (Attribute("Mikrotik-Address-List", ":=", notice_list),)
    return attributes


def profile_group_attributes(
    profile: Profile, download_kbps: int, upload_kbps: int, ladder: Ladder, notice_list: str
) -> GroupAttributes:
    """A plan's group for one profile, answering for every kind of router."""
    return GroupAttributes(
        check=(),
        reply=profile_attributes(RouterVendor.MIKROTIK, profile, download_kbps, upload_kbps, ladder, notice_list)
        + profile_attributes(RouterVendor.GENERIC, profile, download_kbps, upload_kbps, ladder, notice_list),
    )


def _refused(message: str) -> GroupAttributes:
    return GroupAttributes(
        check=(Attribute("Auth-Type", ":=", "Reject"),), reply=(Attribute("Reply-Message", ":=", message),)
    )


def blocked_attributes(mode: str, address_list: str) -> GroupAttributes:
    if mode == RadiusBlockMode.REJECT:
        return _refused(BLOCKED_MESSAGE)
    return GroupAttributes(check=(), reply=(Attribute("Mikrotik-Address-List", ":=", address_list),))


def cancelled_attributes() -> GroupAttributes:
    return _refused(CANCELLED_MESSAGE)


@dataclass(frozen=True)
class PlanRates:
    plan_id: int
    download_kbps: int
    upload_kbps: int


def kept_groups(
    plans: list[PlanRates],
    block_mode: str,
    address_list: str,
    ladder: Ladder = NO_LADDER,
    notice_list: str = "ativa_aviso",
) -> dict[str, GroupAttributes]:
    """Every group Ativa keeps, by name, with what it answers: each plan's group for each profile
    (whether or not the ladder has that step now: a login keeps working if it is turned off)."""
    groups = {
        plan_group(p.plan_id, profile): profile_group_attributes(
            profile, p.download_kbps, p.upload_kbps, ladder, notice_list
        )
        for p in plans
        for profile in Profile
    }
    groups[BLOCKED_GROUP] = blocked_attributes(block_mode, address_list)
    groups[CANCELLED_GROUP] = cancelled_attributes()
    return groups


def password_check(password: str) -> Attribute:
    return Attribute("Cleartext-Password", ":=", password)


# -- what entry points accept -------------------------------------------------------------------


def check_login(login: str) -> str:
    if not _LOGIN.fullmatch(login):
        raise InvalidInput(
            "login must be 1 to 64 characters among letters, digits and . _ @ + - (no spaces or control characters)"
        )
    return login


def check_password(password: str) -> str:
    check_text("password", password)
    if not 1 <= len(password) <= PASSWORD_MAX:
        raise InvalidInput(f"password must be 1 to {PASSWORD_MAX} characters")
    return password


def check_rate(field: str, kbps: int) -> int:
    if not 1 <= kbps <= MAX_RATE_KBPS:
        raise InvalidInput(f"{field} must be between 1 and {MAX_RATE_KBPS} kbps (10 Gbit/s)")
    return kbps


def check_router_address(address: str) -> str:
    """The address normalised (a router's sessions are matched on it), or InvalidInput."""
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        raise InvalidInput(f"address must be an IP address such as 10.0.0.1, not {address[:60]!r}") from None


def check_secret(secret: str) -> str:
    check_text("secret", secret)
    if not SECRET_MIN <= len(secret) <= SECRET_MAX:
        raise InvalidInput(f"secret must be {SECRET_MIN} to {SECRET_MAX} characters")
    return secret


def check_port(port: int) -> int:
    if not 1 <= port <= 65535:
        raise InvalidInput("coa_port must be between 1 and 65535")
    return port
