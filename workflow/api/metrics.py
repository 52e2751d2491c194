"""GET /metrics: Prometheus text, computed from the database at scrape time."""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ..usecases.metrics import snapshot
from .auth import Principal, can_read

router = APIRouter(tags=["metrics"])


class _SnapshotCollector:
    def __init__(self, snap):
        self.snap = snap

    def collect(self):
        transitions = CounterMetricFamily(
            "ativa_transitions", "Customer transitions committed", labels=["event", "source"]
        )
        for (event, source), count in sorted(self.snap.transitions.items()):
            transitions.add_metric([event, source], count)
        yield transitions
        effects = GaugeMetricFamily("ativa_effects", "Outbox effects by state", labels=["name", "state"])
        for (name, state), count in sorted(self.snap.effects.items()):
            effects.add_metric([name, state], count)
        yield effects
        latency = GaugeMetricFamily(
            "ativa_effect_latency_seconds",
            "Commit-to-done latency over the last 1000 completed effects",
            labels=["quantile"],
        )
        for q, value in sorted(self.snap.latency_quantiles.items()):
            latency.add_metric([str(q)], value)
        yield latency
        yield GaugeMetricFamily(
            "ativa_relay_lag_seconds",
            "Age of the oldest due effect still pending and not running",
            value=self.snap.relay_lag_seconds,
        )
        yield GaugeMetricFamily(
            "ativa_scheduler_lease_seconds_left",
            "Until the scheduler's lease runs out; 0 when no scheduler holds it",
            value=self.snap.scheduler_lease_seconds_left,
        )
        yield GaugeMetricFamily(
            "ativa_workers_alive",
            "Worker processes heard from within three heartbeats",
            value=self.snap.workers_alive,
        )
        packets = CounterMetricFamily(
            "ativa_radius_packets", "CoA/Disconnect packets sent to routers, by outcome", labels=["kind", "outcome"]
        )
        for (kind, outcome), count in sorted(self.snap.radius_packets.items()):
            packets.add_metric([kind, outcome], count)
        yield packets
        stages = GaugeMetricFamily(
            "ativa_customers_delinquency_stage",
            "Active customers at each stage of the collection ladder",
            labels=["stage"],
        )
        for stage, count in sorted(self.snap.delinquency_stages.items()):
            stages.add_metric([stage], count)
        yield stages
        customers = GaugeMetricFamily("ativa_customers", "Customers by status", labels=["status"])
        for status, count in sorted(self.snap.customers.items()):
            customers.add_metric([status], count)
        yield customers
        yield GaugeMetricFamily(
            "ativa_cuts_frozen",
            "Whether a freeze of the automatic cuts holds now (1) or not (0)",
            value=1 if self.snap.cuts_frozen else 0,
        )
        changes = CounterMetricFamily(
            "ativa_freeze_changes", "Changes of the freeze of automatic cuts, by action", labels=["action"]
        )
        for action, count in sorted(self.snap.freeze_changes.items()):
            changes.add_metric([action], count)
        yield changes
        alerts = GaugeMetricFamily(
            "ativa_freeze_alerts", "Changes of the freeze by the state of their ativa.freeze alert", labels=["state"]
        )
        for state, count in sorted(self.snap.freeze_alerts.items()):
            alerts.add_metric([state], count)
        yield alerts
        restore = GaugeMetricFamily(
            "ativa_payment_restore_seconds",
            "Payment event's arrival to services restored, over the last 1000 activations by payment of 7 days",
            labels=["quantile"],
        )
        for q, value in sorted(self.snap.payment_restore_quantiles.items()):
            restore.add_metric([str(q)], value)
        yield restore


@router.get("/metrics", response_class=Response)
def metrics(request: Request, _: Principal = Depends(can_read)):
    with request.app.state.db.read() as session:
        snap = snapshot(session, request.app.state.settings)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SnapshotCollector(snap))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
