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
    "radius_disconnect": "o roteador",
    "radius_coa": "o roteador",
}
SESSION_EFFECTS = frozenset({"radius_disconnect", "radius_coa"})
RETRIED = re.compile(r"^retried by (?P<actor>\S+) at ")
# usecases.effects.maybe_delivered: a call cut off between being made and being recorded.
MAYBE_DELIVERED = re.compile(r"may have been delivered by attempt (?P<attempt>\d+)")


def effect_detail(effect, actor_label) -> str:
    """The hover text of one effect's line; "" when the state says it all."""
    state = effect.state
    if state == EffectState.DONE.value and effect.name in SESSION_EFFECTS:
        return f"{radius_note(effect.note or '')}."
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
    if name in SESSION_EFFECTS:
        return radius_note(MAYBE_DELIVERED_TAIL.sub("", text))
    if "_WEBHOOK_URL is not set" in text or "_WEBHOOK_SECRET is not set" in text:
        return f"a integração com {target} não está configurada"
    if status := re.search(r"\bHTTP (\d{3})\b", text):
        return f"{target} respondeu com erro HTTP {status[1]}"
    if "Timeout" in text:
        return f"{target} não respondeu a tempo"
    if "Connect" in text:
        return f"não foi possível conectar com {target}"
    return "erro inesperado (o detalhe técnico está em `ativa effects list --state failed`)"


# usecases.radius.packets.describe_result, phrase by phrase (English there: logs, API, CLI).
_KINDS = {"disconnect": "desconexão", "CoA": "mudança de velocidade (CoA)"}
_SESSION = r"\(session (?P<session>[^)]*)\)"
_RADIUS_PHRASES = [
    (
        re.compile(rf"^CoA NAK from (?P<router>\S+), disconnect ACK instead {_SESSION}$"),
        "o roteador {router} recusou a mudança de velocidade; desconexão confirmada (sessão {session})",
    ),
    (
        re.compile(rf"^(?P<kind>disconnect|CoA) ACK from (?P<router>\S+) {_SESSION}$"),
        "{Kind} confirmada pelo roteador {router} (sessão {session})",
    ),
    (
        re.compile(rf"^session not found at (?P<router>\S+) {_SESSION}$"),
        "sessão não encontrada no roteador {router} (sessão {session}): já tinha caído",
    ),
    (
        re.compile(rf"^(?P<kind>disconnect|CoA) NAK from (?P<router>\S+): (?P<cause>.*?) {_SESSION}$"),
        "o roteador {router} recusou a {kind} ({cause}) (sessão {session})",
    ),
    (
        re.compile(rf"^(?P<kind>disconnect|CoA) timeout: no answer from (?P<router>\S+) {_SESSION}$"),
        "o roteador {router} não respondeu à {kind} (sessão {session})",
    ),
    (
        re.compile(rf"^no router registered for (?P<router>\S+) {_SESSION}$"),
        "nenhum roteador cadastrado com o endereço {router} (sessão {session})",
    ),
    (
        re.compile(rf"^(?P<kind>disconnect|CoA) error for (?P<router>\S+): .* {_SESSION}$"),
        "erro ao enviar a {kind} ao roteador {router} (sessão {session})",
    ),
    (re.compile(r"^and (?P<count>\d+) more$"), "e mais {count}"),
]
_FAILED_COUNT = re.compile(r"^(?P<failed>\d+) of (?P<total>\d+) packets failed: ")
MAYBE_DELIVERED_TAIL = re.compile(r"; may have been delivered by attempt \d+.*$")
RADIUS_NOTES = {
    "no open session: nothing sent": "sem sessão aberta: nada enviado",
    "no packet sent": "nenhum pacote enviado",
}


def radius_note(note: str) -> str:
    """A session effect's note (or failure) in Portuguese, e.g. "Desconexão confirmada pelo
    roteador 10.0.0.1 (sessão 81a2)"."""
    if note in RADIUS_NOTES:
        return _capitalised(RADIUS_NOTES[note])
    prefix = ""
    if counted := _FAILED_COUNT.match(note):
        prefix = f"{counted['failed']} de {counted['total']} pacotes falharam: "
        note = note[counted.end() :]
    phrases = [_radius_phrase(phrase) for phrase in note.split("; ")]
    return _capitalised(prefix + "; ".join(phrases))


def _radius_phrase(phrase: str) -> str:
    for pattern, words in _RADIUS_PHRASES:
        if found := pattern.match(phrase):
            values = found.groupdict()
            kind = _KINDS.get(values.get("kind") or "", "")
            return words.format(**{**values, "kind": kind, "Kind": _capitalised(kind)})
    return "resposta inesperada do roteador (o detalhe técnico está em `ativa effects list`)"


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


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
    if "RADIUS is off" in note:
        return "o RADIUS está desligado (ATIVA_RADIUS_DATABASE_URL)"
    if "has no RADIUS login" in note:
        return "o serviço não tem login RADIUS"
    if "customer paid or is no longer active" in note:
        return "o cliente pagou ou não está mais ativo"
    return "não era necessário"
