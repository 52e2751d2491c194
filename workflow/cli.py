"""The `ativa` command: serve, migrate, manage tokens, customers and services."""

import getpass
import json
import os
import sys
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import date
from typing import Any, Literal

import typer
from rich.console import Console
from pydantic import ValidationError
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session
from typer.core import TyperGroup

from . import cli_input as accept
from . import cli_tables
from .cli_output import local_time, print_table
from .db import migrate
from .db.engine import Database
from .domain.customer_machine import TransitionRequest, mermaid_diagram
from .domain.errors import AtivaError
from .domain.vocabulary import (
    ActivationReason,
    CustomerEvent,
    CustomerStatus,
    EffectState,
    InactivationReason,
    Role,
    ServiceEvent,
    Source,
)
from .services import customer_services, customers, history, tokens, transitions, users
from .settings import WORKER_CONCURRENCY_MAX, Settings, WorkerPool, get_settings
from .supervisor import Supervisor, serve_children

out = Console(markup=False)  # a name like "[/b]" is printed as written, never read as markup
err = Console(stderr=True)
# Read from the environment, not Settings: it must work when the configuration itself is broken.
DEBUG_VARIABLE = "ATIVA_DEBUG"  # =1: an unexpected failure prints its traceback too


class FriendlyErrors(TyperGroup):
    """Turn known failures into one line and a non-zero exit, never a traceback."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent, **extra)
        except typer.TyperException as error:  # `ativa --bogus`: before any command runs
            _usage_error(error)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except typer.TyperException as error:  # a bad option or argument of a subcommand
            _usage_error(error)
        except AtivaError as error:
            _fail(f"{error.detail} [{error.code}]")
        except OperationalError as error:
            if _debug():
                raise
            reason = str(error.orig).strip().splitlines()[0] if error.orig else "unknown"
            _fail(f"database error: {reason}")
        except ValidationError as error:  # a bad ATIVA_* variable
            problems = "; ".join(
                f"ATIVA_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in error.errors()
            )
            _fail(f"invalid configuration: {problems}")
        except ArgumentError as error:
            _fail(f"invalid ATIVA_DATABASE_URL: {error}")
        except Exception as error:
            _unexpected(error)


def _fail(message: str, exit_code: int = 1):
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(exit_code)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _usage_error(error) -> None:
    """One line instead of typer's usage box; 'ativa tokens' alone still prints its help."""
    if type(error).__name__ == "NoArgsIsHelpError":
        raise error
    message = _one_line(error.format_message()).replace("Value error, ", "")
    ctx = getattr(error, "ctx", None)
    where = f"{ctx.command_path}: " if ctx is not None else ""
    hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
    _fail(f"{where}{message}{hint}", error.exit_code)


def _debug() -> bool:
    return os.environ.get(DEBUG_VARIABLE, "").lower() not in ("", "0", "false", "no")


def _unexpected(error: Exception) -> None:
    if _debug():
        raise error
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    _fail(f"unexpected {type(error).__name__}: {first_line} (set {DEBUG_VARIABLE}=1 to see the traceback)")


def _app(help_text: str) -> typer.Typer:
    return typer.Typer(
        cls=FriendlyErrors, help=help_text, no_args_is_help=True, pretty_exceptions_enable=False
    )


app = _app("Ativa: customer lifecycle (Ativo/Inativo) for internet providers.")
db_app = _app("Database schema.")
tokens_app = _app("API tokens.")
customers_app = _app("The customer register.")
services_app = _app("Services (plans) of a customer.")
effects_app = _app("Effects of transitions (outbox).")
users_app = _app("People who sign in to the web UI.")
app.add_typer(db_app, name="db")
app.add_typer(tokens_app, name="tokens")
app.add_typer(customers_app, name="customers")
app.add_typer(services_app, name="services")
app.add_typer(effects_app, name="effects")
app.add_typer(users_app, name="users")

