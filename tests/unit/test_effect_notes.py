"""The operator's hover text for an effect: Portuguese, and it keeps the doubt of a cut-off call."""

from types import SimpleNamespace

from workflow.usecases.effects import maybe_delivered
from workflow.web.effect_notes import effect_detail


def _effect(**fields):
    base = {"name": "notify_billing", "state": "skipped", "attempts": 2, "note": None, "last_error": None}
    return SimpleNamespace(**{**base, **fields})


def _actor(name):
    return name


def test_a_superseded_call_that_may_have_been_delivered_says_so():
    note = f"{maybe_delivered(1)}; not sent again: superseded by a newer transition"
    text = effect_detail(_effect(note=note), _actor)
    assert "tentativa 1 pode ter sido entregue" in text
    assert "uma mudança mais recente" in text
    assert "may have" not in text


def test_a_plain_superseded_call_has_no_doubt():
    text = effect_detail(_effect(note="superseded by a newer transition"), _actor)
    assert text == "Dispensado: uma mudança mais recente já tornou este efeito desnecessário."


def test_a_failure_after_a_cut_off_attempt_keeps_the_doubt():
    error = f"gave up after 8 attempt(s) (limit 8); last error: HTTP 503; {maybe_delivered(3)}"
    text = effect_detail(_effect(state="failed", attempts=8, last_error=error), _actor)
    assert "Falhou depois de 8 tentativa(s)" in text and "tentativa 3 pode ter sido entregue" in text


def _packets_note(*results) -> str:
    from workflow.usecases.radius.packets import packets_outcome

    return packets_outcome(list(results)).note


def _result(outcome, kind="disconnect", router="10.0.0.1", session="81a2", **fields):
    from workflow.usecases.radius.packets import PacketResult

    return PacketResult(router, kind, "ana", session, outcome, **fields)


def test_a_session_effect_done_shows_the_routers_answer_in_portuguese():
    acked = effect_detail(_effect(name="radius_disconnect", state="done", note=_packets_note(_result("ack"))), _actor)
    gone = _packets_note(_result("session_not_found", session="aa01"))
    fallback = _packets_note(_result("ack", fell_back_to_disconnect=True))
    coa = _packets_note(_result("ack", kind="coa"))

    assert acked == "Desconexão confirmada pelo roteador 10.0.0.1 (sessão 81a2)."
    assert effect_detail(_effect(name="radius_disconnect", state="done", note=gone), _actor) == (
        "Sessão não encontrada no roteador 10.0.0.1 (sessão aa01): já tinha caído."
    )
    assert "recusou a mudança de velocidade; desconexão confirmada" in effect_detail(
        _effect(name="radius_coa", state="done", note=fallback), _actor
    )
    assert effect_detail(_effect(name="radius_coa", state="done", note=coa), _actor).startswith(
        "Mudança de velocidade (CoA) confirmada pelo roteador 10.0.0.1"
    )
    nothing = effect_detail(
        _effect(name="radius_disconnect", state="done", note="no open session: nothing sent"), _actor
    )
    assert nothing == "Sem sessão aberta: nada enviado."


def test_a_session_effect_failure_names_the_router_and_the_cause_in_portuguese():
    error = _packets_note(
        _result("timeout", session="bb01"), _result("no_router", router="10.0.0.9", session="cc01"), _result("ack")
    )
    text = effect_detail(
        _effect(
            name="radius_disconnect",
            state="failed",
            attempts=3,
            last_error=f"gave up after 3 attempt(s) (limit 3); last error: {error}",
        ),
        _actor,
    )
    assert "2 de 3 pacotes falharam" in text
    assert "o roteador 10.0.0.1 não respondeu à desconexão (sessão bb01)" in text
    assert "nenhum roteador cadastrado com o endereço 10.0.0.9 (sessão cc01)" in text
    assert "timeout" not in text and "session" not in text
