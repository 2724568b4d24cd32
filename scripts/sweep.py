"""The full reliability sweep: orgguard over the interpreter's standard library and the whole corpus.

Usage: python scripts/sweep.py [--jobs N] [--corpus DIR] [--markdown]

Each tree (the stdlib, each corpus package) is checked as its own project, the way a user would run
``orgguard check`` on it, through the real command line (``--no-cache``, ``--format json``). A
traceback, an exit status other than 0/1, or an "internal error" counts as a failure; findings and
per-file errors (unreadable, too large) are counted and printed. Exits 1 if anything failed.
The corpus comes from ``python scripts/corpus.py fetch`` (default: ~/.cache/orgguard-corpus).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from pathlib import Path


def stdlib_project(scratch: Path) -> Path:
    """The interpreter's standard library (its .py files, no site-packages) as a project of its own.

    Copied, because the installed stdlib usually sits inside a larger tree (a pyenv checkout, a
    virtualenv) whose root would make the project index cover far more than the stdlib.
    """
    source = Path(sysconfig.get_paths()["stdlib"])
    target = scratch / "stdlib"
    if target.exists():
        shutil.rmtree(target)
    for path in source.rglob("*.py"):
        rel = path.relative_to(source)
        if "site-packages" in rel.parts or not path.is_file():
            continue
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / rel)
    (target / "pyproject.toml").write_text("[project]\nname = 'stdlib'\nversion = '0'\n", encoding="utf-8")
    return target


def trees(corpus: Path, scratch: Path) -> list[tuple[str, Path]]:
    out = [("stdlib", stdlib_project(scratch))]
    if corpus.is_dir():
        out += [(p.name, p) for p in sorted(corpus.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    return out


def sweep(name: str, root: Path, jobs: int) -> dict[str, object]:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "orgguard", "check", "--no-cache", "--format", "json", "-j", str(jobs), "."],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "ORGGUARD_DEBUG": "1"},  # an internal error shows its traceback (and counts)
    )
    wall = time.monotonic() - started
    failures: list[str] = []
    if "Traceback" in proc.stderr:
        failures.append("traceback: " + proc.stderr.strip().splitlines()[-1])
    if proc.returncode not in (0, 1):
        failures.append(f"exit status {proc.returncode}: {proc.stderr.strip()[-300:]}")
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        doc = {"findings": [], "errors": []}
        failures.append("no JSON report")
    findings = doc["findings"]
    errors = doc["errors"]
    internal = [e for e in errors if "internal error" in e["message"]]
    failures += [f"{e['path']}: {e['message']}" for e in internal]
    files = sum(1 for _ in _py_files(root))
    return {
        "tree": name,
        "files": files,
        "findings": len(findings),
        "by_code": dict(sorted(Counter(f["code"] for f in findings).items())),
        "errors": len(errors),
        "error_kinds": dict(Counter(e["message"].split(":")[0] for e in errors)),
        "failures": failures,
        "seconds": round(wall, 1),
    }


def _py_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.py") if "migrations" not in p.parts and "site-packages" not in p.parts]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", "-j", type=int, default=0)
    parser.add_argument(
        "--corpus", type=Path, default=Path(os.environ.get("ORGGUARD_CORPUS", Path.home() / ".cache/orgguard-corpus"))
    )
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table for docs/reliability.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="orgguard-sweep-") as scratch:
        rows = [sweep(name, root, args.jobs) for name, root in trees(args.corpus, Path(scratch))]
    failed = False
    for row in rows:
        print(json.dumps(row), flush=True)
        failed = failed or bool(row["failures"])
    total = {k: sum(int(r[k]) for r in rows) for k in ("files", "findings", "errors")}  # type: ignore[call-overload]
    print(f"TOTAL files={total['files']} findings={total['findings']} errors={total['errors']} "
          f"failures={sum(len(r['failures']) for r in rows)}")  # type: ignore[arg-type]  # fmt: skip
    if args.markdown:
        print(f"\nPython {platform.python_version()} on {platform.platform()}, {os.cpu_count()} cores\n")
        print("| tree | .py files | findings | per-file errors | tracebacks / internal errors | seconds |")
        print("|---|---:|---:|---:|---:|---:|")
        for r in rows:
            kinds = ", ".join(f"{k}: {v}" for k, v in r["error_kinds"].items()) or "-"  # type: ignore[attr-defined]
            print(f"| {r['tree']} | {r['files']} | {r['findings']} | {r['errors']} ({kinds}) | "
                  f"{len(r['failures'])} | {r['seconds']} |")  # type: ignore[arg-type]  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
