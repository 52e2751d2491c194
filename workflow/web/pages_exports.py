"""Exportar CSV: the customer list with its filters, and the Inadimplência preview (csv_export.py
writes the Brazilian way). The customer list, with personal data, is for operators and admins;
the preview for admins, as its page."""

import logging
from collections.abc import Iterator
from datetime import date

from fastapi import APIRouter, Depends, Query, Request

from ..domain import brazilian
from ..domain.delinquency import Policy
from ..usecases import delinquency
from ..usecases.business_day import provider_today
from ..usecases.customer_export import CustomerLine, matching_customers
from ..usecases.delinquency import Candidate
from ..usecases.ladder import StageEntry
from . import csv_export, labels
from .auth import WebUser, admin, exporter
from .forms import format_document
from .rendering import render
from .shared_views import LADDER_LISTS, ListFilters, preview_day, sweep_preview

router = APIRouter(include_in_schema=False)
log = logging.getLogger("ativa.web")

CUSTOMER_HEADERS = (
    "Número",
    "Nome",
    "CPF/CNPJ",
    "Código",
    "E-mail",
    "Telefone",
    "Ativo",
    "Motivo",
    "Régua de cobrança",
    "Situação desde",
    "Bloqueio automático",
    "Desbloqueio de confiança até",
    "Retorno programado",
    "Sem corte automático até",
    "Total vencido",
    "Vencimento mais antigo",
    "Cadastrado em",
)
# An active customer on no step of the ladder (the dashboard's "Ativos em dia").
NO_STAGE = "Em dia"


def customer_row(c: CustomerLine) -> list[csv_export.Cell]:
    active = c.status == "active"
    return [
        c.id,
        c.name,
        format_document(c.document),
        c.external_ref,
        c.email,
        c.phone,
        active,
        labels.reason_label(c.inactivation_reason) or None,
        labels.STAGES.get(c.delinquency_stage, NO_STAGE) if active else None,
        c.status_changed_at,
        "Isento" if c.auto_block_exempt else "Sim",
        c.trust_unlock_until,
        c.return_on,
        c.forced_hold_until,
        c.overdue_total,
        c.oldest_due,
        c.created_at,
    ]


@router.get("/clientes/exportar.csv")
def export_customers(
    request: Request,
    q: str = "",
    situacao: str = "",
    etapa: str = "",
    user: WebUser = Depends(exporter),
):
    """Every customer the list's filters match (not only a page), streamed a chunk at a time."""
    filters = ListFilters.of(q, situacao, etapa)
    if filters.q_error:
        return render(request, "message.html", 422, user=user, title="Busca inválida", message=filters.q_error)
    # Who took the register's personal data out, and which part: the search text itself may be a
    # name or a CPF, so the line says only whether there was one.
    log.info(
        "customer CSV export by user %r (%s): status=%s stage=%s search=%s",
        user.username,
        user.role.value,
        filters.status or "any",
        filters.stage or "any",
        "yes" if filters.q.strip() else "no",
    )
    zone = request.app.state.settings.timezone
    today = provider_today(zone)
    chunks = matching_customers(
        request.app.state.db, status=filters.status, q=filters.q, stage=filters.stage, today=today
    )
    rows = ([customer_row(c) for c in chunk] for chunk in chunks)
    return csv_export.download(f"clientes-{today.isoformat()}.csv", csv_export.stream(CUSTOMER_HEADERS, rows, zone))


SWEEP_HEADERS = (
    "Lista",
    "Número",
    "Cliente",
    "Código",
    "Etapa agora",
    "Total vencido",
    "Vencimento mais antigo",
    "Dias em atraso",
    "Faturas",
    "Sem corte automático até",
    "Por quê",
)
# The ladder's lists that move someone (the page also shows who is at a step now).
LADDER_MOVERS = ("to_notice", "to_reduced", "back_to_plan")
LADDER_TITLES = {name: title for name, _, title in LADDER_LISTS}


def _ladder_why(name: str, days: int, policy: Policy) -> str:
    ladder = policy.ladder
    if name == "to_notice":
        return f"{days} dia(s) de atraso; o aviso começa com {ladder.notice_after_days} dia(s)."
    if name == "to_reduced":
        return f"{days} dia(s) de atraso; a velocidade é reduzida com {ladder.reduce_after_days} dia(s)."
    return "A régua não pede mais a etapa (pagamento, isenção, desbloqueio de confiança ou ativação forçada)."


def _sweep_row(
    title: str, entry: Candidate | StageEntry, stage: str | None, held_until: date | None, why: str
) -> list[csv_export.Cell]:
    return [
        title,
        entry.customer_id,
        entry.name,
        entry.external_ref,
        stage,
        entry.overdue_total,
        entry.oldest_due,
        entry.days_overdue,
        entry.overdue_invoices,
        held_until,
        why,
    ]


@router.get("/inadimplencia/exportar.csv")
def export_sweep_preview(request: Request, data: str = Query("", max_length=40), user: WebUser = Depends(admin)):
    """The preview of /inadimplencia for the same day: who would be cut, who is held off and why,
    and who the ladder would move."""
    settings = request.app.state.settings
    policy = delinquency.policy_from(settings)
    as_of, date_error = preview_day(data.strip(), settings.timezone)
    if date_error:
        return render(request, "message.html", 422, user=user, title="Data inválida", message=date_error)
    shown = sweep_preview(request, policy, as_of)
    cut = f"Seria inativado em {brazilian.day(shown.cut_day)}"
    minimum = brazilian.money(policy.min_overdue_amount)
    rows = [
        _sweep_row(
            cut,
            c,
            None,
            None,
            f"{c.days_overdue} dia(s) de atraso, mais que a carência de {policy.grace_days}; vencido ≥ {minimum}.",
        )
        for c in shown.candidates
    ]
    rows += [
        _sweep_row("Fora do corte", h, None, h.held_until, "Ativação forçada: sem corte automático até essa data.")
        for h in shown.held
    ]
    for name in LADDER_MOVERS:
        rows += [
            _sweep_row(
                LADDER_TITLES[name],
                e,
                labels.STAGES.get(e.stage, "Sem etapa"),
                None,
                _ladder_why(name, e.days_overdue, policy),
            )
            for e in getattr(shown.steps, name)
        ]
    body: Iterator[bytes] = csv_export.stream(SWEEP_HEADERS, [rows], settings.timezone)
    return csv_export.download(f"inadimplencia-{as_of.isoformat()}.csv", body)
