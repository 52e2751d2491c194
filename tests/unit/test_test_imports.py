"""No test module imports another: what tests share lives in support modules (tests/support.py,
tests/pipeline.py, tests/e2e/*_support.py, tests/integration/*_support.py), so running or moving
one test file never depends on another's fixtures or helpers."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def test_modules_imported(source: str, importer: str) -> list[str]:
    """The `test_*` modules that `source` (the module `importer`) imports, relative imports
    resolved: `import tests.e2e.test_x`, `from tests.e2e.test_x import y`, `from .test_x import y`,
    `from tests.e2e import test_x`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            package = importer.split(".")[: -node.level] if node.level else []
            base = ".".join([*package, *([node.module] if node.module else [])])
            modules = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        found += [m for m in modules if m.rsplit(".", 1)[-1].startswith("test_")]
    return found


test_modules_imported.__test__ = False  # a helper, not a test


def test_no_test_module_imports_another():
    offenders = {}
    for path in sorted(TESTS.rglob("*.py")):
        imported = test_modules_imported(path.read_text(), module_name(path))
        if imported:
            offenders[str(path.relative_to(ROOT))] = imported
    assert offenders == {}, f"move what these share into a support module: {offenders}"


@pytest.mark.parametrize(
    "source",
    [
        "from tests.e2e.test_billing_events import send",
        "from .test_billing_events import send",
        "from . import test_billing_events",
        "from tests.e2e import test_billing_events",
        "import tests.e2e.test_billing_events",
        "def helper():\n    from tests.e2e.test_billing_events import send\n",
    ],
)
def test_the_check_finds_each_form_of_import(source):
    assert test_modules_imported(source, "tests.e2e.test_hostile_input") != []


def test_the_check_leaves_support_modules_alone():
    source = "from tests.e2e.billing_support import send\nfrom .api_support import API\nimport tests.support\n"
    assert test_modules_imported(source, "tests.e2e.test_hostile_input") == []
