"""GET /metrics: Prometheus text, computed from the database at scrape time."""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ..usecases.metrics import snapshot
from .auth import Principal, can_read

router = APIRouter(tags=["metrics"])


def _labelled(kind, name: str, documentation: str, labels: list[str], values: dict):
    """One family with a sample per key of `values` (a label value, or a tuple of them), sorted."""
    family = kind(name, documentation, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key) if isinstance(key, tuple) else [str(key)], value)
    return family


class _SnapshotCollector:
    def __init__(self, snap):
        self.snap = snap

    def collect(self):
        snap = self.snap
        yield _labelled(
            CounterMetricFamily,
            "ativa_transitions",
            "Customer transitions committed",
            ["event", "source"],
            snap.transitions,
        )
        yield _labelled(GaugeMetricFamily, "ativa_effects", "Outbox effects by state", ["name", "state"], snap.effects)
        yield _labelled(
            GaugeMetricFamily,
            "ativa_effect_latency_seconds",
            "Commit-to-done latency over the last 1000 completed effects",
            ["quantile"],
            snap.latency_quantiles,
        )
        yield GaugeMetricFamily(
            "ativa_relay_lag_seconds",
            "Age of the oldest due effect still pending and not running",
            value=snap.relay_lag_seconds,
        )
        yield GaugeMetricFamily(
            "ativa_scheduler_lease_seconds_left",
            "Until the scheduler's lease runs out; 0 when no scheduler holds it",
            value=snap.scheduler_lease_seconds_left,
        )
        yield GaugeMetricFamily(
            "ativa_workers_alive",
            "Worker processes heard from within three heartbeats",
            value=snap.workers_alive,
        )
        yield _labelled(
            CounterMetricFamily,
            "ativa_radius_packets",
            "CoA/Disconnect packets sent to routers, by outcome",
            ["kind", "outcome"],
            snap.radius_packets,
        )
        yield _labelled(
            GaugeMetricFamily,
            "ativa_customers_delinquency_stage",
            "Active customers at each stage of the collection ladder",
            ["stage"],
            snap.delinquency_stages,
        )
        yield _labelled(GaugeMetricFamily, "ativa_customers", "Customers by status", ["status"], snap.customers)
        yield GaugeMetricFamily(
            "ativa_cuts_frozen",
            "Whether a freeze of the automatic cuts holds now (1) or not (0)",
            value=1 if snap.cuts_frozen else 0,
        )
        yield _labelled(
            CounterMetricFamily,
            "ativa_freeze_changes",
            "Changes of the freeze of automatic cuts, by action",
            ["action"],
            snap.freeze_changes,
        )
        yield _labelled(
            GaugeMetricFamily,
            "ativa_freeze_alerts",
            "Changes of the freeze by the state of their ativa.freeze alert",
            ["state"],
            snap.freeze_alerts,
        )
        yield _labelled(
            GaugeMetricFamily,
            "ativa_payment_restore_seconds",
            "Payment event's arrival to services restored, over the last 1000 activations by payment of 7 days",
            ["quantile"],
            snap.payment_restore_quantiles,
        )


@router.get("/metrics", response_class=Response)
def metrics(request: Request, _: Principal = Depends(can_read)):
    with request.app.state.db.read() as session:
        snap = snapshot(session, request.app.state.settings)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SnapshotCollector(snap))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
