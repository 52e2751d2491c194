"""A customer with a RADIUS login as an operator sets one up: a plan, a router, a service with a login
(whose FreeRADIUS rows Ativa writes in the same transaction), the groups Ativa keeps, and, when a
test wants one, an open session in radacct. Not a test module: the view, CLI and browser tests share it."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert

from tests.conftest import VALID_CPFS
from workflow.db.engine import Database
from workflow.db.models import Plan, RadiusPacket, Router
from workflow.db.radius_tables import radacct
from workflow.db.types import utcnow
from workflow.settings import get_settings
from workflow.usecases import customer_services, customers
from workflow.usecases.radius.enforcement import sync_configuration

LOGIN = "joao"
PASSWORD = "s3nh4-forte"
ROUTER_ADDRESS = (
    "10.0.0.1"  # NAS-IP-Address of the accounting; not 127.0.0.1, the test client FreeRADIUS reads at start
)
ROUTER_NAME = "Concentrador Centro"
FRAMED_IP = "100.64.0.10"


@dataclass(frozen=True)
class Seeded:
    customer_id: int
    service_id: int
    plan_id: int


def seed_customer_with_login(db: Database, n: int = 0, login: str = LOGIN) -> Seeded:
    with db.write() as session:
        now = utcnow()
        plan = Plan(name="Fibra 50", name_key="fibra 50", download_kbps=50_000, upload_kbps=10_000)
        plan.created_at = plan.updated_at = now
        router = Router(name=ROUTER_NAME, address=ROUTER_ADDRESS, secret="segredo-do-roteador", vendor="mikrotik")
        router.coa_port, router.created_at, router.updated_at = 3799, now, now
        session.add_all([plan, router])
        session.flush()
        customer_id = customers.create_customer(session, customers.CustomerDraft("João da Silva", VALID_CPFS[n])).id
        access = customer_services.Access(login, PASSWORD, plan.id)
        service = customer_services.add_service(session, customer_id, "Fibra", access=access)
        sync_configuration(session.connection(), get_settings())
        return Seeded(customer_id, service.id, plan.id)


def open_session(
    db: Database,
    login: str,
    session_id: str,
    since: datetime,
    nas_ip: str = ROUTER_ADDRESS,
    framed_ip: str = FRAMED_IP,
) -> None:
    """A radacct row as FreeRADIUS writes it on an Accounting-Start (for tests that need no server)."""
    with db.write_core() as conn:
        conn.execute(
            insert(radacct).values(
                acctsessionid=session_id,
                acctuniqueid=f"unique-{session_id}",
                username=login,
                nasipaddress=nas_ip,
                framedipaddress=framed_ip,
                acctstarttime=since,
                acctupdatetime=since,
            )
        )


def record_packet(db: Database, seeded: Seeded, kind: str, outcome: str, sent_at: datetime) -> None:
    with db.write() as session:
        session.add(
            RadiusPacket(
                customer_id=seeded.customer_id,
                service_id=seeded.service_id,
                login=LOGIN,
                router_address=ROUTER_ADDRESS,
                kind=kind,
                outcome=outcome,
                acct_session_id="sessao-1",
                sent_at=sent_at,
            )
        )
