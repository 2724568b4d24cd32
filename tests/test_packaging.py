"""The wheel ships the rule catalog; the pre-commit hook works through real `pre-commit try-repo`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import REPO, write_tree


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(REPO)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (whl,) = out.glob("orgguard-*.whl")
    return whl


def test_wheel_contains_rules_and_typing_marker(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    rules = sorted(p.name for p in (REPO / "rules").glob("ORG*.toml"))
    for name in rules:
        assert f"orgguard/_rules/{name}" in names
    for pack in (REPO / "rules" / "frameworks").glob("*.toml"):
        assert f"orgguard/_rules/frameworks/{pack.name}" in names
    assert "orgguard/py.typed" in names
    assert not any(n.startswith(("tests/", "fixtures/")) for n in names)


def test_wheel_loads_its_own_catalog(wheel: Path, tmp_path: Path) -> None:
    zipfile.ZipFile(wheel).extractall(tmp_path)
    code = "from orgguard.registry import rules_dir, all_rules; print(rules_dir()); print(len(all_rules()))"
    proc = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r}); {code}"],
        capture_output=True,
        text=True,
        check=True,
    )
    where, count = proc.stdout.split()
    assert where == str(tmp_path / "orgguard" / "_rules")
    assert int(count) == len(list((REPO / "rules").glob("ORG*.toml")))


BAD_VIEW = "from app.models import Invoice\n\ndef detail(request, pk):\n    return Invoice.objects.get(pk=pk)\n"
MODELS = (
    "from django.db import models\n\nclass Organization(models.Model):\n    pass\n\n"
    "class Invoice(models.Model):\n    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)\n"
)


def _git(repo: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=env)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is required for pre-commit")
def test_pre_commit_try_repo_fails_then_passes(tmp_path: Path) -> None:
    repo = write_tree(
        tmp_path / "host",
        {
            "pyproject.toml": "[project]\nname='host'\nversion='0'\n",
            "app/__init__.py": "",
            "app/models.py": MODELS,
            "app/views.py": BAD_VIEW,
            "app/migrations/0001_initial.py": BAD_VIEW,
        },
    )
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "init")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "pre_commit", "try-repo", str(REPO), "orgguard", "--all-files"]
    failing = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, env=env, timeout=900)
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "app/views.py:4:12: ORG101" in failing.stdout
    assert "migrations" not in failing.stdout.split("ORG101", 1)[1]
    (repo / "app/views.py").write_text(BAD_VIEW.replace("pk=pk", "pk=pk, organization=request.organization"))
    _git(repo, "commit", "-qam", "fix")
    passing = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, env=env, timeout=900)
    assert passing.returncode == 0, passing.stdout + passing.stderr
