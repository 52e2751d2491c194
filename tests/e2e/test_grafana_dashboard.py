"""docs/grafana/ativa.json is importable (its data source an input) and every metric its panels
query is one a running Ativa exposes: a scrape of /metrics after some real work (a cut, a payment
that reactivates, effects carried out, the freeze switched, a RADIUS packet) must name each one, and
each label a panel groups by or matches on must be on that metric's samples, so a renamed or
dropped metric or label breaks this test."""

import json
import re
from decimal import Decimal
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from tests.conftest import add_invoice
from workflow.db.models import Invoice, OutboxEffect, RadiusPacket
from workflow.domain.vocabulary import Effect, EffectState, Role
from workflow.settings import Settings
from workflow.usecases import billing, effects, freeze

DASHBOARD = Path(__file__).parents[2] / "docs" / "grafana" / "ativa.json"
DATASOURCE = "${DS_PROMETHEUS}"
# PromQL's words that are not metric names: aggregation modifiers, and what follows `offset`/`bool`.
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or", "unless"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: label matchers, range and grouping lists,
    strings, numbers and function names stripped."""
    text = re.sub(r"\{[^}]*\}", " ", expr)  # label matchers (their values may look like names)
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range selectors, [5m]
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)  # label lists
    text = re.sub(r'"[^"]*"', " ", text)
    text = re.sub(r"\b[a-zA-Z_][a-zA-Z0-9_]*\s*\(", " ", text)  # functions and aggregations: sum(, rate(
    names = set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", text)) - KEYWORDS
    return {name for name in names if not re.fullmatch(r"\d+[a-z]*", name)}


# Labels Prometheus adds when it scrapes (the target's), never in the scrape itself.
TARGET_LABELS = {"job", "instance"}
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"


def _balanced(text: str, start: int) -> int:
    """The index just past the parenthesis group opening at text[start]."""
    depth = 0
    for n in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[n], 0)
        if depth == 0:
            return n + 1
    raise ValueError(f"unbalanced parentheses in {text!r}")


def _opening(text: str, end: int) -> int:
    """The index of the parenthesis that opens the group closing at text[end]."""
    depth = 0
    for n in range(end, -1, -1):
        depth += {")": 1, "(": -1}.get(text[n], 0)
        if depth == 0:
            return n
    raise ValueError(f"unbalanced parentheses in {text!r}")


def label_uses(expr: str) -> set[tuple[str, str]]:
    """(metric, label) for every label the expression needs on a metric: a matcher's label on its
    metric, and a `by (...)`/`without (...)` label on each metric the aggregation reads (its
    argument, written after the list or before it)."""
    uses = set()
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # matcher values may hold braces or parentheses
    for metric, matchers in re.findall(rf"({NAME})\s*\{{([^}}]*)\}}", text):
        uses |= {(metric, label) for label in re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!=|!~|=)", matchers)}
    for grouping in re.finditer(r"\b(?:by|without)\s*\(([^)]*)\)", text):
        after = text[grouping.end() :].lstrip()
        if after.startswith("("):
            start = grouping.end() + text[grouping.end() :].index("(")
            argument = text[start : _balanced(text, start)]
        else:  # `sum (x) by (label)`
            before = text[: grouping.start()].rstrip()
            argument = text[_opening(before, len(before) - 1) : len(before)]
        labels = {label.strip() for label in grouping.group(1).split(",") if label.strip()}
        uses |= {(metric, label) for metric in metric_names(argument) for label in labels}
    return uses


def exposed_labels(scrape: str) -> dict[str, set[str]]:
    """Each sample name of a scrape with the label names its samples carry."""
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(scrape):
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels)
    return labels


def exposed_names(scrape: str) -> set[str]:
    """Every sample name in a /metrics scrape, as Prometheus stores them: a counter's samples
    carry `_total`, a histogram's `_bucket`, `_sum` and `_count`."""
    return {sample.name for family in text_string_to_metric_families(scrape) for sample in family.samples}


def panels(dashboard: dict) -> list[dict]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))  # a collapsed row holds its panels
    return found


