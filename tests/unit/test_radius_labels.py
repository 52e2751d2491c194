"""How the customer page writes rates and the last CoA/Disconnect packet: Brazilian numbers, the
provider's time zone, one Portuguese sentence per outcome."""

from datetime import UTC, datetime

import pytest

from workflow.web import radius_labels


@pytest.mark.parametrize(
    ("kbps", "text"),
    [
        (512, "512 kbps"),
        (1_000, "1 Mbps"),
        (2_500, "2,5 Mbps"),
        (50_000, "50 Mbps"),
        (1_234, "1,234 Mbps"),
        (1_000_000, "1 Gbps"),
        (10_000_000, "10 Gbps"),
    ],
)
def test_rates_are_written_with_a_decimal_comma_and_the_largest_unit(kbps, text):
    assert radius_labels.rate(kbps) == text


def test_a_plan_reads_download_then_upload():
    assert radius_labels.plan_rates(50_000, 10_000) == "50 Mbps / 10 Mbps"


def test_each_outcome_is_a_sentence_in_the_providers_time_zone():
    noon = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    zone = "America/Sao_Paulo"
    assert (
        radius_labels.packet_outcome("disconnect", "ack", "10.0.0.1", noon, zone)
        == "Desconexão confirmada pelo roteador 10.0.0.1 em 30/11/2026 12:00"
    )
    assert radius_labels.packet_outcome("coa", "session_not_found", "10.0.0.1", noon, zone).startswith(
        "Sessão não encontrada"
    )
    assert radius_labels.packet_outcome("coa", "timeout", "10.0.0.1", noon, zone).startswith("Roteador não respondeu")
    for outcome in ("nak", "no_router", "error"):
        assert "10.0.0.1" in radius_labels.packet_outcome("disconnect", outcome, "10.0.0.1", noon, zone)


def test_groups_are_named_for_the_operator():
    assert radius_labels.group_label("ativa_plano_7") == "Velocidade do plano"
    assert radius_labels.group_label("ativa_plano_7_aviso") == "Velocidade do plano, na lista de aviso de cobrança"
    assert radius_labels.group_label("ativa_plano_7_reduzido") == "Velocidade reduzida (cobrança)"
    assert radius_labels.group_label("ativa_bloqueado") == "Bloqueado"
    assert radius_labels.group_label("ativa_cancelado") == "Cancelado"
    assert radius_labels.group_label("outro") == "Grupo manual"
