"""The operator's words: Portuguese labels for the domain's vocabulary and its refusals."""

from ..domain import brazilian, limits
from ..domain.delinquency import FORCED_HOLD_MAX_DAYS
from ..domain.errors import AtivaError, GuardFailed, InvalidReason
from ..domain.vocabulary import (
    ActivationReason,
    CustomerEvent,
    CustomerStatus,
    EffectState,
    InactivationReason,
    Role,
    ServiceStatus,
    Source,
)

INACTIVATION_REASONS = {
    InactivationReason.CUSTOMER_REQUEST: "Suspensão a pedido do cliente",
    InactivationReason.DELINQUENCY: "Inadimplência",
    InactivationReason.CONTRACT_TERMINATION: "Encerramento de contrato",
    InactivationReason.OTHER: "Outro",
}
ACTIVATION_REASONS = {
    ActivationReason.PAYMENT_RECEIVED: "Pagamento de pendências",
    ActivationReason.CUSTOMER_RETURN: "Retorno do cliente",
    ActivationReason.MANUAL: "Liberação manual",
    ActivationReason.TRUST_UNLOCK: "Desbloqueio de confiança",
}
REASONS = {
    **{k.value: v for k, v in INACTIVATION_REASONS.items()},
    **{k.value: v for k, v in ACTIVATION_REASONS.items()},
}

STATUS = {CustomerStatus.ACTIVE.value: "Ativo", CustomerStatus.INACTIVE.value: "Inativo"}
SERVICE_STATUS = {
    ServiceStatus.ACTIVE.value: "Ativo",
    ServiceStatus.SUSPENDED.value: "Suspenso",
    ServiceStatus.CANCELLED.value: "Cancelado",
}
SOURCES = {
    Source.API.value: "API",
    Source.CLI.value: "Linha de comando",
    Source.UI.value: "Tela",
    Source.BILLING.value: "Cobrança",
    Source.SCHEDULER.value: "Agendamento",
    Source.NOTICE_PAGE.value: "Página de aviso",
}
# The collection ladder's stages as a badge beside Ativo (none shows nothing; a cut is just Inativo).
STAGES = brazilian.STAGE_NAMES
# The list's "Régua" filter: the address bar's word -> standing's stage.
STAGE_FILTERS = {"sem-etapa": "none", "aviso": "notice", "reduzida": "reduced", "cortado": "cut"}
ROLES = {
    Role.ADMIN.value: "Administrador",
    Role.OPERATOR.value: "Operador",
    Role.VIEWER.value: "Consulta",
    Role.BILLING.value: "Cobrança",
}
EFFECTS = {
    "suspend_services": "Suspender serviços",
    "pause_invoicing": "Pausar faturamento",
    "restore_services": "Restabelecer serviços",
    "resume_invoicing": "Retomar faturamento",
    "notify_billing": "Avisar a cobrança",
    "warn_billing": "Aviso de corte",
    "provision_suspend": "Bloquear no provisionamento",
    "provision_restore": "Liberar no provisionamento",
    "radius_disconnect": "Derrubar a sessão no roteador",
    "radius_coa": "Mudar a velocidade da sessão no roteador",
    "notify_stage": "Avisar a cobrança da etapa da régua",
}
EFFECT_STATES = {
    EffectState.PENDING.value: "Pendente",
    EffectState.DONE.value: "Concluído",
    EffectState.FAILED.value: "Falhou",
    EffectState.SKIPPED.value: "Dispensado",
}
EVENTS = {
    CustomerEvent.INACTIVATE.value: "Inativação",
    CustomerEvent.ACTIVATE.value: "Ativação",
    CustomerEvent.END_TRUST_UNLOCK.value: "Fim do Desbloqueio de confiança",
    CustomerEvent.END_FORCED_HOLD.value: "Fim do prazo sem corte automático",
    CustomerEvent.RESCHEDULE_RETURN.value: "Nova data de retorno",
    CustomerEvent.ADVANCE_STAGE.value: "Etapa da régua de cobrança",
    CustomerEvent.CLEAR_STAGE.value: "De volta ao plano",
    CustomerEvent.ACKNOWLEDGE_NOTICE.value: "Aviso confirmado pelo cliente",
    CustomerEvent.RESUME_NOTICE.value: "De volta à lista de aviso",
}

