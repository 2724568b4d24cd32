"""Docs are tests: every Python example in the user docs is linted by the real command line.

Pages: docs/runtime.md, docs/getting-started/*.md and the *Example* / *Use instead* sections of every rule
page (docs/rules/ORGnnn.md, generated from rules/*.toml; the drift test keeps them equal).

Each page's ```python blocks are written as small projects in a temporary directory and checked with
``orgguard check --format json``. A line that must be reported carries ``# expect: ORGnnn`` (the fixtures'
convention); every other line must be clean, exactly. So a *Use instead* / runtime / getting-started block
that leaks, or an *Anti-pattern* / *Example* block that stops giving its codes, fails the suite.

Where the blocks go, from an HTML comment right before a block (invisible on the rendered page):

    <!-- orgguard-docs: project=sqlalchemy file=app/models.py tenant-model=Org -->

- ``project=NAME``: the page's project the block belongs to (default ``main``). A page that shows both a
  plain and an orgguard.runtime version of a model (before and after) keeps them in two projects.
- ``file=PATH``: the file it is written to (blocks naming one file are joined in page order); without it
  the block is a module of its own.
- ``tenant-model=NAME``: the project's ``[tool.orgguard] tenant-model`` (default ``Organization``).

A rule page's two blocks are each a project of their own (each is a complete example, as ``orgguard explain``
prints it). Blocks under a runtime.md ``**Anti-pattern** (ORG101, ...)`` heading must expect exactly the
codes the heading names.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from orgguard.registry import all_rules

from .conftest import REPO, expectations, run_cli

DOCS = REPO / "docs"
PROSE_PAGES = [DOCS / "runtime.md", *sorted((DOCS / "getting-started").glob("*.md"))]
RULE_SECTIONS = ("Example", "Use instead")
MARKER = re.compile(r"^<!--\s*orgguard-docs:(?P<attrs>.*?)-->\s*$")
ATTR = re.compile(r"(?P<key>[\w-]+)=(?P<value>\"[^\"]*\"|\S+)")
FENCE = re.compile(r"^```(?P<lang>[\w+-]*)\s*$")
ANTI = re.compile(r"^\*\*Anti-pattern\*\*\s*\((?P<codes>[^)]*)\)")
CODE = re.compile(r"ORG\d{3}")


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the first code line on the page
    text: str
    section: str  # the nearest heading ("## Example") or bold lead-in ("**Anti-pattern** (ORG101)")
    attrs: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


def page_blocks(page: Path) -> list[Block]:
    """Every ```python block of a page, with the marker before it and the section it sits in."""
    lines = page.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    section = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = FENCE.match(line)
        if fence is None:
            if line.startswith("#") or line.startswith("**"):
                section = line
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), len(lines))
        if fence.group("lang") == "python":
            attrs: dict[str, str] = {}
            back = i - 1
            while back >= 0 and not lines[back].strip():
                back -= 1
            marker = MARKER.match(lines[back]) if back >= 0 else None
            if marker is not None:
                attrs = {m["key"]: m["value"].strip('"') for m in ATTR.finditer(marker["attrs"])}
            out.append(Block(page, i + 2, "\n".join(lines[i + 1 : end]) + "\n", section, attrs))
        i = end + 1
    return out


def rule_blocks(code: str) -> list[Block]:
    page = DOCS / "rules" / f"{code}.md"
    return [b for b in page_blocks(page) if b.section.removeprefix("## ") in RULE_SECTIONS]


@dataclass
class DocProject:
    """One project of a page: its files (page blocks joined in order) and where each block landed."""

    name: str
    tenant_model: str = ""  # "": the default (Organization), so a block that shows no model is no config error
    files: dict[str, list[str]] = field(default_factory=dict)
    origins: list[tuple[str, int, int, Block]] = field(default_factory=list)  # (file, first, last line, block)

    def add(self, block: Block, default_file: str) -> None:
        rel = block.attrs.get("file", default_file)
        chunks = self.files.setdefault(rel, [])
        first = sum(c.count("\n") for c in chunks) + 1 + (2 if chunks else 0)
        chunks.append(("\n\n" if chunks else "") + block.text)
        self.origins.append((rel, first, first + block.text.count("\n") - 1, block))
        if "tenant-model" in block.attrs:
            self.tenant_model = block.attrs["tenant-model"]

    def locate(self, rel: str, line: int) -> str:
        """``docs/runtime.md:123`` for a line of a written file."""
        for file, first, last, block in self.origins:
            if file == rel and first <= line <= last:
                return f"{block.page.relative_to(REPO)}:{block.line + line - first}"
        return f"{rel}:{line}"

    def write(self, root: Path) -> Path:
        root.mkdir(parents=True)
        table = f'tenant-model = "{self.tenant_model}"\n' if self.tenant_model else ""
        (root / "pyproject.toml").write_text(
            f'[project]\nname = "docs-{self.name}"\nversion = "0"\n\n[tool.orgguard]\n{table}',
            encoding="utf-8",
        )
        for rel, chunks in self.files.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            for parent in target.relative_to(root).parents:
                if parent != Path("."):
                    (root / parent / "__init__.py").touch()
            target.write_text("".join(chunks), encoding="utf-8")
        return root


def page_projects(page: Path) -> dict[str, DocProject]:
    projects: dict[str, DocProject] = {}
    for n, block in enumerate(page_blocks(page), 1):
        for name in block.attrs.get("project", "main").split(","):
            projects.setdefault(name, DocProject(name)).add(block, f"example_{n}.py")
    return projects


def lint(project: DocProject, root: Path) -> list[str]:
    """Differences between what orgguard reports on the project and its `# expect:` lines, as page lines."""
    project.write(root)
    proc = run_cli("check", ".", "--format", "json", "--no-cache", "-j", "1", cwd=root)
    assert proc.returncode in (0, 1), f"exit {proc.returncode}: {proc.stderr}"
    data = json.loads(proc.stdout)
    assert not data["errors"], data["errors"]
    got = {(f["path"], f["line"], f["code"]): f["message"] for f in data["findings"]}
    expected = expectations(root)
    problems = [
        f"{project.locate(p, line)}: {code} expected, not reported" for p, line, code in sorted(expected - set(got))
    ]
    problems += [
        f"{project.locate(p, line)}: unexpected {code} {message}"
        for (p, line, code), message in sorted(got.items())
        if (p, line, code) not in expected
    ]
    return problems


