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
