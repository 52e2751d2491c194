"""The long-running processes: the HTTP server (with its worker and scheduler), a worker, a
scheduler. Celery, uvicorn and the web application are imported inside the commands that run
them: every other command starts without loading them."""

import os
import sys
from contextlib import asynccontextmanager

import click
import typer

from ..domain.vocabulary import Role
from ..settings import WORKER_CONCURRENCY_MAX, WorkerPool, get_settings
from ..supervisor import Supervisor, serve_children
from ..usecases import tokens, users
from . import accept
from .console import err, out
from .groups import root
from .session import install_publisher, open_database


@root.command()
def serve(
    host: str = typer.Option(None, help="Listen address (default ATIVA_HOST).", parser=accept.ANY_TEXT),
    port: int = typer.Option(None, help="Listen port (default ATIVA_PORT).", min=1, max=accept.PORT_MAX),
    no_worker: bool = typer.Option(False, "--no-worker", help="Serve the API alone (workers and beat run elsewhere)."),
):
    """Start the HTTP API and, unless --no-worker, a worker with the scheduler beside it."""
    import uvicorn  # lazy: see the module's docstring

    from ..application import create_app

    settings = get_settings()
    db = open_database(settings)
    with db.write() as session:
        if not tokens.has_tokens(session):
            _token, plaintext = tokens.create_token(session, "first-admin", Role.ADMIN.value)
            out.print("No API token existed: created admin token 'first-admin'. It is shown only once:")
            print(plaintext, flush=True)
        first_user = users.create_first_admin(session)
        if first_user:
            out.print(
                "No web user existed: created user 'admin' for the UI at "
                f"http://{host or settings.host}:{port or settings.port}/ ; its password is shown "
                "only once:",
                soft_wrap=True,
                markup=False,
                highlight=False,
            )
            print(first_user[1], flush=True)
    children = None
    if not no_worker:
        # Child processes, so a crash of either never takes the API down, and each is started
        # again if it dies.
        children = Supervisor(
            serve_children(), log=lambda line: err.print(f"ativa serve: {line}", markup=False)
        ).start()

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

    server = Server(
        uvicorn.Config(
            create_app(settings, db, lifespan=stop_children_on_shutdown),
            host=host or settings.host,
            port=port or settings.port,
            log_level="info",
            access_log=settings.access_log,
        )
    )
    try:
        server.run()
    except KeyboardInterrupt:  # a second Ctrl-C: the children get their parent-death signal
        pass
    if not server.started:
        raise typer.Exit(3)  # as uvicorn.run: the error is logged above


@root.command()
def worker(
    beat: bool = typer.Option(False, "--beat", help="Also run the scheduler (one runs at a time)."),
    concurrency: int = typer.Option(
        None, help="Tasks at once (default ATIVA_WORKER_CONCURRENCY).", min=1, max=WORKER_CONCURRENCY_MAX
    ),
    pool: WorkerPool = typer.Option(None, help="prefork, threads or solo (default ATIVA_WORKER_POOL)."),
):
    """Run a Celery worker that carries out the effects."""
    settings = get_settings()
    open_database(settings).dispose()
    install_publisher()
    argv = [
        "worker",
        "--loglevel=INFO",
        "-Q",
        "ativa",
        f"--concurrency={concurrency or settings.worker_concurrency}",
        f"--pool={pool or settings.worker_pool}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    if beat:
        argv.append("--beat")
    code = _run_celery(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    # The worker has shut down by now. billiard's atexit finalizer can deadlock on a queue lock
    # that a terminated pool child held, leaving the process behind forever: skip it.
    os._exit(code)


@root.command()
def beat():
    """Run the scheduler alone (relay, reconciler); extra ones wait for the lease."""
    open_database(get_settings()).dispose()
    install_publisher()
    raise typer.Exit(_run_celery(["beat", "--loglevel=INFO"]))


def _run_celery(argv: list[str]) -> int:
    """Run a Celery command and return its exit status: non-zero when it stopped on an error, so
    that whatever supervises it (docker compose, systemd, `ativa serve`) starts it again.
    (`app.worker_main` and `app.start` both drop the status the command returns.)"""
    from celery.bin.celery import celery as celery_command  # lazy: see the module's docstring

    from ..application import celery_app

    celery_command.params[0].default = celery_app()  # what `app.start` does: -A is this app
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
