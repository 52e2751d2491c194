"""Painel (every signed-in role): the customers, the last days' cuts and reactivations, how fast a
payment restores services, the effects waiting or failed, the background processes and the freeze."""

from fastapi import APIRouter, Depends, Request

from ..db.types import utcnow
from ..domain import brazilian
from ..usecases import dashboard
from ..usecases.metrics import QUANTILES
from . import flash
from .auth import WebUser, signed_in_user
from .charts import Series, bar_chart, short_day
from .rendering import render

router = APIRouter(include_in_schema=False)
PAGE = "/painel"


def activity_charts(days: list[dashboard.DayActivity]):
    dates = [d.day for d in days]

    def values(kind: str) -> list[float]:
        return [d.counts[kind] for d in days]

    cuts = bar_chart(
        "Cortes por dia",
        dates,
        [
            Series("Automáticos", "s-auto", values(dashboard.AUTOMATIC_CUT)),
            Series("Manuais", "s-manual", values(dashboard.MANUAL_CUT)),
        ],
        numbers_id="numeros-cortes",
    )
    reactivations = bar_chart(
        "Reativações por dia",
        dates,
        [
            Series("Por pagamento", "s-payment", values(dashboard.PAYMENT_REACTIVATION)),
            Series("Outras", "s-other", values(dashboard.OTHER_REACTIVATION)),
        ],
        numbers_id="numeros-reativacoes",
    )
    return cuts, reactivations


def quantile(item: dashboard.DayLatency, q: float) -> str:
    return brazilian.duration(item.latencies.quantiles[q]) if item.latencies.count else "—"


def latency_chart(per_day: list[dashboard.DayLatency]):
    def tooltip(item: dashboard.DayLatency) -> str:
        found = item.latencies
        if not found.count:
            return f"{short_day(item.day)}: nenhum pagamento reativou cliente"
        p50, p90 = (brazilian.duration(found.quantiles[q]) for q in QUANTILES[:2])
        return f"{short_day(item.day)}: mediana {p50}; p90 {p90}; {brazilian.number(found.count)} pagamento(s)"

    return bar_chart(
        "Pagamento → serviços restabelecidos, mediana por dia",
        [item.day for item in per_day],
        [Series("Mediana", "s-latency", [item.latencies.quantiles.get(0.5, 0.0) for item in per_day])],
        axis_text=brazilian.duration,
        tooltips=[tooltip(item) for item in per_day],
        numbers_id="numeros-latencia",
        columns=[
            ("Pagamentos", [brazilian.number(item.latencies.count) for item in per_day]),
            *(
                (name, [quantile(item, q) for item in per_day])
                for name, q in (("Mediana", QUANTILES[0]), ("p90", QUANTILES[1]))
            ),
        ],
    )


@router.get(PAGE)
def painel(request: Request, user: WebUser = Depends(signed_in_user)):
    settings = request.app.state.settings
    with request.app.state.db.read() as session:
        board = dashboard.dashboard(session, settings.timezone, settings.worker_stale_seconds, utcnow())
    cuts, reactivations = activity_charts(board.days)
    response = render(
        request,
        "dashboard.html",
        user=user,
        board=board,
        cuts_chart=cuts,
        reactivations_chart=reactivations,
        latency_chart=latency_chart(board.restore_per_day),
        quantiles=QUANTILES,
        number=brazilian.number,
        duration=brazilian.duration,
        stage_names=brazilian.STAGE_NAMES,
        flash=flash.pending(request),
    )
    flash.consume(request, response)
    return response
