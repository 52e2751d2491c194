"""How the customer page says what the network knows: rates, FreeRADIUS groups, sessions and the
last CoA/Disconnect packet, in Portuguese and in the provider's time zone."""

from datetime import datetime
from decimal import Decimal

from ..domain import brazilian, radius

DIVERGENT = "divergente — o reconciliador corrige"
GROUPS = {
    radius.BLOCKED_GROUP: "Bloqueado",
    radius.CANCELLED_GROUP: "Cancelado",
}
PLAN_GROUP_PREFIX = f"{radius.GROUP_PREFIX}plano_"
_UNITS = ((1_000_000, "Gbps"), (1_000, "Mbps"), (1, "kbps"))


def rate(kbps: int) -> str:
    """50000 → '50 Mbps', 2500 → '2,5 Mbps', 512 → '512 kbps' (decimal comma, no trailing zeros)."""
    for size, unit in _UNITS:
        if kbps >= size:
            value = (Decimal(kbps) / size).quantize(Decimal("0.001")).normalize()
            text = f"{value:f}".replace(".", ",")
            return f"{text} {unit}"
    return f"{kbps} kbps"


def plan_rates(download_kbps: int, upload_kbps: int) -> str:
    """'50 Mbps / 10 Mbps': download first, as a customer reads a plan."""
    return f"{rate(download_kbps)} / {rate(upload_kbps)}"


_PROFILES = {
    radius.Profile.PLAN: "Velocidade do plano",
    radius.Profile.NOTICE: "Velocidade do plano, na lista de aviso de cobrança",
    radius.Profile.REDUCED: "Velocidade reduzida (cobrança)",
}


def group_label(group: str) -> str:
    profile = radius.plan_group_profile(group)
    if profile is not None:
        return _PROFILES[profile]
    if group.startswith(PLAN_GROUP_PREFIX):
        return "Velocidade do plano"
    return GROUPS.get(group, "Grupo manual")


def minute(value: datetime | None, zone: str) -> str:
    """dd/mm/aaaa hh:mm in the provider's time zone."""
    return "—" if value is None else brazilian.minute(value, zone)


_KIND = {"disconnect": "Desconexão", "coa": "Mudança de velocidade"}


def packet_outcome(kind: str, outcome: str, router_address: str, sent_at: datetime, zone: str) -> str:
    """The last CoA/Disconnect packet of a service, as one sentence."""
    what, when = _KIND.get(kind, kind), minute(sent_at, zone)
    sentences = {
        "ack": f"{what} confirmada pelo roteador {router_address} em {when}",
        "nak": f"{what} recusada pelo roteador {router_address} em {when}",
        "session_not_found": f"Sessão não encontrada no roteador {router_address} em {when}",
        "timeout": f"Roteador não respondeu ({router_address}, {what.lower()} em {when})",
        "no_router": f"Nenhum roteador cadastrado com o endereço {router_address} ({when})",
        "error": f"Erro ao enviar a {what.lower()} ao roteador {router_address} em {when}",
    }
    return sentences.get(outcome, f"{what}: {outcome} ({router_address}, {when})")
