"""The pre-commit hooks run the checks of `make lint`, and CI runs `make lint` before the tests: a
commit that passes the hooks passes CI's gates, and a gate added to one place is added to the other."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def make_lint_commands() -> list[str]:
    recipe = re.search(r"^lint:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert recipe is not None, "the Makefile has no lint target"
    return [line.strip().removeprefix("$(VENV)/bin/") for line in recipe.group(1).splitlines()]


def pre_commit_hooks() -> list[dict]:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    return [hook for repo in config["repos"] for hook in repo["hooks"]]


def test_pre_commit_runs_the_checks_of_make_lint():
    # make checks the whole tree ("."); pre-commit passes the staged files (ruff excludes as configured).
    make = [re.sub(r" \.$", "", command) for command in make_lint_commands()]
    hooks = [hook["entry"].removeprefix(".venv/bin/").replace(" --force-exclude", "") for hook in pre_commit_hooks()]
    assert hooks == make == ["ruff check", "ruff format --check", "mypy", "lint-imports"]


def test_the_hooks_use_the_project_tools_without_downloading():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    assert {hook["language"] for hook in pre_commit_hooks()} == {"system"}
    assert all(hook["entry"].startswith(".venv/bin/") for hook in pre_commit_hooks())


def test_ci_runs_the_gates_before_the_tests():
    steps = (ROOT / ".ci" / "run").read_text().splitlines()
    assert steps.index("make lint") < steps.index("make test")
