"""Meta-tests over the rule catalog: every rule has a checker, a fixture and docs that prove themselves."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from orgguard.checkers.base import Checker
from orgguard.engine.runner import load_project, run
from orgguard.knowledge import builtin_packs, load_knowledge, load_pack
from orgguard.registry import all_rules

from .conftest import REPO, expectations, fixture_apps

RULES = sorted(all_rules().values(), key=lambda r: r.code)
sys.path.insert(0, str(REPO / "scripts"))


def test_catalog_is_not_empty_and_codes_are_stable() -> None:
    codes = [r.code for r in RULES]
    assert codes == sorted(codes) and {"ORG000", "ORG001", "ORG002", "ORG101"} <= set(codes)
    assert len(set(r.name for r in RULES)) == len(RULES)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_every_rule_has_a_checker(rule) -> None:  # type: ignore[no-untyped-def]
    if rule.checker == "engine":  # parse errors and the suppression audit live in the engine itself
        assert rule.code in ("ORG000", "ORG001", "ORG002")
        return
    module_name, _, class_name = rule.checker.partition(":")
    module = importlib.import_module(f"orgguard.checkers.{module_name}")
    cls = getattr(module, class_name)
    assert issubclass(cls, Checker) and rule.code in cls.codes


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_every_rule_has_a_fixture_line(rule) -> None:  # type: ignore[no-untyped-def]
    hits = [e for app in fixture_apps() for e in expectations(app) if e[2] == rule.code]
    assert hits, f"no fixture line carries `# expect: {rule.code}`"


def _findings_for(tmp_path: Path, code: str, source: str) -> set[str]:
    tmp_path.mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text("[project]\nname='doc'\nversion='0'\n")
    app = tmp_path / "app"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "views.py").write_text(source + "\n")
    project = load_project(tmp_path, select=[code])
    return {f.code for f in run(project, [tmp_path], jobs=1, cwd=tmp_path).findings}


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_docs_example_triggers_and_use_instead_does_not(rule, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert rule.code in _findings_for(tmp_path / "bad", rule.code, rule.docs.example)
    assert rule.code not in _findings_for(tmp_path / "good", rule.code, rule.docs.use_instead)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_docs_have_every_section(rule) -> None:  # type: ignore[no-untyped-def]
    d = rule.docs
    assert all([d.what, d.why, d.example, d.use_instead, d.options, d.references])
    assert rule.message and rule.summary and rule.seed


def test_rule_pages_do_not_drift_from_rules() -> None:
    import gen_docs

    for path, text in gen_docs.expected_pages().items():
        assert path.is_file(), f"{path.name} missing: run `python scripts/gen_docs.py`"
        assert path.read_text(encoding="utf-8") == text, f"{path.name} is stale: run `python scripts/gen_docs.py`"


def test_framework_packs_load() -> None:
    k = load_knowledge()
    packs = {path.stem: load_pack(path) for path in builtin_packs()}
    assert {"django", "drf", "orgguard"} <= set(packs)
    for name, values in packs.items():  # every pack's entries are in the merged knowledge
        assert all(set(v) <= k[key] for key, v in values.items()), name
    assert "objects" in k["models.managers"] and "get_object_or_404" in k["queries.shortcuts"]


def test_readme_lists_every_rule() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for rule in RULES:
        assert f"| [{rule.code}](docs/rules/{rule.code}.md) | {rule.name} |" in readme, f"README.md lacks {rule.code}"
