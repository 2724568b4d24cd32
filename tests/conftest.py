"""Shared test helpers: the repository layout and running orgguard for real."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"

# the `# expect:` reader is the docs generator's (its proof matrix counts the same annotations)
sys.path.insert(0, str(REPO / "scripts"))
from gen_docs import expectations  # noqa: E402

__all__ = ["FIXTURES", "REPO", "expectations", "fixture_apps", "project", "run_cli", "write_tree"]


def fixture_apps() -> list[Path]:
    """Every fixture app: a directory under fixtures/ with its own pyproject.toml."""
    return sorted(p.parent for p in FIXTURES.glob("*/pyproject.toml"))


def run_cli(*args: str, cwd: Path | None = None, check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the real `orgguard` command line in a subprocess (uncoloured, whatever the caller's environment)."""
    return subprocess.run(
        [sys.executable, "-m", "orgguard", *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        check=check,
        timeout=600,
        env={k: v for k, v in os.environ.items() if k != "FORCE_COLOR"},
    )


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """An empty project directory (it has a pyproject.toml, so it is its own root)."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'tmp-app'\nversion = '0'\n")
    yield tmp_path
