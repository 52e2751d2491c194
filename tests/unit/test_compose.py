"""docker-compose.yml stays in step with the code: every `ativa …` command and option exists,
every ATIVA_* variable is a real setting, and every `service_healthy` dependency has a healthcheck.

No Docker engine is needed: the file is only read and compared with the Typer app and Settings.
"""

import re
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from workflow.cli import app as cli_app
from workflow.settings import Settings

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
REQUIRED_SERVICES = ("migrate", "api", "worker", "beat")


# -- helpers (checked themselves at the bottom) ---------------------------------------------------


# Typer >= 0.26 vendors its own copy of click (typer._click), older ones use click itself: the
# helpers go by click's duck types so they work with either.


def _root_command():
    return typer.main.get_command(cli_app)


def _is_group(command) -> bool:
    return hasattr(command, "get_command") and hasattr(command, "list_commands")


def _subcommands(group) -> list[str]:
    return sorted(group.list_commands(group.context_class(group)))


def _option_names(command) -> set[str]:
    names = {"--help"}
    for param in command.params:
        if getattr(param, "param_type_name", None) == "option":
            names.update(param.opts)
            names.update(param.secondary_opts)
    return names


def ativa_command_problems(service_name: str, service: dict[str, Any]) -> list[str]:
    """What is wrong with the service's `ativa …` command; [] when it is fine or not an `ativa` one."""
    command = service.get("command")
    if isinstance(command, str):
        if command.split()[:1] == ["ativa"]:
            return [f"service {service_name!r}: write command {command!r} in list form so it can be checked"]
        return []
    if not command or command[0] != "ativa":
        return []

    args = [str(token) for token in command[1:]]
    current = _root_command()
    path = ["ativa"]
    while _is_group(current):
        if not args or args[0].startswith("-"):
            return [
                f"service {service_name!r}: command {command!r} stops at group {' '.join(path)!r}; "
                f"pick one of {_subcommands(current)}"
            ]
        name = args.pop(0)
        sub = current.get_command(current.context_class(current), name)
        if sub is None:
            return [
                f"service {service_name!r}: command {command!r}: unknown command {name!r} in "
                f"{' '.join(path)!r}; known: {_subcommands(current)}"
            ]
        path.append(name)
        current = sub

    problems = []
    known = _option_names(current)
    for token in args:
        if token.startswith("--") and token.split("=", 1)[0] not in known:
            problems.append(
                f"service {service_name!r}: command {command!r}: {' '.join(path)!r} has no option "
                f"{token!r}; known: {sorted(known)}"
            )
    if not problems:
        # Let click parse the rest too: catches a missing value, a bad type, a stray argument.
        # (click's usage errors, or an early exit such as --help: neither belongs in a service).
        try:
            current.make_context(" ".join(path), list(args), resilient_parsing=False)
        except Exception as error:  # noqa: BLE001 - click's or typer's exception classes
            reason = error.format_message() if hasattr(error, "format_message") else repr(error)
            problems.append(f"service {service_name!r}: command {command!r} does not parse: {reason}")
    return problems


def _environment(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # ["KEY=value", "KEY"]
        return {item.split("=", 1)[0]: (item.split("=", 1)[1] if "=" in item else None) for item in env}
    return dict(env)


def settings_env_problems(service_name: str, service: dict[str, Any]) -> list[str]:
    """ATIVA_* names in the service's environment that are no field of Settings."""
    fields = set(Settings.model_fields)
    return [
        f"service {service_name!r}: environment variable {key!r} is not a setting "
        f"(no field {key.removeprefix('ATIVA_').lower()!r} in workflow.settings.Settings)"
        for key in _environment(service)
        if key.startswith("ATIVA_") and key.removeprefix("ATIVA_").lower() not in fields
    ]


_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<default>[^}]*))?\}")


def _interpolate_unset(value: str) -> str:
    """Compose interpolation as if no host variable were set: `${X:-d}` -> d, `${X}` -> ''."""

    def replace(match: re.Match) -> str:
        op = match.group("op") or ""
        if op.endswith("?"):
            raise ValueError(f"{match.group(0)} requires the host variable {match.group('name')}")
        return match.group("default") if op.endswith("-") else ""

    return _INTERPOLATION.sub(replace, value).replace("$$", "$")


# -- the file ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    compose = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(compose, dict) and isinstance(compose.get("services"), dict), (
        f"{COMPOSE_FILE} has no `services:` mapping"
    )
    return compose["services"]