JSON_OPTION = typer.Option(False, "--json", help="Print JSON for scripts (times in UTC).")
WIDE_OPTION = typer.Option(False, "--wide", help="All columns, as wide as they need (for wide terminals).")
CUSTOMER_ARGUMENT = typer.Argument(..., help="Id or external_ref.", parser=accept.ANY_TEXT)
NOTE_OPTION = typer.Option(None, "--note", parser=accept.NOTE)
AnyReason = Literal[tuple([*InactivationReason, *ActivationReason])]  # type: ignore[valid-type]


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # e.g. a container uid with no passwd entry
        return f"uid{os.getuid()}"


CLI_ACTOR = transitions.Actor(name=f"cli:{_login()}", role=Role.ADMIN)


def open_database(settings: Settings) -> Database:
    """The embedded default migrates itself; a server database must be migrated on purpose."""
    db = Database(settings.resolved_database_url)
    if db.is_sqlite:
        migrate.upgrade(db.engine)
    elif not migrate.is_up_to_date(db.engine):
        _fail("the database schema is not up to date: run `ativa db upgrade`")
    return db


@contextmanager
def unit(write: bool = False) -> Iterator[Session]:
    if write:
        # Effects a write creates are published after commit (the relay catches any miss).
        from .application import connect_workers

        connect_workers()
    db = open_database(get_settings())
    try:
        with db.write() if write else db.read() as session:
            yield session
    finally:
        db.dispose()


def _print_json(data: Any) -> None:
    out.print_json(json.dumps(data, default=str, ensure_ascii=False))


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    print_table(out, title, columns, rows)


def _customer_json(customer) -> dict:
    from .services.representations import CustomerOut

    return CustomerOut.of(customer).model_dump(mode="json")


def _transition_json(change, effects) -> dict:
    from .services.representations import TransitionOut

    return TransitionOut.of(change, effects).model_dump(mode="json")


# -- serve and schema ---------------------------------------------------------------------------


@app.command()
def serve(
    host: str = typer.Option(None, help="Listen address (default ATIVA_HOST).", parser=accept.ANY_TEXT),
    port: int = typer.Option(None, help="Listen port (default ATIVA_PORT).", min=1, max=accept.PORT_MAX),
    no_worker: bool = typer.Option(
        False, "--no-worker", help="Serve the API alone (workers and beat run elsewhere)."
    ),
):
    """Start the HTTP API and, unless --no-worker, a worker with the scheduler beside it."""
    import uvicorn

    from .application import create_app

    settings = get_settings()
    db = open_database(settings)
    with db.write() as session:
        if not tokens.has_tokens(session):
            token, plaintext = tokens.create_token(session, "first-admin", Role.ADMIN.value)
            out.print("No API token existed: created admin token 'first-admin'. It is shown only once:")
            print(plaintext, flush=True)
        first_user = users.create_first_admin(session)
        if first_user:
            out.print("No web user existed: created user 'admin' for the UI at "
                      f"http://{host or settings.host}:{port or settings.port}/ ; its password is shown "
                      "only once:", soft_wrap=True, markup=False, highlight=False)
            print(first_user[1], flush=True)
    children = None
    if not no_worker:
        # Child processes, so a crash of either never takes the API down, and each is started
        # again if it dies.
        children = Supervisor(serve_children(), log=lambda line: err.print(f"ativa serve: {line}",
                                                                            markup=False)).start()

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame):
            # At the first signal: uvicorn may wait a long time for open connections before the
            # application's shutdown, and the children must not be started again meanwhile.
            if children is not None:
                children.request_stop()
            super().handle_exit(sig, frame)

    @asynccontextmanager
    async def stop_children_on_shutdown(_app):
        # uvicorn re-raises SIGTERM once it has stopped, so code after it never runs then: the
        # application's shutdown is the last moment to wait for the children.
        yield
        if children is not None:
            children.stop()

    server = Server(uvicorn.Config(
        create_app(settings, db, lifespan=stop_children_on_shutdown),
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
        access_log=settings.access_log,
    ))
    try:
        server.run()
    except KeyboardInterrupt:  # a second Ctrl-C: the children get their parent-death signal
        pass
    if not server.started:
        raise typer.Exit(3)  # as uvicorn.run: the error is logged above


