"""The one configuration object; every variable is prefixed ATIVA_ (see README)."""

import re
from decimal import Decimal
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .domain.delinquency import Ladder
from .domain.limits import forbidden_character

IPNetwork = IPv4Network | IPv6Network
WorkerPool = Literal["prefork", "threads", "solo"]
WORKER_CONCURRENCY_MAX = 1000  # a sanity bound: a typo must not fork thousands of processes


BATCH_EVENT_BYTES = 2048
CALLS_IN_FLIGHT_MAX = 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATIVA_", extra="ignore")

    data_dir: Path = Field(Path("./var"), description="Folder for the embedded SQLite database.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite:///<data_dir>/ativa.db.")
    timezone: str = Field("America/Sao_Paulo", description="Provider time zone: decides when an invoice is past due.")
    host: str = Field("127.0.0.1", description="Address `ativa serve` listens on.")
    port: int = Field(8000, description="Port `ativa serve` listens on.")
    access_log: bool = Field(True, description="`ativa serve` logs one line per request (uvicorn's access log).")
    max_body_bytes: int = Field(65536, description="Largest accepted request body.")
    idempotency_ttl_hours: int = Field(24, description="How long an Idempotency-Key replays its first response.")

    billing_inbound_secret: SecretStr | None = Field(
        None,
        description="Standard Webhooks secret(s) (whsec_…, comma-separated during a rotation) that "
        "inbound billing events must be signed with; unset: every event is refused.",
    )

    # -- web UI -------------------------------------------------------------------------------
    session_hours: float = Field(12, gt=0, le=24 * 30, description="A web sign-in lasts this long.")
    cookie_secure: bool = Field(
        False, description="Send the session cookie over HTTPS only (set it behind a TLS proxy)."
    )
    login_max_failures: int = Field(5, ge=1, description="Failed sign-ins (per user and per address) before a lockout.")
    login_lockout_seconds: int = Field(300, ge=1, description="How long a lockout lasts.")

    # -- delinquency --------------------------------------------------------------------------
    grace_days: int = Field(15, ge=0, description="Days past the oldest open invoice's due date before a cut.")
    min_overdue_amount: Decimal = Field(
        Decimal("0.01"), ge=0, description="Smallest overdue total that gets a customer cut."
    )
    no_cut_weekdays: str = Field(
        "sat,sun", description="Weekdays without cuts, e.g. fri,sat,sun (national holidays never cut)."
    )
    holiday_subdivision: str | None = Field(
        None, description="Also skip this state's holidays, e.g. SP (holidays package codes)."
    )
    warning_days: int = Field(5, ge=0, description="Days before the projected cut that the warning goes out.")
    trust_unlock_max_days: int = Field(3, ge=1, le=30, description="Longest trust unlock.")
    trust_unlock_uses_per_episode: int = Field(
        1, ge=0, description="Trust unlocks per delinquency episode (until the debt is paid)."
    )
    forced_activation_hold_days: int = Field(
        10,
        ge=0,
        description="A forced activation's default hold: no automatic cut for this many days "
        "(0: no hold unless the operator gives a date).",
    )
    notice_after_days: int | None = Field(
        None, ge=0, description="Days past due before the notice stage (aviso); unset: no notice stage."
    )
    reduce_after_days: int | None = Field(
        None, ge=0, description="Days past due before the speed is reduced; unset: no reduction."
    )
    reduced_rate_percent: int | None = Field(
        None, description="The reduced speed as a percentage (1-99) of the plan's rates; default 50."
    )
    reduced_rate_kbps: int | None = Field(
        None, ge=1, description="The reduced speed as a fixed rate in kbps instead (never above the plan's)."
    )
    notice_snooze_hours: int = Field(
        24, ge=1, le=720, description="How long 'Continuar navegando' on the notice page takes a login off the list."
    )
    payment_silence_hours: int = Field(
        24,
        ge=0,
        description="Business hours without a payment (invoice.paid) after which the sweep freezes "
        "the automatic cuts, when the same hours of each of the previous four weeks brought "
        "ATIVA_PAYMENT_SILENCE_MIN_EVENTS; 0: never.",
    )
    payment_silence_min_events: int = Field(
        20, ge=1, description="Payments those hours must have brought in each previous week for a silence to count."
    )
    business_hours: str = Field(
        "00-24",
        description="The payment-silence rule's business hours on weekdays that are not holidays, "
        "provider time (HH-HH); the whole day by default.",
    )
    sweep_local_time: str = Field("07:00", description="When the daily sweep runs, provider time (HH:MM).")
    sweep_batch_size: int = Field(200, ge=1, le=5000, description="Customers per sweep task.")
    bulk_max_body_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, description="Largest accepted body of a new bulk job (its list of customers)."
    )
    billing_batch_max: int = Field(
        1000, ge=1, le=10000, description="Most events accepted in one POST /api/v1/billing/events/batch."
    )
    bulk_stall_seconds: int = Field(
        300,
        ge=10,
        le=86400,
        description="A running bulk job with no progress for this long has its pending batches queued again.",
    )

    @property
    def billing_inbound_secrets(self) -> list[str]:
        """The inbound billing secrets, comma-separated while one rotates; the first signs."""
        secret = self.billing_inbound_secret
        return [s.strip() for s in (secret.get_secret_value() if secret else "").split(",") if s.strip()]

    @property
    def billing_batch_max_body_bytes(self) -> int:
        """The batch endpoint's body limit: room for its most events at their largest (each
        event's texts are bounded; 2 KiB leaves room for the fields a billing system adds)."""
        return max(self.max_body_bytes, self.billing_batch_max * BATCH_EVENT_BYTES)

    @field_validator("no_cut_weekdays")
    @classmethod
    def _known_weekdays(cls, value: str) -> str:
        from .domain.delinquency import parse_weekdays

        parse_weekdays(value)
        return value

    @field_validator("forced_activation_hold_days")
    @classmethod
    def _hold_within_the_maximum(cls, value: int) -> int:
        from .domain.delinquency import FORCED_HOLD_MAX_DAYS

        if value > FORCED_HOLD_MAX_DAYS:
            raise ValueError(f"must be at most {FORCED_HOLD_MAX_DAYS} (the longest hold)")
        return value

    @field_validator("business_hours")
    @classmethod
    def _hour_span(cls, value: str) -> str:
        opens, _, closes = value.partition("-")
        if not (opens.isdigit() and closes.isdigit() and 0 <= int(opens) < int(closes) <= 24):
            raise ValueError(f"{value!r} is not a span of hours like 08-18")
        return value

    @property
    def business_hours_span(self) -> tuple[int, int]:
        opens, _, closes = self.business_hours.partition("-")
        return int(opens), int(closes)

    @model_validator(mode="after")
    def _silence_within_a_week(self) -> "Settings":
        # A longer window would overlap the earlier weeks it is compared with.
        opens, closes = self.business_hours_span
        week = 5 * (closes - opens)
        if self.payment_silence_hours > week:
            raise ValueError(
                f"ATIVA_PAYMENT_SILENCE_HOURS ({self.payment_silence_hours}) must be at most one week of "
                f"business hours ({week} with ATIVA_BUSINESS_HOURS={self.business_hours})"
            )
        return self

    @field_validator("sweep_local_time")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        hour, _, minute = value.partition(":")
        if not (hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60):
            raise ValueError(f"{value!r} is not a time of day like 07:00")
        return value

    # -- effects pipeline ---------------------------------------------------------------------
    broker_url: str | None = Field(
        None, description="Celery broker, e.g. redis://127.0.0.1:6379/0; default: a folder broker."
    )
    worker_concurrency: int = Field(
        4, ge=1, le=WORKER_CONCURRENCY_MAX, description="Effect tasks one worker runs at once."
    )
    worker_pool: WorkerPool = Field("prefork", description="Celery pool: prefork, threads or solo.")
    billing_webhook_url: str | None = Field(None, description="Where customer events are POSTed.")
    billing_webhook_secret: SecretStr | None = Field(
        None, description="Standard Webhooks secret (whsec_…) signing billing notifications."
    )
    provisioning_webhook_url: str | None = Field(
        None, description="Where service suspensions and restorations are POSTed."
    )
    provisioning_webhook_secret: SecretStr | None = Field(
        None, description="Standard Webhooks secret (whsec_…) signing provisioning calls."
    )
    webhook_timeout_seconds: float = Field(10.0, description="Timeout of one outbound call.")
    webhook_concurrency: int = Field(
        16, ge=1, le=256, description="Webhook calls of one message a worker process makes at once."
    )
    effect_retry_schedule: str = Field(
        "0,5s,5m,30m,2h,5h,10h,10h",
        description="Delay before each attempt of an outbound call (jittered); its length is the "
        "number of attempts. Units s, m, h, d; a bare number is seconds.",
    )
    effect_max_attempts: int | None = Field(
        None, ge=1, description="Attempts before an effect is `failed`; default: the schedule's length."
    )
    effect_claim_seconds: float = Field(
        60.0, description="How long a worker owns a running effect before others may take it over."
    )
    relay_interval_seconds: float = Field(2.0, description="How often the relay looks for stuck effects.")
    relay_grace_seconds: float = Field(5.0, description="Age after which a pending effect is published again.")
    timers_interval_seconds: float = Field(
        30.0, description="How often ended trust unlocks and due returns are looked for."
    )
    reconcile_interval_seconds: float = Field(300.0, description="How often drift is repaired.")
    scheduler_lease_seconds: float = Field(15.0, description="Lease that lets only one scheduler run periodic jobs.")
    worker_heartbeat_seconds: float = Field(
        5.0,
        gt=0,
        description="How often each worker process records that it is alive; one silent "
        "for 3 beats is dead, and its running effects are taken over.",
    )
    ready_max_relay_lag_seconds: float = Field(
        120.0, gt=0, description="/readyz fails when a due effect has waited longer than this."
    )

    # -- RADIUS (network enforcement; docs/radius.md) -------------------------------------------
    radius_database_url: str | None = Field(
        None,
        description="PostgreSQL database holding FreeRADIUS's tables; default: the main database when "
        "it is PostgreSQL (RADIUS is off on SQLite unless set); `off` turns RADIUS off.",
    )
    radius_block_mode: Literal["address_list", "reject"] = Field(
        "address_list",
        description="How a suspended login is blocked: `address_list` (the router redirects it to a "
        "notice page) or `reject` (its logins are refused).",
    )
    radius_blocked_address_list: str = Field(
        "ativa_bloqueados",
        min_length=1,
        max_length=63,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="MikroTik address list a blocked login is put in (address_list mode).",
    )
    radius_notice_address_list: str = Field(
        "ativa_aviso",
        min_length=1,
        max_length=63,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="MikroTik address list a login at the notice stage is put in (the router sends it to /aviso).",
    )
    # -- the public notice page /aviso ----------------------------------------------------------
    notice_client_ip_header: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9-]+$",
        description="Header a reverse proxy gives the visitor's address in (X-Forwarded-For or X-Real-IP), read "
        "only from ATIVA_NOTICE_TRUSTED_PROXIES; unset: /aviso uses the connection's address.",
    )
    notice_trusted_proxies: str = Field(
        "",
        max_length=4000,
        description="Comma-separated addresses or CIDR networks of the reverse proxies whose "
        "ATIVA_NOTICE_CLIENT_IP_HEADER /aviso believes.",
    )
    notice_payment_text: str | None = Field(
        None,
        max_length=2000,
        description="How to pay, shown on /aviso as plain text (e.g. the PIX key or the app to use).",
    )
    notice_payment_url: str | None = Field(
        None, max_length=2000, description="A link to pay or get the invoice (http or https), shown on /aviso."
    )
    notice_hosts: str = Field(
        "",
        max_length=2000,
        description="Comma-separated host names /aviso is served under (e.g. aviso.provedor.com.br); any other "
        "Host gets the neutral page, and the acknowledgement's Origin/Referer must be one of them; unset: any Host.",
    )
    notice_rate_per_minute: int = Field(
        30, ge=1, le=10000, description="Requests to /aviso one visitor address may make per minute (then 429)."
    )

    @field_validator("notice_trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    @field_validator("notice_hosts")
    @classmethod
    def _host_names(cls, value: str) -> str:
        parse_hosts(value)
        return value

    @model_validator(mode="after")
    def _bounded_calls_in_flight(self) -> "Settings":
        # A threads pool runs each task's calls side by side in one process: a thread and a
        # connection per call in flight.
        if self.worker_pool == "threads" and self.webhook_concurrency * self.worker_concurrency > CALLS_IN_FLIGHT_MAX:
            raise ValueError(
                f"ATIVA_WEBHOOK_CONCURRENCY × ATIVA_WORKER_CONCURRENCY must be at most {CALLS_IN_FLIGHT_MAX} "
                "with ATIVA_WORKER_POOL=threads (each call in flight is a thread and a connection)"
            )
        return self

    @model_validator(mode="after")
    def _header_needs_proxies(self) -> "Settings":
        if self.notice_client_ip_header and not self.notice_proxies:
            raise ValueError(
                "ATIVA_NOTICE_CLIENT_IP_HEADER is set but ATIVA_NOTICE_TRUSTED_PROXIES is empty: "
                "list the reverse proxies whose header /aviso may believe, or unset the header"
            )
        return self

    @field_validator("notice_payment_url")
    @classmethod
    def _http_link(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname or forbidden_character(value):
            raise ValueError(f"{value[:80]!r} is not an http:// or https:// link")
        return value

    @field_validator("notice_payment_text")
    @classmethod
    def _printable_text(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        bad = forbidden_character(value, multiline=True)
        if bad:
            raise ValueError(f"has a control character or a lone surrogate ({bad})")
        return value.strip()

    @property
    def notice_host_names(self) -> frozenset[str]:
        return parse_hosts(self.notice_hosts)

    @property
    def notice_proxies(self) -> tuple[IPNetwork, ...]:
        return parse_networks(self.notice_trusted_proxies)

    radius_timeout_seconds: float = Field(
        2.0, gt=0, le=30, description="How long to wait for a router's answer to a CoA/Disconnect."
    )
    radius_tries: int = Field(3, ge=1, le=10, description="Sends of one CoA/Disconnect before it counts as unanswered.")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as America/Sao_Paulo)") from None
        return value

    @field_validator("effect_retry_schedule")
    @classmethod
    def _readable_schedule(cls, value: str) -> str:
        parse_schedule(value)
        return value

    @model_validator(mode="after")
    def _attempts_from_schedule(self) -> "Settings":
        if self.effect_max_attempts is None:
            self.effect_max_attempts = len(self.retry_delays)
        return self

    @property
    def attempt_limit(self) -> int:
        """effect_max_attempts, which _attempts_from_schedule fills in when it is not set."""
        return self.effect_max_attempts if self.effect_max_attempts is not None else len(self.retry_delays)

    @property
    def retry_delays(self) -> list[float]:
        """Seconds to wait before each attempt (the first is usually 0: at once)."""
        return parse_schedule(self.effect_retry_schedule)

    @property
    def worker_stale_seconds(self) -> float:
        """A worker process silent this long is dead (three missed heartbeats)."""
        return 3 * self.worker_heartbeat_seconds

    @model_validator(mode="after")
    def _claim_outlasts_a_call(self) -> "Settings":
        # httpx applies the timeout per phase (connect, write, read): a call may take several.
        if self.effect_claim_seconds <= self.longest_call_seconds:
            raise ValueError(
                "ATIVA_EFFECT_CLAIM_SECONDS must exceed 4 × ATIVA_WEBHOOK_TIMEOUT_SECONDS and 2 × "
                "ATIVA_RADIUS_TIMEOUT_SECONDS × ATIVA_RADIUS_TRIES, or a slow call could outlive its "
                "claim and run twice"
            )
        return self

    @property
    def longest_call_seconds(self) -> float:
        """The longest one outbound call may take: httpx applies its timeout per phase (connect,
        write, read); a CoA that falls back to a Disconnect waits for two answers."""
        return max(4 * self.webhook_timeout_seconds, 2 * self.radius_timeout_seconds * self.radius_tries)

    @model_validator(mode="after")
    def _ladder_before_the_cut(self) -> "Settings":
        if self.reduced_rate_percent is not None and self.reduced_rate_kbps is not None:
            raise ValueError("set ATIVA_REDUCED_RATE_PERCENT or ATIVA_REDUCED_RATE_KBPS, not both")
        problems = self.ladder.problems(self.grace_days)
        if problems:
            raise ValueError(
                "the collection ladder (ATIVA_NOTICE_AFTER_DAYS, ATIVA_REDUCE_AFTER_DAYS, "
                f"ATIVA_REDUCED_RATE_PERCENT, ATIVA_GRACE_DAYS) is wrong: {'; '.join(problems)}"
            )
        return self

    @property
    def ladder(self) -> Ladder:
        return Ladder(
            self.notice_after_days,
            self.reduce_after_days,
            50 if self.reduced_rate_percent is None else self.reduced_rate_percent,
            self.reduced_rate_kbps,
        )

    @model_validator(mode="after")
    def _radius_database_is_postgresql(self) -> "Settings":
        url = (self.radius_database_url or "").strip()
        if url and url.lower() != "off" and not url.startswith("postgresql"):
            raise ValueError("ATIVA_RADIUS_DATABASE_URL must be a PostgreSQL URL (FreeRADIUS's schema), or `off`")
        return self

    @property
    def resolved_broker_url(self) -> str:
        return self.broker_url or "filesystem://"

    @property
    def broker_folder(self) -> Path:
        return (self.data_dir / "broker").resolve()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'ativa.db').resolve()}"

    @property
    def is_embedded_database(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_schedule(text: str) -> list[float]:
    """ "0,5s,5m,2h" -> [0, 5, 300, 7200]."""
    delays = []
    for entry in (part.strip().lower() for part in text.split(",")):
        number, unit = (entry[:-1], entry[-1]) if entry[-1:] in _UNITS else (entry, "s")
        try:
            seconds = float(number) * _UNITS[unit]
        except ValueError:
            raise ValueError(f"{entry!r} is not a delay like 0, 5s, 5m, 2h or 1d") from None
        if not 0 <= seconds < float("inf"):
            raise ValueError(f"{entry!r} is not a delay like 0, 5s, 5m, 2h or 1d")
        delays.append(seconds)
    return delays


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """ "10.0.0.1, 192.168.0.0/24, ::1" -> the networks (a bare address is a network of one)."""
    networks = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry[:60]!r} is not an IP address or CIDR network") from None
    return tuple(networks)


_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def parse_hosts(text: str) -> frozenset[str]:
    """ "aviso.provedor.com.br, 203.0.113.30:8080" -> the host names, lower case (a port kept: a
    browser's Host and Origin carry it when it is not the scheme's default)."""
    hosts = set()
    for entry in (part.strip().lower() for part in text.split(",")):
        if not entry:
            continue
        name, _, port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        labels = name.removesuffix(".").split(".")
        if (
            not entry.isascii()
            or len(name) > 253
            or (port and not (port.isdigit() and 0 < int(port) < 65536))
            or not all(_HOST_LABEL.match(label) for label in labels)
        ):
            raise ValueError(f"{entry[:60]!r} is not a host name (like aviso.provedor.com.br, without http://)")
        hosts.add(".".join(labels) + (f":{port}" if port else ""))
    return frozenset(hosts)


@lru_cache
def get_settings() -> Settings:
    return Settings()
