"""The import layers of pyproject.toml ([tool.importlinter]) hold, and each contract catches the
breach it is there for: a copy of the code with one bad import fails `lint-imports`."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
LAYERS = "Layers: domain | db <- usecases <- entry points <- application <- cli"
ENTRY_POINTS = "Entry points (api, web, workers) do not import each other"
CLI = "The CLI reaches api, web and workers through workflow.application"
PURE_DOMAIN = "The domain is pure Python (no I/O, no settings)"


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(root), "COLUMNS": "200"},
        timeout=120,
    )


def verdicts(output: str) -> dict[str, str]:
    return {
        line.rsplit(" ", 1)[0]: line.rsplit(" ", 1)[1]
        for line in output.splitlines()
        if line.endswith((" KEPT", " BROKEN"))
    }


def test_the_layers_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert verdicts(result.stdout) == dict.fromkeys([LAYERS, ENTRY_POINTS, CLI, PURE_DOMAIN], "KEPT")


def source_of(module: str, root: Path) -> Path:
    path = root.joinpath(*module.split("."))
    return path.with_suffix(".py") if path.with_suffix(".py").exists() else path / "__init__.py"


@pytest.mark.parametrize(
    ("module", "bad_import", "broken"),
    [
        # The breaches issue 11 found: entry points reaching into each other.
        ("workflow.api.delinquency", "from workers.tasks import sweep_batch", {ENTRY_POINTS}),
        ("workflow.api.customers", "from workflow.web import rendering", {ENTRY_POINTS}),
        ("workflow.web.pages_delinquency", "from workers import app", {ENTRY_POINTS}),
        ("workflow.cli", "from workflow.api import schemas", {CLI}),
        # Lower layers never know the higher ones (and the UI, through a service that imported the
        # API, would reach it too); the domain and the database layer do not know each other, and the
        # domain knows no framework.
        ("workflow.usecases.customers", "from workflow.api import problems", {LAYERS, ENTRY_POINTS}),
        ("workflow.db.models", "from workflow.usecases import tokens", {LAYERS}),
        ("workflow.db.models", "from workflow.domain import vocabulary", {LAYERS}),
        ("workflow.domain.vocabulary", "from workflow.db import types", {LAYERS, PURE_DOMAIN}),
        ("workflow.domain.vocabulary", "import sqlalchemy", {PURE_DOMAIN}),
        ("workflow.domain.limits", "from workflow.settings import get_settings", {PURE_DOMAIN}),
    ],
)
def test_a_breach_fails_its_contract(tmp_path, module, bad_import, broken):
    for package in ("workflow", "workers"):
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "static", "templates")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    source = source_of(module, tmp_path)
    breach_line = len(source.read_text().splitlines()) + 2
    with source.open("a") as appended:
        appended.write(f"\n{bad_import}  # the breach\n")

    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    found = verdicts(result.stdout)
    assert {name for name, verdict in found.items() if verdict == "BROKEN"} == broken, result.stdout
    assert len(found) == 4, result.stdout
    assert f"l.{breach_line})" in result.stdout, result.stdout
