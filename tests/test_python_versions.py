"""orgguard on every Python it claims (pyproject classifiers 3.10-3.13): `orgguard check` on a fixture
app under each interpreter on this machine gives the same findings as under the one running the tests.

``python scripts/pythons.py`` (a step of scripts/test.sh) gives each other interpreter a virtualenv with
orgguard's dependencies; a version with no interpreter, or none prepared, is skipped, saying why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import pythons  # scripts/pythons.py (conftest puts scripts/ on sys.path)

from .conftest import FIXTURES, REPO, run_cli

APP = FIXTURES / "django_saas"
Key = tuple[str, int, int, str, str]


def _findings(stdout: str) -> set[Key]:
    doc = json.loads(stdout)
    assert not doc["errors"], doc["errors"]
    return {(f["path"], f["line"], f["column"], f["code"], f["message"]) for f in doc["findings"]}


@pytest.fixture(scope="module")
def reference() -> set[Key]:
    proc = run_cli("check", "--no-cache", "-j", "1", "--format", "json", str(APP.relative_to(REPO)), cwd=REPO)
    assert proc.returncode == 1, proc.stderr
    found = _findings(proc.stdout)
    assert found
    return found


def test_the_classifiers_name_every_supported_version() -> None:
    assert pythons.VERSIONS == ("3.10", "3.11", "3.12", "3.13")
    assert pythons.PYPROJECT["requires-python"] == ">=3.10"
    assert pythons.CURRENT in pythons.VERSIONS, f"the tests run on Python {pythons.CURRENT}, not a supported version"


@pytest.mark.parametrize("version", pythons.VERSIONS)
def test_orgguard_check_under_each_supported_python(version: str, reference: set[Key]) -> None:
    if version == pythons.CURRENT:
        return  # the reference run itself
    found = pythons.interpreter(version)
    if found is None:
        pytest.skip(f"no Python {version} on this machine")
    python = pythons.environment(version)
    if python is None:
        pytest.skip(
            f"Python {version} ({found}) has no libcst: `python scripts/pythons.py` gives it a virtualenv "
            f"with orgguard's dependencies in {pythons.ENVS}"
        )
    proc = subprocess.run(
        [
            str(python),
            "-m",
            "orgguard",
            "check",
            "--no-cache",
            "-j",
            "1",
            "--format",
            "json",
            str(APP.relative_to(REPO)),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(REPO / "src"), "PYTHONDONTWRITEBYTECODE": "1"},
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert _findings(proc.stdout) == reference
    assert sys.executable != str(python)
