"""The operator's words for bulk jobs: states, outcomes, what was selected, why a customer was not
changed (the machine's rule, in the words of the customer's Editar form)."""

from datetime import date

from ..domain import brazilian
from ..domain.bulk import BULK_REASONS, MAX_CUSTOMERS, BulkJobState, ItemOutcome, Match, PreviewOutcome
from ..domain.customer_list import MAX_LIST_BYTES, ListRefused, Refusal
from ..domain.vocabulary import CustomerEvent
from ..usecases.bulk import UNDO_CUTS
from . import labels

# The reasons the form offers, in the operator's words: those a job may give (domain.bulk).
REASONS: dict[str, dict[str, str]] = {
    CustomerEvent.INACTIVATE.value: {
        reason: text
        for reason, text in labels.INACTIVATION_REASONS.items()
        if reason in BULK_REASONS[CustomerEvent.INACTIVATE]
    },
    CustomerEvent.ACTIVATE.value: {
        reason: text
        for reason, text in labels.ACTIVATION_REASONS.items()
        if reason in BULK_REASONS[CustomerEvent.ACTIVATE]
    },
}
ACTIONS = {CustomerEvent.ACTIVATE.value: "Ativar", CustomerEvent.INACTIVATE.value: "Inativar"}
# The form's words for the actions (address-bar friendly) -> the machine's events.
ACTION_CHOICES = {"ativar": CustomerEvent.ACTIVATE.value, "inativar": CustomerEvent.INACTIVATE.value}
STATES = {
    BulkJobState.PREVIEW.value: "Prévia",
    BulkJobState.QUEUED.value: "Na fila",
    BulkJobState.RUNNING.value: "Em execução",
    BulkJobState.CANCELLED.value: "Cancelado",
    BulkJobState.DONE.value: "Concluído",
}
MATCHES = {
    Match.ID.value: "número do cliente no Ativa",
    Match.EXTERNAL_REF.value: "código (referência na cobrança)",
    Match.DOCUMENT.value: "CPF/CNPJ",
}
# Why an entry of the file names nobody, or cannot name anybody, by what the column holds.
UNKNOWN_ENTRY = {
    Match.ID.value: "Nenhum cliente tem este número.",
    Match.EXTERNAL_REF.value: "Nenhum cliente tem este código.",
    Match.DOCUMENT.value: "Nenhum cliente tem este CPF/CNPJ.",
}
INVALID_ENTRY = {
    Match.ID.value: "Não é um número de cliente (só algarismos, de 1 em diante).",
    Match.EXTERNAL_REF.value: "Código vazio, longo demais ou com caractere de controle.",
    Match.DOCUMENT.value: "Não é um CPF nem um CNPJ válido.",
}
PREVIEW_COUNTS = {
    PreviewOutcome.CHANGE.value: "Seriam alterados",
    PreviewOutcome.REFUSED.value: "Recusados",
    PreviewOutcome.UNCHANGED.value: "Já estão na situação pedida",
}
COUNTS = {
    ItemOutcome.DONE.value: "Alterados",
    ItemOutcome.REFUSED.value: "Recusados",
    ItemOutcome.UNCHANGED.value: "Sem mudança",
    ItemOutcome.SKIPPED.value: "Não executados",
    ItemOutcome.PENDING.value: "Aguardando",
}
_DONE = {CustomerEvent.ACTIVATE.value: "Ativado", CustomerEvent.INACTIVATE.value: "Inativado"}
_WOULD = {CustomerEvent.ACTIVATE.value: "Seria ativado", CustomerEvent.INACTIVATE.value: "Seria inativado"}
_ALREADY = {CustomerEvent.ACTIVATE.value: "Já está Ativo", CustomerEvent.INACTIVATE.value: "Já está Inativo"}
_FILTERS = (
    ("status", "Situação", labels.STATUS),
    ("inactivation_reason", "Motivo da inativação", labels.REASONS),
    ("source", "Origem da última mudança", labels.SOURCES),
    ("delinquency_stage", "Etapa da régua", {**labels.STAGES, "none": "Sem etapa"}),
)


