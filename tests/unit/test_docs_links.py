"""Every relative link in README.md and docs/*.md leads somewhere: the file (or folder) exists and,
when the link names an anchor, the target Markdown file has a heading with that anchor. And every
Markdown file the code cites (a comment's "see docs/architecture.md") exists."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CITED_MD = re.compile(r"(?<![\w./-])([\w./-]+\.md)\b")
SOURCE_FOLDERS = ("workflow", "workers", "bench", "tests")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def documents(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces become hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    found: set[str] = set()
    for heading in HEADING.findall(FENCE.sub("", markdown)):
        base = anchor(heading)
        name, n = base, 0
        while name in found:  # GitHub numbers repeated headings: name, name-1, name-2, ...
            n += 1
            name = f"{base}-{n}"
        found.add(name)
    return found


def broken_links(document: Path, root: Path) -> list[str]:
    text = FENCE.sub("", document.read_text(encoding="utf-8"))
    problems = []
    for target in LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, https:, mailto:
            continue
        path_part, _, fragment = target.partition("#")
        where = (document.parent / path_part).resolve() if path_part else document
        label = f"{document.relative_to(root)}: ({target})"
        if not where.exists():
            problems.append(f"{label}: no file {path_part}")
        elif fragment and where.suffix == ".md" and fragment not in anchors(where.read_text(encoding="utf-8")):
            problems.append(f"{label}: no heading with anchor #{fragment} in {where.relative_to(root)}")
    return problems


def test_every_relative_link_in_the_manuals_resolves():
    problems = [problem for document in documents(ROOT) for problem in broken_links(document, ROOT)]
    assert not problems, "\n".join(problems)


def cited_but_missing(root: Path) -> list[str]:
    """Markdown files named in Python sources, as paths from the project's root, that do not exist."""
    problems = []
    for folder in SOURCE_FOLDERS:
        for source in sorted((root / folder).rglob("*.py")):
            if source.name == Path(__file__).name:  # this file names made-up documents on purpose
                continue
            for name in CITED_MD.findall(source.read_text(encoding="utf-8")):
                if not (root / name).is_file():
                    problems.append(f"{source.relative_to(root)} cites {name}, which is not in the project")
    return problems


def test_every_markdown_file_the_code_cites_exists():
    problems = cited_but_missing(ROOT)
    assert not problems, "\n".join(problems)


def test_the_citation_checker_reports_a_missing_file(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "architecture.md").write_text("# A\n")
    (tmp_path / "workers").mkdir()
    (tmp_path / "workers" / "app.py").write_text('"""See docs/architecture.md and ARCHITECTURE.md traps."""\n')
    assert cited_but_missing(tmp_path) == ["workers/app.py cites ARCHITECTURE.md, which is not in the project"]


def test_the_docs_folder_holds_the_manuals_the_readme_links_to():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("architecture.md", "api.md", "cli.md", "web-ui.md", "benchmarks.md", "guia-do-operador.md"):
        assert f"](docs/{name}" in readme, f"README.md does not link docs/{name}"


def test_the_checker_reports_a_missing_file_and_a_missing_anchor(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\n## The effects pipeline\n\n## Crashes and outages\n")
    (tmp_path / "README.md").write_text(
        "[ok](docs/a.md#the-effects-pipeline) [ok too](docs/a.md#crashes-and-outages) [web](https://x.org/y)\n"
        "[gone](docs/b.md) [no anchor](docs/a.md#clocks) ![img](docs/img/x.png)\n"
        "```\n[in a code block](nowhere.md)\n```\n"
    )
    problems = broken_links(tmp_path / "README.md", tmp_path)
    assert len(problems) == 3, problems
    assert "no file docs/b.md" in problems[0]
    assert "#clocks" in problems[1]
    assert "docs/img/x.png" in problems[2]


def test_anchors_follow_github():
    assert anchor("Trust unlock, scheduled return, warnings, standing") == (
        "trust-unlock-scheduled-return-warnings-standing"
    )
    assert anchor("`ativa` and the *CLI*") == "ativa-and-the-cli"
    assert anchors("# Tests\n\n## Tests\n") == {"tests", "tests-1"}
