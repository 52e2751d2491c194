"""The `ativa` command tree: the root and its command groups. Each command module adds its
commands to these (see __init__.py for the order)."""

import typer

from .errors import FriendlyErrors


def command_group(help_text: str) -> typer.Typer:
    return typer.Typer(cls=FriendlyErrors, help=help_text, no_args_is_help=True, pretty_exceptions_enable=False)


root = command_group("Ativa: customer lifecycle (Ativo/Inativo) for internet providers.")
db = command_group("Database schema.")
tokens = command_group("API tokens.")
customers = command_group("The customer register.")
services = command_group("Services (plans) of a customer.")
plans = command_group("Speed plans (each a FreeRADIUS group).")
nas = command_group("Routers (NAS) that FreeRADIUS serves and Ativa sends CoA/Disconnect to.")
effects = command_group("Effects of transitions (outbox).")
freeze = command_group("The freeze of automatic cuts (the sweep, trust-unlock expiry, the ladder's steps).")
radius = command_group("What FreeRADIUS answers for a login (RADIUS enforcement).")
users = command_group("People who sign in to the web UI.")
bulk = command_group("Bulk jobs: many customers at once, previewed first.")
billing = command_group("Billing events: a file of them posted to a running Ativa.")
root.add_typer(db, name="db")
root.add_typer(tokens, name="tokens")
root.add_typer(customers, name="customers")
root.add_typer(services, name="services")
root.add_typer(plans, name="plans")
root.add_typer(nas, name="nas")
root.add_typer(effects, name="effects")
root.add_typer(freeze, name="freeze")
root.add_typer(radius, name="radius")
root.add_typer(users, name="users")
root.add_typer(bulk, name="bulk")
root.add_typer(billing, name="billing")
