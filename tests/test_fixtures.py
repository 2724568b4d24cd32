"""Fixtures are the truth: every `# expect:` line is reported, every other line is clean, and every
finding's column and message are the ones in its app's snapshot (tests/snapshots/<app>.txt)."""

from __future__ import annotations

import dataclasses
import functools
import sys
from pathlib import Path

import pytest

from orgguard.engine.runner import RunResult, load_project, run

from .conftest import REPO, expectations, fixture_apps

sys.path.insert(0, str(REPO / "scripts"))
import snapshots


@functools.cache
def _result(app: Path) -> RunResult:
    """One run per fixture app, shared by the tests of this module."""
    return run(load_project(app), [app], jobs=1, cwd=app)


@pytest.mark.parametrize("app", fixture_apps(), ids=lambda p: p.name)
def test_fixture_app_matches_annotations_exactly(app: Path) -> None:
    result = _result(app)
    got = {(f.path, f.line, f.code) for f in result.findings}
    expected = expectations(app)
    assert expected, f"{app.name} has no `# expect:` annotations"
    missing = sorted(expected - got)
    unexpected = sorted(
        (f.path, f.line, f.code, f.message) for f in result.findings if (f.path, f.line, f.code) not in expected
    )
    assert not missing and not unexpected, f"missing={missing}\nunexpected={unexpected}"
    assert not result.errors


@pytest.mark.parametrize("app", fixture_apps(), ids=lambda p: p.name)
def test_fixture_app_messages_match_snapshot(app: Path) -> None:
    diff = snapshots.snapshot_diff(app, snapshots.snapshot_text(_result(app).findings))
    assert not diff, f"findings of fixtures/{app.name} changed (review, then `{snapshots.UPDATE}`):\n{diff}"


def test_every_fixture_app_has_a_snapshot_and_every_snapshot_an_app() -> None:
    apps = {snapshots.snapshot_path(app) for app in fixture_apps()}
    assert apps == set(snapshots.SNAPSHOTS.glob("*.txt"))


def test_a_changed_message_or_column_fails_with_a_readable_diff() -> None:
    app = REPO / "fixtures" / "django_saas"
    findings = _result(app).findings
    first = findings[0]
    doubled = first.message.replace("; ", " without a membership check; ", 1)
    assert doubled != first.message
    changed = [dataclasses.replace(first, message=doubled, column=first.column + 1), *findings[1:]]
    diff = snapshots.snapshot_diff(app, snapshots.snapshot_text(changed))
    assert f"-{first.path}:{first.line}:{first.column}: {first.code} {first.message}\n" in diff
    assert f"+{first.path}:{first.line}:{first.column + 1}: {first.code} {doubled}\n" in diff


def test_there_are_fixture_apps() -> None:
    names = {p.name for p in fixture_apps()}
    assert "django_saas" in names