def test_application_services_exist(services):
    missing = [name for name in REQUIRED_SERVICES if name not in services]
    assert not missing, f"docker-compose.yml lacks the services {missing}"


def test_every_ativa_command_and_option_exists(services):
    problems = [p for name, service in services.items() for p in ativa_command_problems(name, service)]
    assert not problems, "\n".join(problems)


def test_application_services_run_ativa(services):
    for name in REQUIRED_SERVICES:
        command = services[name].get("command")
        assert isinstance(command, list) and command[:1] == ["ativa"], (
            f"service {name!r} should run an `ativa …` command in list form, has {command!r}"
        )


def test_every_ativa_variable_is_a_setting(services):
    problems = [p for name, service in services.items() for p in settings_env_problems(name, service)]
    assert not problems, "\n".join(problems)


def test_ativa_environment_is_valid_configuration(services):
    """With no host variables set, each service's ATIVA_* values pass Settings' own validation."""
    for name, service in services.items():
        values = {
            key.removeprefix("ATIVA_").lower(): _interpolate_unset(str(value))
            for key, value in _environment(service).items()
            if key.startswith("ATIVA_") and value is not None
        }
        if not values:
            continue
        try:
            Settings(**values)
        except Exception as error:  # noqa: BLE001 - the message names the variable
            pytest.fail(f"service {name!r}: its ATIVA_* environment is not a valid configuration: {error}")


def test_healthy_dependencies_have_healthchecks(services):
    problems = []
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        if isinstance(depends, list):  # short form: no conditions
            depends = {dep: {} for dep in depends}
        for dep, spec in depends.items():
            if dep not in services:
                problems.append(f"service {name!r} depends on {dep!r}, which is not defined")
                continue
            condition = (spec or {}).get("condition")
            healthcheck = services[dep].get("healthcheck") or {}
            if condition == "service_healthy" and (not healthcheck.get("test") or healthcheck.get("disable")):
                problems.append(f"service {name!r} waits for {dep!r} to be healthy, but {dep!r} has no healthcheck")
            if condition == "service_completed_successfully" and services[dep].get("restart", "no") != "no":
                problems.append(
                    f"service {name!r} waits for {dep!r} to complete, but {dep!r} has "
                    f'restart: {services[dep]["restart"]!r} (a one-shot needs restart: "no")'
                )
    assert not problems, "\n".join(problems)


def test_long_running_services_are_started_again_when_they_stop_on_an_error(services):
    """`ativa worker` and `ativa beat` exit non-zero when they stop on an error (a broker fault
    Celery gives up on): only a restart policy brings them back."""
    problems = [
        f"service {name!r} has restart: {services[name].get('restart', 'no')!r}"
        for name in ("api", "worker", "beat")
        if str(services[name].get("restart", "no")).split(":")[0] not in ("always", "unless-stopped", "on-failure")
    ]
    assert not problems, "\n".join(problems)


# -- the checkers catch mistakes ------------------------------------------------------------------


def test_checker_reports_an_unknown_command():
    problems = ativa_command_problems("fake", {"command": ["ativa", "srve"]})
    assert len(problems) == 1 and "'fake'" in problems[0] and "'srve'" in problems[0], problems


@pytest.mark.parametrize(
    "command, expected",
    [
        (["ativa", "serve", "--no-wroker"], "--no-wroker"),
        (["ativa", "db", "upgrad"], "'upgrad'"),
        (["ativa", "db"], "stops at group"),
        (["ativa", "serve", "--port", "eighty"], "does not parse"),
        ("ativa serve", "list form"),
    ],
)
def test_checker_reports_other_mistakes(command, expected):
    problems = ativa_command_problems("fake", {"command": command})
    assert len(problems) == 1 and expected in problems[0], problems


def test_checker_accepts_real_commands():
    for command in (
        ["ativa", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-worker"],  # noqa: S104 - only parsed
        ["ativa", "worker", "--beat", "--concurrency=2", "--pool", "solo"],
        ["ativa", "db", "upgrade"],
        ["redis-server"],
    ):
        assert ativa_command_problems("fake", {"command": command}) == [], command


def test_checker_reports_an_unknown_variable():
    problems = settings_env_problems(
        "fake", {"environment": ["ATIVA_DATABSE_URL=x", "ATIVA_BROKER_URL=y", "POSTGRES_USER=z"]}
    )
    assert len(problems) == 1 and "'fake'" in problems[0] and "ATIVA_DATABSE_URL" in problems[0], problems
