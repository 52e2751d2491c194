"""How the `ativa` command fails: one line on stderr and a non-zero exit, never a traceback."""

import os
from typing import NoReturn

import typer
from pydantic import ValidationError
from sqlalchemy.exc import ArgumentError, OperationalError
from typer.core import TyperGroup

from ..domain.errors import AtivaError
from .console import err

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
            fail(f"{error.detail} [{error.code}]")
        except OperationalError as error:
            if _debug():
                raise
            reason = str(error.orig).strip().splitlines()[0] if error.orig else "unknown"
            fail(f"database error: {reason}")
        except ValidationError as error:  # a bad ATIVA_* variable
            fail(f"invalid configuration: {configuration_problems(error)}")
        except ArgumentError as error:
            fail(f"invalid ATIVA_DATABASE_URL: {error}")
        except Exception as error:  # noqa: BLE001 - reported in one line with a non-zero exit
            unexpected(error)


def configuration_problems(error: ValidationError) -> str:
    """Each problem of the settings on one line: `ATIVA_X: what is wrong` for one variable, the
    message alone for a rule between variables (it names them itself; it has no location)."""
    problems = []
    for problem in error.errors():
        message = _one_line(str(problem["msg"])).removeprefix("Value error, ")
        location = "_".join(map(str, problem["loc"])).upper()
        problems.append(f"ATIVA_{location}: {message}" if location else message)
    return "; ".join(problems)


def fail(message: str, exit_code: int = 1) -> NoReturn:
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
    fail(f"{where}{message}{hint}", error.exit_code)


def _debug() -> bool:
    return os.environ.get(DEBUG_VARIABLE, "").lower() not in ("", "0", "false", "no")


def unexpected(error: Exception) -> None:
    if _debug():
        raise error
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    fail(f"unexpected {type(error).__name__}: {first_line} (set {DEBUG_VARIABLE}=1 to see the traceback)")
