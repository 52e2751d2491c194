"""What an effect's line says on hover, in Portuguese.

The outbox row keeps its note and last error in English for the logs, the API and the CLI
(`ativa effects list`); the operator reads the cause in their own words instead.
"""

import re

from ..domain.vocabulary import EffectState

TARGETS = {
    "notify_billing": "o sistema de cobrança",
    "warn_billing": "o sistema de cobrança",
    "provision_suspend": "o provisionamento",
    "provision_restore": "o provisionamento",
}
RETRIED = re.compile(r"^retried by (?P<actor>\S+) at ")
# usecases.effects.maybe_delivered: a call cut off between being made and being recorded.
MAYBE_DELIVERED = re.compile(r"may have been delivered by attempt (?P<attempt>\d+)")


def effect_detail(effect, actor_label) -> str:
    """The hover text of one effect's line; "" when the state says it all."""
    state = effect.state
    if state == EffectState.FAILED.value:
        return (
            f"Falhou depois de {effect.attempts} tentativa(s): {_cause(effect.name, effect.last_error)}. "
            f"O Ativa não tenta mais sozinho; um administrador pode usar Tentar de novo.{_doubt(effect.last_error)}"
        )
    if state == EffectState.SKIPPED.value:
        return f"Dispensado: {_why_skipped(effect.note or '')}."
    if state == EffectState.PENDING.value:
        retried = RETRIED.match(effect.note or "")
        asked = f"Nova tentativa pedida por {actor_label(retried['actor'])}. " if retried else ""
        if effect.last_error and effect.attempts:
            return (
                f"{asked}A tentativa {effect.attempts} não deu certo "
                f"({_cause(effect.name, effect.last_error)}); o Ativa tenta de novo sozinho."
            )
        return f"{asked}Aguardando um worker."
    return ""


def _cause(name: str, error: str | None) -> str:
    target = TARGETS.get(name, "o destino")
    text = (error or "").rsplit("last error: ", 1)[-1]
    if not text or text.startswith("gave up after"):
        return "o processo que executava o efeito parou no meio"
    if "_WEBHOOK_URL is not set" in text or "_WEBHOOK_SECRET is not set" in text:
        return f"a integração com {target} não está configurada"
    if status := re.search(r"\bHTTP (\d{3})\b", text):
        return f"{target} respondeu com erro HTTP {status[1]}"
    if "Timeout" in text:
        return f"{target} não respondeu a tempo"
    if "Connect" in text:
        return f"não foi possível conectar com {target}"
    return "erro inesperado (o detalhe técnico está em `ativa effects list --state failed`)"


def _doubt(text: str | None) -> str:
    """The warning that an earlier attempt may have reached the receiver, when the note has it."""
    found = MAYBE_DELIVERED.search(text or "")
    return (
        (f" A tentativa {found['attempt']} pode ter sido entregue (foi interrompida antes de registrar o resultado).")
        if found
        else ""
    )


def _why_skipped(note: str) -> str:
    if found := MAYBE_DELIVERED.match(note):
        rest = note.split("not sent again: ", 1)[-1]
        return (
            f"não foi enviado de novo porque {_why_skipped(rest)}; a tentativa {found['attempt']} "
            "pode ter sido entregue (foi interrompida antes de registrar o resultado)"
        )
    if note.startswith("superseded"):
        return "uma mudança mais recente já tornou este efeito desnecessário"
    if note.endswith("_WEBHOOK_URL is not set"):
        return "a integração não está configurada"
    if "customer paid or is no longer active" in note:
        return "o cliente pagou ou não está mais ativo"
    return "não era necessário"