def test_the_expression_parser_finds_the_names():
    assert metric_names('sum by (event, source) (rate(ativa_transitions_total{source="api"}[5m]))') == {
        "ativa_transitions_total"
    }
    assert metric_names("histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m]))) / on(job) y offset 1h") == {
        "x_bucket",
        "y",
    }
    assert metric_names('ativa_effects{state="failed", name=~"ativa_.*"} > 0') == {"ativa_effects"}


def test_the_expression_parser_finds_the_labels_of_each_metric():
    assert label_uses('sum by (event, source) (rate(ativa_transitions_total{reason="x"}[5m]))') == {
        ("ativa_transitions_total", "event"),
        ("ativa_transitions_total", "source"),
        ("ativa_transitions_total", "reason"),
    }
    assert label_uses('sum(rate(a_total{k=~"x(y)"}[5m])) without (instance, le) / b') == {
        ("a_total", "k"),
        ("a_total", "instance"),
        ("a_total", "le"),
    }
    assert label_uses("histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m]))) / on(job) y") == {("x_bucket", "le")}


def test_the_dashboard_is_importable_with_the_data_source_as_an_input():
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    assert dashboard["__inputs"][0]["pluginId"] == "prometheus"
    assert dashboard["uid"] and dashboard["title"] and "id" not in dashboard  # a fresh import gets its own id
    ids = [panel["id"] for panel in panels(dashboard)]
    assert len(ids) == len(set(ids))
    for panel in panels(dashboard):
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"}
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == DATASOURCE
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == DATASOURCE and target["expr"].strip()


def seed_some_work(api) -> None:
    """A customer cut by hand and reactivated by a payment, the restore carried out, the freeze
    switched on and off, a CoA packet recorded: every family of /metrics gets samples."""
    cid = api.new_customer(0)["id"]
    invoice_id = add_invoice(api.db, cid, days_overdue=30, amount="80.00")
    assert api.post(f"/api/v1/customers/{cid}/inactivate", json={"reason": "delinquency"}).status_code == 200
    with api.db.read() as session:
        external_id = session.scalar(select(Invoice.external_id).where(Invoice.id == invoice_id))
    paid = billing.apply_event(
        api.db,
        billing.InvoiceEvent("msg-1", "invoice.paid", external_id, cid, None, Decimal("80.00"), None, None),
    )
    assert paid.reactivated
    with api.db.read() as session:
        restores = list(session.scalars(select(OutboxEffect.id).where(OutboxEffect.name == Effect.RESTORE_SERVICES)))
    effects.process_effects(api.db, restores, Settings(database_url=api.db.url), lambda d: None, lambda i, s: None)
    with api.db.read() as session:
        assert session.get(OutboxEffect, restores[0]).state == EffectState.DONE
    freeze.freeze_cuts(api.db, "teste do painel", None, "user:ana", "ui")
    freeze.lift_freeze(api.db, "user:ana", "ui")
    with api.db.write() as session:
        session.add(
            RadiusPacket(customer_id=cid, login="cliente0", router_address="192.0.2.1", kind="coa", outcome="ack")
        )


def test_every_metric_the_dashboard_queries_is_in_a_real_scrape(api):
    seed_some_work(api)
    response = api.get("/metrics", role=Role.VIEWER)
    assert response.status_code == 200
    exposed = exposed_names(response.text)
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    used: dict[str, str] = {}
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            for name in metric_names(target["expr"]):
                used[name] = panel["title"]
    assert len(used) >= 12
    missing = {name: title for name, title in used.items() if name not in exposed}
    assert not missing, f"panels query metrics /metrics does not expose: {missing}\nexposed: {sorted(exposed)}"
    labels = exposed_labels(response.text)
    unknown = {
        (metric, label, panel["title"])
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
        for metric, label in label_uses(target["expr"])
        if label not in labels.get(metric, set()) | TARGET_LABELS
    }
    assert not unknown, f"panels use labels the scraped samples do not carry: {sorted(unknown)}"
    # The series the issue asks the dashboard for are there.
    for name in (
        "ativa_transitions_total",
        "ativa_effects",
        "ativa_effect_latency_seconds",
        "ativa_relay_lag_seconds",
        "ativa_customers_delinquency_stage",
        "ativa_cuts_frozen",
        "ativa_freeze_changes_total",
        "ativa_freeze_alerts",
        "ativa_payment_restore_seconds",
        "ativa_workers_alive",
    ):
        assert name in used, name
