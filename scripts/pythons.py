"""The other Python versions orgguard supports, for the smoke test in tests/test_python_versions.py.

Usage: python scripts/pythons.py [--list]

The supported versions are the ``Programming Language :: Python :: 3.X`` classifiers of pyproject.toml.
The test suite runs on one interpreter; this script finds the others on the machine (``pythonX.Y`` on
PATH, pyenv's versions, /usr/bin, /usr/local/bin) and gives each one that cannot import orgguard's
dependencies a virtualenv with them, in ``~/.cache/orgguard-pythons/pyX.Y`` (or
``$ORGGUARD_PYTHONS_DIR``; pip, so the network is needed once). The smoke test then runs
``orgguard check`` from ``src/`` under each. ``--list`` only reports what is there. Exits 0 unless a
found interpreter could not be prepared.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
VERSIONS = tuple(
    m[1] for c in PYPROJECT["classifiers"] if (m := re.fullmatch(r"Programming Language :: Python :: (3\.\d+)", c))
)
DEPENDENCIES: list[str] = list(PYPROJECT["dependencies"])
ENVS = Path(os.environ.get("ORGGUARD_PYTHONS_DIR") or Path.home() / ".cache" / "orgguard-pythons")
CURRENT = f"{sys.version_info[0]}.{sys.version_info[1]}"


def _runs_as(python: str | Path, version: str) -> bool:
    """Whether ``python`` starts and is ``version`` (a pyenv shim for another version fails to start)."""
    try:
        proc = subprocess.run(
            [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except OSError:
        return False
    return proc.returncode == 0 and proc.stdout.strip() == version


def interpreter(version: str) -> Path | None:
    """An interpreter of this ``X.Y`` version on this machine, or None."""
    if version == CURRENT:
        return Path(sys.executable)
    name = f"python{version}"
    candidates: list[str | Path] = []
    if found := shutil.which(name):
        candidates.append(found)
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates += sorted(pyenv.glob(f"versions/{version}.*/bin/{name}"), reverse=True)
    candidates += [Path("/usr/local/bin") / name, Path("/usr/bin") / name]
    for candidate in candidates:
        if Path(candidate).exists() and _runs_as(candidate, version):
            return Path(candidate)
    return None


def has_dependencies(python: str | Path) -> bool:
    """Whether ``python`` imports orgguard (from src/) and its dependencies."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    code = "import libcst, orgguard.config"
    try:
        proc = subprocess.run([str(python), "-c", code], env=env, capture_output=True, timeout=120, check=False)
    except OSError:
        return False
    return proc.returncode == 0


def venv_python(version: str) -> Path:
    return ENVS / f"py{version}" / "bin" / "python"


def environment(version: str) -> Path | None:
    """The Python to run orgguard with under ``version``: the interpreter itself or its virtualenv."""
    found = interpreter(version)
    if found is None:
        return None
    for python in (found, venv_python(version)):
        if python.exists() and has_dependencies(python):
            return python
    return None


def prepare(version: str) -> Path:
    """A virtualenv of ``version`` with orgguard's dependencies (created when missing)."""
    found = interpreter(version)
    if found is None:
        raise LookupError(f"no Python {version}")
    python = venv_python(version)
    if not python.exists():
        subprocess.run([str(found), "-m", "venv", str(python.parent.parent)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *DEPENDENCIES], check=True
    )
    return python


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="report what is there; create nothing")
    args = parser.parse_args(argv)
    failed = 0
    for version in VERSIONS:
        found = interpreter(version)
        ready = environment(version)
        if found is None:
            print(f"Python {version}: not on this machine (its smoke test is skipped)")
        elif ready is not None:
            print(f"Python {version}: {ready}")
        elif args.list:
            print(f"Python {version}: {found}, without orgguard's dependencies")
        else:
            try:
                print(f"Python {version}: {prepare(version)} (prepared)")
            except (subprocess.CalledProcessError, OSError) as exc:
                print(f"Python {version}: {found}, could not be prepared: {exc}", file=sys.stderr)
                failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