@app.command()
def worker(
    beat: bool = typer.Option(False, "--beat", help="Also run the scheduler (one runs at a time)."),
    concurrency: int = typer.Option(None, help="Tasks at once (default ATIVA_WORKER_CONCURRENCY).",
                                    min=1, max=WORKER_CONCURRENCY_MAX),
    pool: WorkerPool = typer.Option(None, help="prefork, threads or solo (default ATIVA_WORKER_POOL)."),
):
    """Run a Celery worker that carries out the effects."""
    from .application import celery_app, connect_workers

    settings = get_settings()
    open_database(settings).dispose()
    connect_workers()
    argv = [
        "worker", "--loglevel=INFO", "-Q", "ativa",
        f"--concurrency={concurrency or settings.worker_concurrency}",
        f"--pool={pool or settings.worker_pool}",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]
    if beat:
        argv.append("--beat")
    code = _run_celery(celery_app(), argv)
    sys.stdout.flush()
    sys.stderr.flush()
    # The worker has shut down by now. billiard's atexit finalizer can deadlock on a queue lock
    # that a terminated pool child held, leaving the process behind forever: skip it.
    os._exit(code)


@app.command()
def beat():
    """Run the scheduler alone (relay, reconciler); extra ones wait for the lease."""
    from .application import celery_app, connect_workers

    open_database(get_settings()).dispose()
    connect_workers()
    raise typer.Exit(_run_celery(celery_app(), ["beat", "--loglevel=INFO"]))


def _run_celery(celery_app, argv: list[str]) -> int:
    """Run a Celery command and return its exit status: non-zero when it stopped on an error, so
    that whatever supervises it (docker compose, systemd, `ativa serve`) starts it again.
    (`app.worker_main` and `app.start` both drop the status the command returns.)"""
    import click
    from celery.bin.celery import celery as celery_command

    celery_command.params[0].default = celery_app  # what `app.start` does: -A is this app
    try:
        code = celery_command.main(args=argv, standalone_mode=False)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except click.ClickException as error:
        err.print(f"error: {error.format_message()}", markup=False, highlight=False, soft_wrap=True)
        code = error.exit_code
    except Exception as error:  # noqa: BLE001 - one line and a non-zero exit, never a silent 0
        err.print(f"error: {argv[0]} stopped: {error!r}", markup=False, highlight=False, soft_wrap=True)
        code = 1
    return code or 0


@db_app.command("upgrade")
def db_upgrade():
    """Apply the migrations up to the newest schema."""
    settings = get_settings()
    db = Database(settings.resolved_database_url)
    try:
        migrate.upgrade(db.engine)
        out.print(f"schema at revision {migrate.current_revision(db.engine)}")
    finally:
        db.dispose()


@app.command()
def diagram():
    """Print the customer lifecycle as a Mermaid diagram."""
    sys.stdout.write(mermaid_diagram())


# -- tokens -------------------------------------------------------------------------------------


@tokens_app.command("create")
def tokens_create(
    name: str = typer.Option(..., "--name", help="Who or what uses the token.", parser=accept.TOKEN_NAME),
    role: Role = typer.Option(..., "--role", help="admin, operator, billing or viewer."),
):
    """Create a token; it is printed alone on the last line, once."""
    with unit(write=True) as session:
        token, plaintext = tokens.create_token(session, name, role.value)
        out.print(f"token {token.id} '{token.name}' ({token.role}) created; store it now:")
    print(plaintext, flush=True)


