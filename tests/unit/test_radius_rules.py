"""The RADIUS rules of the domain: which group a login is in, what each group answers, what is accepted."""

import pytest

from workflow.domain import radius
from workflow.domain.errors import InvalidInput, UnsafeText


def test_a_login_is_in_its_plan_while_active_and_blocked_or_cancelled_otherwise():
    assert radius.group_for("active", 7) == "ativa_plano_7"
    assert radius.group_for("suspended", 7) == radius.BLOCKED_GROUP
    assert radius.group_for("cancelled", 7) == radius.CANCELLED_GROUP


def test_a_plan_groups_name_tells_its_profile_and_nothing_else_does():
    for profile in radius.Profile:
        assert radius.plan_group_profile(radius.plan_group(7, profile)) is profile
    for other in (radius.BLOCKED_GROUP, radius.CANCELLED_GROUP, "ativa_plano_", "ativa_plano_7_avisos", "plano_7"):
        assert radius.plan_group_profile(other) is None


def test_the_rate_is_written_from_the_routers_side_upload_first():
    # 50 Mbit/s down, 10 up: the router receives (rx) the customer's upload.
    assert radius.mikrotik_rate_limit(download_kbps=50_000, upload_kbps=10_000) == "10000k/50000k"
    generic = {a.name: a.value for a in radius.rate_attributes("generic", 50_000, 10_000)}
    assert generic == {"WISPr-Bandwidth-Max-Up": "10000000", "WISPr-Bandwidth-Max-Down": "50000000"}


def test_a_plan_group_answers_every_kind_of_router():
    reply = {a.name: a.value for a in radius.plan_attributes(50_000, 10_000).reply}
    assert reply["Mikrotik-Rate-Limit"] == "10000k/50000k"
    assert reply["WISPr-Bandwidth-Max-Down"] == "50000000"


def test_blocking_by_address_list_or_by_reject():
    listed = radius.blocked_attributes("address_list", "ativa_bloqueados")
    assert listed.check == ()
    assert [(a.name, a.value) for a in listed.reply] == [("Mikrotik-Address-List", "ativa_bloqueados")]
    rejected = radius.blocked_attributes("reject", "ignored")
    assert [(a.name, a.value) for a in rejected.check] == [("Auth-Type", "Reject")]
    assert rejected.reply[0].name == "Reply-Message" and "suspenso" in rejected.reply[0].value


def test_the_kept_groups_are_one_per_plan_plus_blocked_and_cancelled():
    groups = radius.kept_groups([radius.PlanRates(1, 100, 50), radius.PlanRates(2, 300, 100)], "reject", "x")
    assert set(groups) == {
        *(f"ativa_plano_{plan}{step}" for plan in (1, 2) for step in ("", "_aviso", "_reduzido")),
        radius.BLOCKED_GROUP,
        radius.CANCELLED_GROUP,
    }
    assert all(name.startswith(radius.GROUP_PREFIX) for name in groups)


@pytest.mark.parametrize("login", ["joao silva", "joao\x00", "joao\t", "", "a" * 65, "joão", "jo\ud800"])
def test_logins_routers_cannot_take_are_refused(login):
    with pytest.raises(InvalidInput):
        radius.check_login(login)


@pytest.mark.parametrize("login", ["joao", "Joao.Silva", "cliente-42@fibra", "a" * 64, "x+y_z"])
def test_ordinary_logins_are_accepted(login):
    assert radius.check_login(login) == login


@pytest.mark.parametrize("kbps", [0, -1, radius.MAX_RATE_KBPS + 1, 2**63])
def test_absurd_rates_are_refused(kbps):
    with pytest.raises(InvalidInput):
        radius.check_rate("download_kbps", kbps)


def test_router_addresses_are_ips_normalised():
    assert radius.check_router_address(" 10.0.0.1 ") == "10.0.0.1"
    assert radius.check_router_address("2001:DB8::1") == "2001:db8::1"
    for bad in ("router.local", "10.0.0.256", "", "10.0.0.1/24"):
        with pytest.raises(InvalidInput):
            radius.check_router_address(bad)


def test_secrets_and_passwords():
    with pytest.raises(InvalidInput):
        radius.check_secret("short")
    with pytest.raises(UnsafeText):
        radius.check_secret("long enough\x00")
    assert radius.check_secret("12345678") == "12345678"
    with pytest.raises(InvalidInput):
        radius.check_password("")
    with pytest.raises(UnsafeText):
        radius.check_password("pw\n")
