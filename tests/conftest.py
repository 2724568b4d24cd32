"""Shared test helpers: the repository layout and running orgguard for real."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
EXPECT = re.compile(r"#\s*expect:\s*(?P<codes>ORG\d{3}(?:\s*,\s*ORG\d{3})*)")


def fixture_apps() -> list[Path]:
    """Every fixture app: a directory under fixtures/ with its own pyproject.toml."""
    return sorted(p.parent for p in FIXTURES.glob("*/pyproject.toml"))


def expectations(app: Path) -> set[tuple[str, int, str]]:
    """(relative path, line, code) for every `# expect: ORGnnn` comment in an app's Python files."""
    expected: set[tuple[str, int, str]] = set()
    for path in sorted(app.rglob("*.py")):
        rel = path.relative_to(app).as_posix()
        data = path.read_bytes()
        try:
            tokens = list(tokenize.tokenize(io.BytesIO(data).readline))
        except (tokenize.TokenError, SyntaxError):
            # files that do not tokenize (deliberate parse errors): plain text scan
            for lineno, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
                m = EXPECT.search(line)
                if m:
                    expected.update((rel, lineno, c.strip()) for c in m.group("codes").split(","))
            continue
        for tok in tokens:
            if tok.type == tokenize.COMMENT:
                m = EXPECT.search(tok.string)
                if m:
                    expected.update((rel, tok.start[0], c.strip()) for c in m.group("codes").split(","))
    return expected


def run_cli(*args: str, cwd: Path | None = None, check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the real `orgguard` command line in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "orgguard", *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        check=check,
        timeout=600,
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
