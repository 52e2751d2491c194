"""README.md's configuration table stays in step with the settings object: every field of
Settings has its ATIVA_* row, and every row is a real setting (like test_compose.py for compose)."""

import re
from pathlib import Path

from workflow.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r"^\|\s*`ATIVA_([A-Z0-9_]+)`\s*\|", re.MULTILINE)


def configuration_table(readme: str) -> str:
    """The text of the `## Configuration` section, up to the next section."""
    section = readme.split("\n## Configuration\n", 1)
    assert len(section) == 2, "README.md has no `## Configuration` section"
    return section[1].split("\n## ", 1)[0]


def table_problems(readme: str, fields: set[str]) -> list[str]:
    documented = [name.lower() for name in ROW.findall(configuration_table(readme))]
    problems = [
        f"setting {name!r} has no row `ATIVA_{name.upper()}` in README.md's configuration table"
        for name in sorted(fields - set(documented))
    ]
    problems += [
        f"README.md documents `ATIVA_{name.upper()}`, which is no field of workflow.settings.Settings"
        for name in documented
        if name not in fields
    ]
    problems += [
        f"README.md documents `ATIVA_{name.upper()}` twice"
        for name in sorted({n for n in documented if documented.count(n) > 1})
    ]
    return problems


def test_every_setting_is_documented_in_the_readme_and_nothing_else():
    problems = table_problems(README.read_text(encoding="utf-8"), set(Settings.model_fields))
    assert not problems, "\n".join(problems)


def test_the_checker_reports_a_missing_an_unknown_and_a_repeated_row():
    readme = (
        "# X\n\n## Configuration\n\n| variable | default | meaning |\n|---|---|---|\n"
        "| `ATIVA_PORT` | `8000` | port |\n| `ATIVA_PORTT` | | typo |\n| `ATIVA_PORT` | | again |\n"
        "\n## Next\n\n| `ATIVA_HOST` | | outside the table's section: not counted |\n"
    )
    problems = table_problems(readme, {"port", "host"})
    assert len(problems) == 3, problems
    assert "'host'" in problems[0] and "ATIVA_PORTT" in problems[1] and "twice" in problems[2]
