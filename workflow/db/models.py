"""The tables. History and outbox rows are append-only: written once per transition."""

from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from .types import Money, UTCDateTime, utcnow


class Base(DeclarativeBase):
    # Every model here maps one Table; SQLAlchemy declares the wider FromClause (a model may map a join).
    __table__: ClassVar[Table]


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (
        # The ladder's jobs look for the few customers on a step, or with a snooze to end.
        Index(
            "ix_customers_ladder",
            "delinquency_stage",
            postgresql_where=text("delinquency_stage <> 'none'"),
            sqlite_where=text("delinquency_stage <> 'none'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    document: Mapped[str] = mapped_column(String(14), unique=True)
    document_type: Mapped[str] = mapped_column(String(4))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    external_ref: Mapped[str | None] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    inactivation_reason: Mapped[str | None] = mapped_column(String(40))
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    invoicing_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    auto_block_exempt: Mapped[bool] = mapped_column(Boolean, default=False)  # the sweep skips it
    trust_unlock_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    trust_unlocks_used: Mapped[int] = mapped_column(Integer, default=0)
    return_on: Mapped[date | None] = mapped_column(Date, index=True)
    # A forced activation's hold: no automatic cut through this date (provider's business date).
    forced_hold_until: Mapped[date | None] = mapped_column(Date)
    # The due date of the oldest overdue invoice a warning was sent for: one warning per episode.
    warned_for_due: Mapped[date | None] = mapped_column(Date)
    # The collection ladder's step while active (none, notice, reduced), and an acknowledged
    # notice's end: the login is off the notice list until then.
    delinquency_stage: Mapped[str] = mapped_column(String(20), default="none", server_default="none")
    notice_snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    services: Mapped[list["Service"]] = relationship(back_populates="customer", lazy="raise")


class Service(Base):
    __tablename__ = "services"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    external_ref: Mapped[str | None] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(20))
    suspension_cause: Mapped[str | None] = mapped_column(String(40))
    suspension_note: Mapped[str | None] = mapped_column(Text)
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The PPPoE/IPoE user name FreeRADIUS authenticates (unique in any letter case, kept by a
    # cancelled service too), its password (plaintext: CHAP and MS-CHAP need it; never shown) and plan.
    login: Mapped[str | None] = mapped_column(String(64))
    login_key: Mapped[str | None] = mapped_column(String(64), unique=True)  # lower(login): one holder in any case
    radius_password: Mapped[str | None] = mapped_column(String(128))
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    customer: Mapped[Customer] = relationship(back_populates="services", lazy="raise")


class Plan(Base):
    """A speed plan: its FreeRADIUS group gives the rates to every login on it."""

    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100), unique=True)  # lower(name): names differ in any case
    download_kbps: Mapped[int] = mapped_column(Integer)
    upload_kbps: Mapped[int] = mapped_column(Integer)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # no new service gets it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Router(Base):
    """A concentrator (NAS) that authenticates logins and takes CoA/Disconnect requests. Not named
    `nas`: FreeRADIUS's own table of that name may live in the same database."""

    __tablename__ = "routers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    address: Mapped[str] = mapped_column(String(45), unique=True)  # normalised IP; sessions are matched on it
    secret: Mapped[str] = mapped_column(String(128))  # signs its packets; never shown
    coa_port: Mapped[int] = mapped_column(Integer, default=3799)
    vendor: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RadiusPacket(Base):
    """One CoA/Disconnect sent to a router and how it ended: the history and /metrics read it."""

    __tablename__ = "radius_packets"
    __table_args__ = (Index("ix_radius_packets_service_id", "service_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    effect_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_effects.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"))
    login: Mapped[str] = mapped_column(String(64))
    router_address: Mapped[str] = mapped_column(String(45))
    kind: Mapped[str] = mapped_column(String(20))  # disconnect | coa
    outcome: Mapped[str] = mapped_column(String(20))  # ack | nak | session_not_found | timeout | no_router | error
    acct_session_id: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Invoice(Base):
    """Mirror of the billing system's invoices; the guards read it."""

    __tablename__ = "invoices"
    __table_args__ = (Index("ix_invoices_customer_status_due", "customer_id", "status", "due_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(100), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    # Unknown until invoice.created arrives (a payment may come first).
    amount: Mapped[Decimal | None] = mapped_column(Money())
    amount_paid: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    due_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StatusChange(Base):
    """One row per customer transition: who, when, why, from where."""

    __tablename__ = "status_changes"
    __table_args__ = (
        UniqueConstraint("customer_id", "customer_version", name="uq_status_changes_version"),
        # The dashboard counts the last days' cuts and reactivations.
        Index("ix_status_changes_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    customer_version: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(20))
    from_status: Mapped[str] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    hold_until: Mapped[date | None] = mapped_column(Date)  # the hold a forced activation set
    delinquency_stage: Mapped[str | None] = mapped_column(String(20))  # the stage a ladder change led to
    actor: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The bulk job this change was part of (its number is shown in the history).
    bulk_job_id: Mapped[int | None] = mapped_column(ForeignKey("bulk_jobs.id", name="fk_status_changes_bulk_job"))

    effects: Mapped[list["OutboxEffect"]] = relationship(
        back_populates="transition", lazy="raise", order_by="OutboxEffect.id"
    )


class OutboxEffect(Base):
    """An effect to carry out after commit; a worker claims it, runs it and records the outcome."""

    __tablename__ = "outbox_effects"
    __table_args__ = (
        Index("ix_outbox_effects_state_id", "state", "id"),
        Index("ix_outbox_effects_state_next_attempt", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Null for effects the reconciler or another effect created (no transition of their own).
    transition_id: Mapped[int | None] = mapped_column(ForeignKey("status_changes.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"))
    origin: Mapped[str] = mapped_column(String(20), default="transition")
    name: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # last relayed at
    # The relay backs off per effect (grace, 2×, 4×… up to 5 min): one waiting behind a long queue
    # is not lost, and re-queueing it every few seconds would only lengthen the queue.
    relay_count: Mapped[int] = mapped_column(Integer, default=0)
    relay_after: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The worker process holding the claim ("host:pid"): once it is dead (WorkerHeartbeat) the
    # claim is taken over at once instead of waiting for claimed_until.
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    # The last attempt whose claim was taken over unsettled: it may have made its call.
    unsettled_attempt: Mapped[int | None] = mapped_column(Integer)

    transition: Mapped[StatusChange | None] = relationship(back_populates="effects", lazy="raise")


class SchedulerLease(Base):
    """Who may run the periodic jobs now: one row per job family, held by one process at a time."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WorkerHeartbeat(Base):
    """One row per worker process (main and pool processes), written every few seconds while it
    lives: a claim whose owner went silent is taken over, and /readyz counts the live ones."""

    __tablename__ = "worker_heartbeats"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)  # "host:pid", as claimed_by
    hostname: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(20))  # "worker" (main process) | "pool"
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())


class BillingEvent(Base):
    """Inbound billing events, deduplicated by their webhook-id in the transaction they cause."""

    __tablename__ = "billing_events"
    # The payment-silence rule counts the payments of some hours, week after week.
    __table_args__ = (Index("ix_billing_events_type_received_at", "type", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    invoice_external_id: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(Text)
    # When the event arrived (before it was applied), and the transition it caused if any: the
    # dashboard measures a payment's time to restored services from these two.
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    transition_id: Mapped[int | None] = mapped_column(ForeignKey("status_changes.id"), index=True)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IdempotencyRecord(Base):
    """First response to a POST carrying an Idempotency-Key, replayed on retries."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("token_id", "key", name="uq_idempotency_token_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id"))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class OperatorUser(Base):
    """A person who signs in to the web UI (API clients use tokens instead)."""

    __tablename__ = "operator_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id, parameters included
    role: Mapped[str] = mapped_column(String(20))
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WebSession(Base):
    """A signed-in browser. Server-side, so logout and disabling a user end it at once; the
    cookie carries a random id whose SHA-256 is stored here."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("operator_users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class LoginThrottle(Base):
    """Failed sign-ins per username and per client address, shared by every API process."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)  # "user:maria", "addr:10.0.0.7"
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failure_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CutFreeze(Base):
    """The freeze of automatic cuts: one row (id 1), locked by whoever changes it and shared by
    every automatic cut's transaction, so a cut batch either ends before a freeze is recorded or
    sees it."""

    __tablename__ = "cut_freeze"

    id: Mapped[int] = mapped_column(primary_key=True)
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    until: Mapped[date | None] = mapped_column(Date)  # the last day it holds (provider's date); None: until lifted
    since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    actor: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(String(20))
    change_id: Mapped[int | None] = mapped_column(Integer)  # the freeze_changes row that set it


class FreezeChange(Base):
    """Every change of the freeze (who, when, why), and its `ativa.freeze` alert to billing, sent
    by the workers with retries (alert_state pending -> done | failed)."""

    __tablename__ = "freeze_changes"
    __table_args__ = (Index("ix_freeze_changes_alert", "alert_state", "next_alert_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    action: Mapped[str] = mapped_column(String(20))  # FreezeAction
    reason: Mapped[str | None] = mapped_column(Text)
    until: Mapped[date | None] = mapped_column(Date)
    detail: Mapped[str | None] = mapped_column(Text)  # what tripped it: the payment counts seen
    actor: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    alert_state: Mapped[str] = mapped_column(String(20), default="pending")  # pending | done | failed | skipped
    alert_attempts: Mapped[int] = mapped_column(Integer, default=0)
    alert_error: Mapped[str | None] = mapped_column(Text)
    next_alert_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class BulkJob(Base):
    """A bulk activation or inactivation: what was asked (`selection`, as given), previewed first
    (state preview), then confirmed (queued) and run by the workers a batch at a time (running ->
    done), or cancelled between batches."""

    __tablename__ = "bulk_jobs"
    __table_args__ = (Index("ix_bulk_jobs_state", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    action: Mapped[str] = mapped_column(String(20))  # activate | inactivate
    reason: Mapped[str] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    force: Mapped[bool] = mapped_column(Boolean, default=False)
    selection: Mapped[dict] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(20))  # BulkJobState
    source: Mapped[str] = mapped_column(String(20))  # where it was asked (api, cli, ui)
    created_by: Mapped[str] = mapped_column(String(200))
    actor_role: Mapped[str] = mapped_column(String(20))  # the role the machine weighs force with
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    confirmed_by: Mapped[str | None] = mapped_column(String(200))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_by: Mapped[str | None] = mapped_column(String(200))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    batch_size: Mapped[int] = mapped_column(Integer)
    batches: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the batches last handed out


class BulkJobItem(Base):
    """One customer of a bulk job: the preview's answer, then the run's outcome (pending until its
    batch runs; done, refused, unchanged or skipped), written in the batch's transaction."""

    __tablename__ = "bulk_job_items"
    __table_args__ = (
        UniqueConstraint("job_id", "customer_id", name="uq_bulk_job_items_customer"),
        # A batch's pending items, what is left to run, whether anything is: by job and outcome.
        Index("ix_bulk_job_items_outcome", "job_id", "outcome", "batch"),
        Index("ix_bulk_job_items_position", "job_id", "position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("bulk_jobs.id"))
    position: Mapped[int] = mapped_column(Integer)  # in the selection as given (1-based), or in id order
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    given: Mapped[str | None] = mapped_column(String(200))  # the entry as given (a list's id, ref, document)
    batch: Mapped[int] = mapped_column(Integer)
    preview: Mapped[str] = mapped_column(String(20))  # change | refused | unchanged
    preview_rule: Mapped[str | None] = mapped_column(String(60))
    preview_detail: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(20))  # BulkOutcome
    rule: Mapped[str | None] = mapped_column(String(60))
    detail: Mapped[str | None] = mapped_column(Text)
    transition_id: Mapped[int | None] = mapped_column(ForeignKey("status_changes.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