def _cases() -> list[tuple[Path, str]]:
    return [(page, name) for page in PROSE_PAGES for name in sorted(page_projects(page))]


@pytest.mark.parametrize(("page", "name"), _cases(), ids=lambda v: v.name if isinstance(v, Path) else v)
def test_page_examples_give_exactly_their_expected_codes(page: Path, name: str, tmp_path: Path) -> None:
    project = page_projects(page)[name]
    problems = lint(project, tmp_path / name)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("code", sorted(all_rules()))
def test_rule_example_gives_its_code_and_use_instead_is_clean(code: str, tmp_path: Path) -> None:
    blocks = rule_blocks(code)
    assert [b.section for b in blocks] == ["## Example", "## Use instead"], code
    example, use_instead = blocks
    codes = {c for line in example.text.splitlines() for c in CODE.findall(line) if "expect:" in line}
    assert code in codes, f"{example.where}: the example has no `# expect: {code}` line"
    assert "expect:" not in use_instead.text, f"{use_instead.where}: a *Use instead* block expects findings"
    problems: list[str] = []
    for kind, block in (("example", example), ("use-instead", use_instead)):
        project = DocProject(kind)
        project.add(block, "app/views.py")
        problems += lint(project, tmp_path / kind)
    assert not problems, "\n".join(problems)


def test_anti_pattern_headings_name_the_codes_their_blocks_expect() -> None:
    """``**Anti-pattern** (ORG101, ORG102):`` says which codes the next block gives; the block's `# expect:`
    lines say where. They must agree, and every block after ``**With orgguard.runtime:**`` is clean."""
    seen = 0
    for page in PROSE_PAGES:
        for block in page_blocks(page):
            expected = {c for line in block.text.splitlines() if "expect:" in line for c in CODE.findall(line)}
            heading = ANTI.match(block.section)
            if heading is not None:
                seen += 1
                assert expected == set(CODE.findall(heading["codes"])), block.where
            else:
                assert not expected, f"{block.where}: only anti-pattern blocks expect findings"
    assert seen >= 8


def test_every_python_block_of_the_pages_is_linted() -> None:
    for page in PROSE_PAGES:
        blocks = page_blocks(page)
        assert blocks, page
        text = page.read_text(encoding="utf-8")
        assert len(blocks) == text.count("```python"), page
        placed = {b.line for project in page_projects(page).values() for _f, _a, _b, b in project.origins}
        assert placed == {b.line for b in blocks}, page
