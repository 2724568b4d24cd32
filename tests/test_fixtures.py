"""Fixtures are the truth: every `# expect:` line is reported, every other line is clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from orgguard.engine.runner import load_project, run

from .conftest import expectations, fixture_apps


@pytest.mark.parametrize("app", fixture_apps(), ids=lambda p: p.name)
def test_fixture_app_matches_annotations_exactly(app: Path) -> None:
    project = load_project(app)
    result = run(project, [app], jobs=1, cwd=app)
    got = {(f.path, f.line, f.code) for f in result.findings}
    expected = expectations(app)
    assert expected, f"{app.name} has no `# expect:` annotations"
    missing = sorted(expected - got)
    unexpected = sorted(
        (f.path, f.line, f.code, f.message) for f in result.findings if (f.path, f.line, f.code) not in expected
    )
    assert not missing and not unexpected, f"missing={missing}\nunexpected={unexpected}"
    assert not result.errors


def test_there_are_fixture_apps() -> None:
    names = {p.name for p in fixture_apps()}
    assert "django_saas" in names