def state_label(job) -> str:
    if job.state == BulkJobState.CANCELLED.value and job.confirmed_by is None:
        return "Descartado"  # a preview nobody ran
    return STATES.get(job.state, job.state)


def why_not(rule: str | None) -> str:
    """A refusal's rule in the words the customer's Editar form uses."""
    return labels.GUARD_MESSAGES.get(rule or "") or labels.ERROR_MESSAGES.get(
        rule or "", "Recusado pelas regras do cadastro."
    )


def preview_text(action: str, item) -> str:
    if item.preview == PreviewOutcome.CHANGE.value:
        return _WOULD.get(action, action)
    if item.preview == PreviewOutcome.UNCHANGED.value:
        return f"{_ALREADY.get(action, action)}: nada a fazer."
    return f"Recusado: {why_not(item.preview_rule)}"


def outcome_text(action: str, item) -> str:
    match item.outcome:
        case ItemOutcome.PENDING.value:
            return f"Aguardando ({preview_text(action, item).lower()})"
        case ItemOutcome.DONE.value:
            return _DONE.get(action, action)
        case ItemOutcome.UNCHANGED.value:
            return f"Sem mudança: {_ALREADY.get(action, action).lower()}."
        case ItemOutcome.SKIPPED.value:
            return "Não executado: o lote foi cancelado antes da parte deste cliente."
        case _:
            return f"Recusado: {why_not(item.rule)}"


def selection_text(selection: dict) -> str:
    """What the job was asked for: a list, a filter or the preset."""
    if selection.get("preset") == UNDO_CUTS:
        return f"Desfazer os cortes de {brazilian.day(date.fromisoformat(selection['date']))}"
    if "filter" in selection:
        parts = []
        for name, title, words in _FILTERS:
            value = selection["filter"].get(name)
            if value is not None:
                parts.append(f"{title}: {words.get(value, value)}")
        if selection["filter"].get("cut_date"):
            parts.append(f"Data do corte: {brazilian.day(date.fromisoformat(selection['filter']['cut_date']))}")
        return "Filtro — " + "; ".join(parts)
    count = selection.get("customers", 0)
    return f"Lista com {count} entrada(s), por {MATCHES.get(selection.get('match', ''), 'número')}"


def percent(progress) -> int:
    return 100 if not progress.total else progress.done * 100 // progress.total


# What the header's columns hold, in the words of the form's choices.
_HOLDS = dict(MATCHES)


def list_refusal(refused: ListRefused) -> str:
    """Why the uploaded file cannot be a list of customers, naming its line (nothing was created)."""
    line = f"A linha {refused.line}" if refused.line else "O arquivo"
    match refused.kind:
        case Refusal.TOO_LARGE:
            return (
                f"O arquivo tem {int(refused.detail) // 1024} KB; o limite é {MAX_LIST_BYTES // (1024 * 1024)} MB. "
                "Divida a lista em mais de um lote."
            )
        case Refusal.NOT_TEXT:
            return f"{line} tem um byte ({refused.detail}) que não é texto. Salve o arquivo como CSV UTF-8."
        case Refusal.CONTROL_CHARACTER:
            return f"{line} tem um caractere de controle ({refused.detail.split()[0]}). Não é um arquivo de texto?"
        case Refusal.EMPTY_CELL:
            return f"{line} tem a coluna de clientes vazia. Apague a linha ou preencha-a."
        case Refusal.TOO_MANY:
            return f"Um lote tem no máximo {MAX_CUSTOMERS:,} clientes.".replace(",", ".")
        case Refusal.SEVERAL_COLUMNS | Refusal.HEADER_CONTRADICTS_MATCH:
            named = ", ".join(_HOLDS.get(kind.strip(), kind) for kind in refused.detail.split(","))
            return (
                f"O cabeçalho ({line.lower()}) não tem uma coluna com o que foi escolhido em "
                f'"A primeira coluna traz"; ele indica {named}. Escolha o tipo certo ou corrija o cabeçalho.'
            )
        case _:
            return "O arquivo não tem nenhum cliente: a coluna de clientes está vazia em todas as linhas."