@tokens_app.command("list")
def tokens_list(as_json: bool = JSON_OPTION, wide: bool = WIDE_OPTION):
    """List tokens (never their secret)."""
    with unit() as session:
        items = tokens.list_tokens(session)
        rows = [
            {"id": t.id, "name": t.name, "role": t.role, "prefix": t.prefix,
             "created_at": t.created_at.isoformat(),
             "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None}
            for t in items
        ]
    if as_json:
        return _print_json(rows)
    cli_tables.tokens(out, rows, get_settings().timezone, wide=wide)


@tokens_app.command("revoke")
def tokens_revoke(token_id: int = typer.Argument(..., help="Token id from `ativa tokens list`.",
                                                min=1, max=accept.MAX_ID)):
    """Revoke a token at once."""
    with unit(write=True) as session:
        token = tokens.revoke_token(session, token_id)
        out.print(f"token {token.id} '{token.name}' revoked")


# -- web users ----------------------------------------------------------------------------------

UI_ROLE_HELP = "admin, operator or viewer."


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        _fail("no terminal to ask for the password: pass --password-stdin and pipe it in")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat the password: "):
        _fail("the two passwords differ; nothing was changed")
    return first


@users_app.command("create")
def users_create(
    username: str = typer.Option(..., "--username", help="Sign-in name (letters, digits, . _ -).",
                                 parser=accept.ANY_TEXT),
    role: Role = typer.Option(..., "--role", help=UI_ROLE_HELP),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
):
    """Create a web user; the password comes from a prompt or stdin, never the command line."""
    password = _read_password(password_stdin)
    with unit(write=True) as session:
        user = users.create_user(session, username, role.value, password)
        out.print(f"user {user.id} '{user.username}' ({user.role}) created")


@users_app.command("list")
def users_list(as_json: bool = JSON_OPTION, wide: bool = WIDE_OPTION):
    """List web users (never their password hash)."""
    with unit() as session:
        rows = [
            {"id": u.id, "username": u.username, "role": u.role,
             "disabled_at": u.disabled_at.isoformat() if u.disabled_at else None,
             "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None}
            for u in users.list_users(session)
        ]
    if as_json:
        return _print_json(rows)
    cli_tables.users(out, rows, get_settings().timezone, wide=wide)


@users_app.command("password")
def users_password(
    username: str = typer.Argument(..., help="Sign-in name.", parser=accept.ANY_TEXT),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
):
    """Set a new password; the user's open sessions end."""
    password = _read_password(password_stdin)
    with unit(write=True) as session:
        user = users.set_password(session, username, password)
        out.print(f"password of '{user.username}' changed; its sessions ended")


@users_app.command("disable")
def users_disable(username: str = typer.Argument(..., help="Sign-in name.", parser=accept.ANY_TEXT)):
    """The user can no longer sign in and is signed out at once."""
    with unit(write=True) as session:
        user = users.disable_user(session, username)
        out.print(f"user '{user.username}' disabled")


# -- customers ----------------------------------------------------------------------------------


@customers_app.command("add")
def customers_add(
    name: str = typer.Option(..., "--name", parser=accept.CUSTOMER_NAME),
    document: str = typer.Option(..., "--document", help="CPF or CNPJ, punctuation allowed.",
                                 parser=accept.DOCUMENT),
    email: str = typer.Option(None, "--email", parser=accept.EMAIL),
    phone: str = typer.Option(None, "--phone", parser=accept.PHONE),
    external_ref: str = typer.Option(None, "--external-ref", help="The id other systems use.",
                                     parser=accept.EXTERNAL_REF),
    as_json: bool = JSON_OPTION,
):
    """Register a customer (Ativo)."""
    with unit(write=True) as session:
        customer = customers.create_customer(
            session, customers.CustomerDraft(name, document, email, phone, external_ref)
        )
        data = _customer_json(customer)
    if as_json:
        return _print_json(data)
    out.print(f"customer {data['id']} '{data['name']}' created ({data['status']})")


@customers_app.command("list")
def customers_list(
    status: CustomerStatus = typer.Option(None, "--status", help="active or inactive"),
    q: str = typer.Option(None, "--q", help="Search name, CPF/CNPJ, external_ref, e-mail.", parser=accept.ANY_TEXT),
    limit: int = typer.Option(50, "--limit", min=1, max=customers.MAX_PAGE),
    cursor: str = typer.Option(None, "--cursor", parser=accept.ANY_TEXT),
    as_json: bool = JSON_OPTION,
    wide: bool = WIDE_OPTION,
):
    """List customers."""
    with unit() as session:
        items, next_cursor = customers.list_customers(
            session, status=status, q=q, limit=limit, cursor=cursor
        )
        data = [_customer_json(c) for c in items]
    if not as_json:
        cli_tables.customers(out, data, wide=wide)
    if as_json:
        return _print_json({"items": data, "next_cursor": next_cursor})
    if next_cursor:
        out.print(f"more: --cursor {next_cursor}")


@customers_app.command("show")
def customers_show(customer: str = CUSTOMER_ARGUMENT, as_json: bool = JSON_OPTION, wide: bool = WIDE_OPTION):
    """Show one customer."""
    with unit() as session:
        data = _customer_json(customers.find_customer(session, customer))
    if as_json:
        return _print_json(data)
    cli_tables.fields(out, f"Customer {data['id']}", data, get_settings().timezone, wide=wide)


@customers_app.command("edit")
def customers_edit(
    customer: str = CUSTOMER_ARGUMENT,
    name: str = typer.Option(None, "--name", parser=accept.CUSTOMER_NAME),
    document: str = typer.Option(None, "--document", parser=accept.DOCUMENT),
    email: str = typer.Option(None, "--email", parser=accept.EMAIL),
    phone: str = typer.Option(None, "--phone", parser=accept.PHONE),
    external_ref: str = typer.Option(None, "--external-ref", parser=accept.EXTERNAL_REF),
    status: CustomerStatus = typer.Option(None, "--status", help="active or inactive: changes Ativo."),
    reason: AnyReason = typer.Option(None, "--reason", help="One that fits the change of --status."),
    note: str = NOTE_OPTION,
    force: bool = typer.Option(False, "--force"),
    version: int = typer.Option(None, "--version", help="Refuse if the customer changed since.",
                                min=1, max=accept.MAX_ID),
    as_json: bool = JSON_OPTION,
):
    """Edit fields and, with --status, change Ativo (the Editar → Salvar path)."""
    given = {"name": name, "document": document, "email": email, "phone": phone, "external_ref": external_ref}
    edit = customers.CustomerEdit(
        changes={k: v for k, v in given.items() if v is not None},
        status=status, reason=reason, note=note, force=force, version=version,
    )
    with unit(write=True) as session:
        target = customers.find_customer(session, customer)
        outcome = customers.edit_customer(session, target.id, edit, CLI_ACTOR, Source.CLI)
        data = _customer_json(outcome.customer)
    if as_json:
        return _print_json(data)
    out.print(f"customer {data['id']} saved: {data['status']}, version {data['version']}")


def _transition(customer: str, event: CustomerEvent, reason: str, note: str | None, force: bool, as_json: bool,
                days: int | None = None, until=None, hold_until=None):
    request = TransitionRequest(reason, note, force, CLI_ACTOR.role, days=days, until=until,
                                hold_until=hold_until)
    with unit(write=True) as session:
        target = customers.find_customer(session, customer)
        outcome = transitions.transition_customer(
            session, target.id, event, request, CLI_ACTOR, Source.CLI
        )
        data = {"customer": _customer_json(outcome.customer),
                "transition": _transition_json(outcome.transition, outcome.effects)}
    if as_json:
        return _print_json(data)
    t = data["transition"]
    effects = ", ".join(e["name"] for e in t["effects"])
    out.print(f"customer {data['customer']['id']}: {t['from_status']} → {t['to_status']} "
              f"({t['reason']}); effects queued: {effects}")
    if t["hold_until"]:
        out.print(f"no automatic cut through {t['hold_until']} (forced activation)")


@app.command()
def inactivate(
    customer: str = CUSTOMER_ARGUMENT,
    reason: InactivationReason = typer.Option(..., "--reason"),
    note: str = NOTE_OPTION,
    until: date = typer.Option(None, "--until", help="customer_request: return date (YYYY-MM-DD).",
                               parser=accept.iso_date),
    as_json: bool = JSON_OPTION,
):
    """Set Ativo = Não: suspend the services, pause invoicing."""
    _transition(customer, CustomerEvent.INACTIVATE, reason.value, note, False, as_json, until=until)


@app.command()
def activate(
    customer: str = CUSTOMER_ARGUMENT,
    reason: ActivationReason = typer.Option(..., "--reason"),
    note: str = NOTE_OPTION,
    force: bool = typer.Option(False, "--force", help="Override overdue invoices (needs --note)."),
    days: int = typer.Option(None, "--days", help="trust_unlock: how many days.", min=1, max=365),
    hold_until: date = typer.Option(
        None, "--hold-until",
        help="With --force: no automatic cut through this date (YYYY-MM-DD); default "
             "ATIVA_FORCED_ACTIVATION_HOLD_DAYS days from today.", parser=accept.iso_date),
    as_json: bool = JSON_OPTION,
):
    """Set Ativo = Sim: restore the services, resume invoicing."""
    _transition(customer, CustomerEvent.ACTIVATE, reason.value, note, force, as_json, days=days,
                hold_until=hold_until)


@app.command("return-date")
def return_date(
    customer: str = CUSTOMER_ARGUMENT,
    until: date = typer.Option(None, "--until", help="New return date (YYYY-MM-DD).", parser=accept.iso_date),
    clear: bool = typer.Option(False, "--clear", help="Remove the return date."),
    as_json: bool = JSON_OPTION,
):
    """Change or clear the return date of a suspension at the customer's request."""
    from .services import timers
    from .services.clock import provider_today

    if clear == (until is not None):
        _fail("give either --until DATE or --clear", 2)
    with unit(write=True) as session:
        target = customers.find_customer(session, customer)
        changed = timers.set_return_date(session, target.id, until,
                                         provider_today(get_settings().timezone))
        data = _customer_json(changed)
    if as_json:
        return _print_json(data)
    out.print(f"customer {data['id']}: return date {data['return_on'] or 'cleared'}")


@app.command()
def standing(customer: str = CUSTOMER_ARGUMENT, as_json: bool = JSON_OPTION):
    """Why the customer is where it is, and what happens next."""
    from .services import standing as standing_service
    from .services.clock import provider_today

    settings = get_settings()
    with unit() as session:
        target = customers.find_customer(session, customer)
        data = standing_service.standing(session, target.id, settings, provider_today(settings.timezone))
    if as_json:
        return _print_json(data)
    overdue = data["overdue"]
    out.print(f"customer {data['customer_id']}: {data['status']}"
              + (f" ({data['inactivation_reason']})" if data["inactivation_reason"] else ""))
    out.print(f"overdue: R$ {overdue['total']} in {len(overdue['invoices'])} invoice(s)"
              + (f", oldest due {overdue['oldest_due']} ({overdue['days_overdue']} days)" if overdue["oldest_due"] else ""))
    hold = data["forced_hold"]
    if hold:
        out.print(f"forced activation: no automatic cut through {hold['until']}; "
                  f"the normal rule applies from {hold['normal_rule_from']}")
    action = data["next_action"]
    at = action and action.get("at") and f"{local_time(action['at'], settings.timezone)} {settings.timezone}"
    out.print("next automatic action: " + (
        f"{action['action']} {action.get('on') or at or ''} ({action['why']})" if action else "none"))
    trust = data["trust_unlock"]
    out.print("trust unlock: " + ("allowed, up to " + str(trust["max_days"]) + " day(s)" if trust["allowed"]
                                  else f"not allowed: {trust['why_not']}"))


@app.command("history")
def show_history(customer: str = CUSTOMER_ARGUMENT, as_json: bool = JSON_OPTION, wide: bool = WIDE_OPTION):
    """A customer's transitions, newest first, with their effects."""
    with unit() as session:
        target = customers.find_customer(session, customer)
        items = [_transition_json(t, t.effects) for t in history.customer_history(session, target.id)]
    if as_json:
        return _print_json({"items": items})
    cli_tables.history(out, target.id, items, get_settings().timezone, wide=wide)


# -- services -----------------------------------------------------------------------------------


def _service_json(service) -> dict:
    from .services.representations import ServiceOut

    return ServiceOut.of(service).model_dump(mode="json")


@services_app.command("add")
def services_add(
    customer: str = typer.Argument(..., help="Customer id or external_ref.", parser=accept.ANY_TEXT),
    name: str = typer.Option(..., "--name", help="Plan or service name.", parser=accept.SERVICE_NAME),
    external_ref: str = typer.Option(None, "--external-ref", parser=accept.EXTERNAL_REF),
    as_json: bool = JSON_OPTION,
):
    """Add a service to an active customer."""
    with unit(write=True) as session:
        target = customers.find_customer(session, customer)
        data = _service_json(customer_services.add_service(session, target.id, name, external_ref))
    if as_json:
        return _print_json(data)
    out.print(f"service {data['id']} '{data['name']}' added to customer {data['customer_id']}")


@services_app.command("list")
def services_list(
    customer: str = typer.Argument(..., help="Customer id or external_ref.", parser=accept.ANY_TEXT),
    as_json: bool = JSON_OPTION,
    wide: bool = WIDE_OPTION,
):
    """List a customer's services."""
    with unit() as session:
        target = customers.find_customer(session, customer)
        items = [_service_json(s) for s in customer_services.list_services(session, target.id)]
    if as_json:
        return _print_json({"items": items})
    cli_tables.services(out, target.id, items, wide=wide)


SERVICE_ID = typer.Argument(..., help="Service id from `ativa services list`.", min=1, max=accept.MAX_ID)


def _service_change(service_id: int, event: ServiceEvent, reason: str | None, as_json: bool):
    with unit(write=True) as session:
        data = _service_json(customer_services.change_service(session, service_id, event, reason))
    if as_json:
        return _print_json(data)
    out.print(f"service {data['id']} is now {data['status']}")


@services_app.command("suspend")
def services_suspend(service_id: int = SERVICE_ID, reason: str = typer.Option(..., "--reason", parser=accept.NOTE),
                     as_json: bool = JSON_OPTION):
    """Suspend one service (not undone by the customer's activation)."""
    _service_change(service_id, ServiceEvent.SUSPEND, reason, as_json)


@services_app.command("resume")
def services_resume(service_id: int = SERVICE_ID, as_json: bool = JSON_OPTION):
    """Resume a suspended service."""
    _service_change(service_id, ServiceEvent.RESUME, None, as_json)


@services_app.command("cancel")
def services_cancel(service_id: int = SERVICE_ID, as_json: bool = JSON_OPTION):
    """Cancel a service for good."""
    _service_change(service_id, ServiceEvent.CANCEL, None, as_json)


# -- effects ------------------------------------------------------------------------------------


def _effect_json(effect) -> dict:
    from .services.representations import EffectDetail

    return EffectDetail.of(effect).model_dump(mode="json")


@effects_app.command("list")
def effects_list(
    state: EffectState = typer.Option(None, "--state", help="pending, done, failed or skipped"),
    customer: str = typer.Option(None, "--customer", help="Customer id or external_ref.", parser=accept.ANY_TEXT),
    limit: int = typer.Option(100, "--limit", min=1, max=1000),
    as_json: bool = JSON_OPTION,
    wide: bool = WIDE_OPTION,
):
    """List effects, newest first."""
    from .services import effects

    with unit() as session:
        customer_id = customers.find_customer(session, customer).id if customer else None
        items = [_effect_json(e) for e in effects.list_effects(session, state, customer_id, limit)]
    if as_json:
        return _print_json({"items": items})
    cli_tables.effects(out, items, get_settings().timezone, wide=wide)


@effects_app.command("retry")
def effects_retry(effect_id: int = typer.Argument(..., help="A failed effect's id.", min=1, max=accept.MAX_ID)):
    """Give a failed effect a fresh set of attempts."""
    from .services import effects

    with unit(write=True) as session:
        effect = effects.retry_effect(session, effect_id, CLI_ACTOR.name)
        out.print(f"effect {effect.id} ({effect.name}) is pending again")


# -- delinquency --------------------------------------------------------------------------------


@app.command()
def sweep(
    dry_run: bool = typer.Option(False, "--dry-run", help="Only show who would be cut, and why."),
    as_of: str = typer.Option(None, "--as-of", help="Business date (YYYY-MM-DD); default today, provider time."),
    as_json: bool = JSON_OPTION,
):
    """Inactivate customers due for a cut (reason delinquency, source scheduler)."""
    from datetime import date as _date

    from .domain.errors import OutOfRange
    from .services import delinquency

    settings = get_settings()
    try:
        today = delinquency.business_day(_date.fromisoformat(as_of) if as_of else None, settings.timezone)
    except OutOfRange as error:
        _fail(f"--as-of: {error.detail}", 2)
    except ValueError:
        _fail(f"--as-of {as_of!r} is not a date like 2026-12-01", 2)
    policy = delinquency.policy_from(settings)
    why_not = policy.why_not_a_cut_day(today)
    if dry_run:
        with unit() as session:
            found = delinquency.candidates(session, policy, today)
            held = delinquency.held_candidates(session, policy, today)
        rows = [{**vars(c), "overdue_total": str(c.overdue_total), "oldest_due": c.oldest_due.isoformat()}
                for c in found]
        if as_json:
            skipped = [{**vars(c), "overdue_total": str(c.overdue_total), "oldest_due": c.oldest_due.isoformat(),
                        "held_until": c.held_until.isoformat()} for c in held]
            return _print_json({"as_of": today.isoformat(), "cut_day": why_not is None,
                                "not_a_cut_day": why_not, "candidates": rows, "skipped": skipped})
        if why_not:
            out.print(f"no cuts on {today}: {why_not}")
        _table(f"Due for a cut on {today}", ["customer", "name", "ref", "overdue R$", "oldest due", "days", "invoices"],
               [[r["customer_id"], r["name"], r["external_ref"], r["overdue_total"], r["oldest_due"],
                 r["days_overdue"], r["overdue_invoices"]] for r in rows])
        for c in held:
            out.print(f"skipped: customer {c.customer_id} ({c.name}), held by a forced activation "
                      f"through {c.held_until}")
        return
    from .application import connect_workers  # the cuts' effects are published after commit

    connect_workers()
    db = open_database(settings)
    try:
        result = delinquency.run_sweep(db, policy, today, settings.sweep_batch_size)
    finally:
        db.dispose()
    data = {"as_of": today.isoformat(), "not_a_cut_day": result.not_a_cut_day,
            "candidates": result.candidates, "inactivated": result.inactivated,
            "skipped": {str(k): v for k, v in result.skipped.items()}}
    if as_json:
        return _print_json(data)
    if result.not_a_cut_day:
        out.print(f"no cuts on {today}: {result.not_a_cut_day}")
        return
    out.print(f"sweep of {today}: {len(result.inactivated)} inactivated, {len(result.skipped)} skipped "
              f"of {result.candidates} candidate(s)")


def main() -> None:
    try:
        app()
    except Exception as error:  # outside any command (each group catches its commands' errors)
        try:
            _unexpected(error)
        except typer.Exit as stop:
            sys.exit(stop.exit_code)
