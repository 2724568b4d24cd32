"""The documentation site: generated pages never drift from the code, and `mkdocs build --strict` passes."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from orgguard.config import SCHEMA
from orgguard.knowledge import pack_schema
from orgguard.registry import all_rules

from .conftest import REPO, expectations, fixture_apps

sys.path.insert(0, str(REPO / "scripts"))
import gen_docs

PAGES = gen_docs.expected_pages()


@pytest.mark.parametrize("path", sorted(PAGES), ids=lambda p: str(p.relative_to(REPO)))
def test_generated_page_does_not_drift(path: Path) -> None:
    rel = path.relative_to(REPO)
    assert path.is_file(), f"{rel} missing: run `python scripts/gen_docs.py`"
    assert path.read_text(encoding="utf-8") == PAGES[path], f"{rel} is stale: run `python scripts/gen_docs.py`"


def test_expected_pages_cover_every_rule_and_generated_page() -> None:
    names = {p.relative_to(REPO).as_posix() for p in PAGES}
    assert {f"docs/rules/{code}.md" for code in all_rules()} <= names
    assert {"docs/rules/index.md", "docs/configuration.md", "docs/proof-matrix.md", "README.md"} <= names


def test_readme_rule_table_is_generated_between_its_markers() -> None:
    readme = PAGES[REPO / "README.md"]
    table = readme.split(gen_docs.README_BEGIN + "\n")[1].split(gen_docs.README_END)[0]
    assert table == gen_docs.readme_rules_table(all_rules())
    assert all(f"| {rule.summary} |" in table for rule in all_rules().values())


def test_readme_example_findings_are_the_snapshot_lines() -> None:
    """The README's sample output is what `orgguard check fixtures/django_saas` prints (tests/snapshots/)."""
    shown = [line for line in PAGES[REPO / "README.md"].splitlines() if line.startswith("fixtures/django_saas/")]
    snapshot = (REPO / "tests" / "snapshots" / "django_saas.txt").read_text(encoding="utf-8").splitlines()
    assert shown
    for line in shown:
        assert line.removeprefix("fixtures/django_saas/") in snapshot, line


def test_configuration_reference_covers_every_key() -> None:
    page = gen_docs.configuration_page()
    for setting in SCHEMA:
        assert f"### `{setting.key}`" in page and setting.doc in page
    for section, keys in pack_schema().items():
        assert f"### `[{section}]`" in page
        for key in keys:
            assert f"| `{key}` |" in page


def test_proof_matrix_counts_the_fixture_annotations() -> None:
    page = gen_docs.proof_matrix_page()
    for app in fixture_apps():
        assert gen_docs.expectations(app) == expectations(app)  # the same reading as the fixture tests
        total = len(expectations(app))
        framework = gen_docs.app_framework(app)
        assert f"| `fixtures/{app.name}` | {framework} | {total} |" in page
    for code in all_rules():
        assert f"| [{code}](rules/{code}.md) |" in page
    assert gen_docs.app_framework(REPO / "fixtures" / "django_saas") == "Django/DRF"
    assert gen_docs.app_framework(REPO / "fixtures" / "suppressions_app") == "Django/DRF"


def test_proof_matrix_rows_match_fixture_lines_per_rule_and_framework() -> None:
    page = gen_docs.proof_matrix_page()
    header = next(line for line in page.splitlines() if line.startswith("| rule | name | path class |"))
    frameworks = [c.strip() for c in header.strip("|").split("|")][3:-1]
    counts: dict[tuple[str, str], int] = {}
    for app in fixture_apps():
        fw = gen_docs.app_framework(app)
        for _path, _line, code in expectations(app):
            counts[(code, fw)] = counts.get((code, fw), 0) + 1
    for code in all_rules():
        row = next(
            line
            for line in page.splitlines()
            if line.startswith(f"| [{code}](rules/{code}.md) | {all_rules()[code].name} |")
        )
        cells = [c.strip() for c in row.strip("|").split("|")][3:-1]
        expected = [str(counts[(code, fw)]) if counts.get((code, fw)) else "—" for fw in frameworks]
        assert cells == expected, code


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}


def test_every_test_the_proof_matrix_cites_exists() -> None:
    cited = [*gen_docs.APP_TESTS, *gen_docs.RULE_TESTS, *(t for ts in gen_docs.OTHER_TESTS.values() for t in ts)]
    for test in cited:
        file, _, name = test.partition("::")
        assert (REPO / file).is_file(), test
        if name:
            assert name in _test_functions(REPO / file), test
    page = gen_docs.proof_matrix_page()
    for test in re.findall(r"`(tests/[\w/]+\.py(?:::\w+)?)", page):
        file, _, name = test.partition("::")
        assert (REPO / file).is_file() and (not name or name in _test_functions(REPO / file)), test


def test_nav_lists_rule_pages_and_optional_pages_only_when_they_exist(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    for rel in (
        "index.md",
        "configuration.md",
        "ci.md",
        "getting-started/django.md",
        "rules/index.md",
        "rules/ORG101.md",
    ):
        (docs / rel).parent.mkdir(parents=True, exist_ok=True)
        (docs / rel).write_text("# ORG101 unscoped-tenant-query\n" if "ORG" in rel else "# x\n")
    flat = str(gen_docs.nav(docs))
    assert "rules/ORG101.md" in flat and "ORG101 unscoped-tenant-query" in flat
    assert "runtime.md" not in flat and "performance.md" not in flat and "getting-started/flask.md" not in flat
    (docs / "runtime.md").write_text("# Runtime\n")
    (docs / "performance.md").write_text("# Performance\n")
    (docs / "other.md").write_text("# Something else\n")
    flat = str(gen_docs.nav(docs))
    assert "runtime.md" in flat and "performance.md" in flat and "'Something else': 'other.md'" in flat


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(REPO / "mkdocs.yml"), "-d", str(site)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    for page in ("index.html", "configuration/index.html", "proof-matrix/index.html", "ci/index.html"):
        assert (site / page).is_file(), page
    for fw in ("django", "flask", "fastapi"):
        assert (site / "getting-started" / fw / "index.html").is_file()
    for code in all_rules():
        assert (site / "rules" / code / "index.html").is_file(), code
    assert (site / "orgguard.schema.json").is_file()  # served where docs/configuration.md says
    # every page is in the navigation (the hook builds it from the files that exist)
    nav_html = (site / "index.html").read_text(encoding="utf-8")
    for code in all_rules():
        assert f"rules/{code}/" in nav_html, code
    if (REPO / "docs" / "runtime.md").is_file():
        assert "runtime/" in nav_html


def test_the_knowledge_pack_example_in_the_reference_loads(tmp_path: Path) -> None:
    from orgguard.knowledge import load_knowledge

    page = gen_docs.configuration_page()
    example = page.split("## Knowledge packs")[1].split("```toml\n", 1)[1].split("```", 1)[0]
    pack = tmp_path / "pack.toml"
    pack.write_text(example, encoding="utf-8")
    knowledge = load_knowledge([pack])
    assert "current_workspace" in knowledge["trusted.resolvers"]