# Guard refusals by rule: what the operator reads on the form.
GUARD_MESSAGES = {
    "reason_required": "Informe o motivo: ele é obrigatório quando o campo Ativo muda.",
    "note_required": "Escreva uma observação explicando o motivo.",
    "no_overdue_invoice": "O cliente não tem fatura vencida em aberto; não dá para inativar por inadimplência.",
    "overdue_invoices": "O cliente ainda tem faturas vencidas em aberto. Registre o pagamento, use o "
    "Desbloqueio de confiança ou marque Forçar ativação com uma observação.",
    "force_not_applicable": "Forçar vale só para ativação.",
    "force_not_permitted": "Só um operador ou administrador pode forçar a ativação.",
    "days_only_for_trust_unlock": "Dias só valem para o Desbloqueio de confiança.",
    "return_date_requires_customer_request": "A data de retorno só vale para Suspensão a pedido do cliente.",
    "return_date_not_in_future": "A data de retorno precisa ser depois de hoje.",
    "until_only_for_suspension": "A data de retorno só vale para inativação.",
    "trust_unlock_not_delinquent": "O Desbloqueio de confiança é só para cliente inativo por inadimplência.",
    "trust_unlock_days_required": "Informe por quantos dias vale o Desbloqueio de confiança (1 ou mais).",
    "trust_unlock_too_long": "O Desbloqueio de confiança passa do máximo de dias permitido.",
    "trust_unlock_used": "O cliente já usou o Desbloqueio de confiança desta dívida; ele volta ao pagar.",
    "forced_activation_hold": "Uma ativação forçada impede cortes automáticos até a data combinada.",
    "hold_requires_forced_activation": "A data sem corte automático só vale ao ativar com Forçar ativação "
    "um cliente cortado por inadimplência que ainda tem faturas vencidas.",
    "hold_not_in_future": "A data sem corte automático precisa ser depois de hoje.",
    "hold_too_long": f"A data sem corte automático pode ser no máximo {FORCED_HOLD_MAX_DAYS} dias depois de hoje.",
    # Refusals of the changes the scheduler and the billing events make (shown in their logs and runs).
    "no_trust_unlock": "O cliente não está em Desbloqueio de confiança.",
    "trust_unlock_not_over": "O Desbloqueio de confiança ainda não chegou ao fim.",
    "trust_unlock_debt_unpaid": (
        "Ainda há fatura vencida em aberto: no fim do Desbloqueio de confiança o cliente é inativado."
    ),
    "no_forced_hold": "Nenhuma ativação forçada impede cortes automáticos deste cliente.",
    "forced_hold_debt_unpaid": "Ainda há fatura vencida em aberto: o prazo sem corte automático continua.",
}

RETURN_DATE_TOO_FAR = (
    f"A data de retorno pode ser no máximo {limits.MAX_RETURN_DAYS} dias depois de hoje: "
    f"uma suspensão a pedido do cliente dura até um ano."
)

ERROR_MESSAGES = {
    "stale_version": "Outra pessoa salvou este cliente enquanto você editava. Confira os dados "
    "atuais abaixo; o que você digitou foi mantido. Salve de novo para aplicar.",
    "transition_not_allowed": "O cliente já está nessa situação; nada foi alterado.",
    "duplicate_document": "Já existe um cliente com este CPF/CNPJ.",
    "duplicate_external_ref": "Já existe um cliente com este código.",
    "not_found": "Cliente não encontrado.",
    "unknown_status": "A situação gravada deste cliente é desconhecida; chame o suporte.",
}


def reason_label(value: str | None) -> str:
    return REASONS.get(value or "", value or "")


def error_message(error: AtivaError) -> str:
    """A refusal in Portuguese; the English detail stays in the logs and the API."""
    if isinstance(error, GuardFailed):
        return GUARD_MESSAGES.get(error.rule, "A mudança foi recusada pelas regras do cadastro.")
    if isinstance(error, InvalidReason):
        return "O motivo escolhido não combina com a mudança do campo Ativo."
    return ERROR_MESSAGES.get(error.code, "Não foi possível salvar. Confira os campos.")


# The system's own actors (usecases/delinquency.py, usecases/billing.py), by their recorded name.
SYSTEM_ACTORS = {"scheduler": "Agendador automático", "billing": "Sistema de cobrança", "aviso": "Página de aviso"}


def actor_label(actor: str) -> str:
    """'user:maria' → 'maria'; 'token:erp' → 'token erp'; 'scheduler' → 'Agendador automático'."""
    if actor in SYSTEM_ACTORS:
        return SYSTEM_ACTORS[actor]
    kind, _, name = actor.partition(":")
    if kind == "user" and name:
        return name
    if kind in ("token", "cli") and name:
        return f"{'token' if kind == 'token' else 'linha de comando'} {name}"
    return actor
