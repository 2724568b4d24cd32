"""Build the two 25,000-line files of the "one big file" benchmark, and time ``orgguard check`` on them.

Usage (from the repository root):

    python tests/benchmarks/bigfile.py [--runs 3] [--out /tmp/orgguard-bigfile] [--build-only]

- ``real/``: label-studio's own modules (the tree ``bench.py`` uses: ``label_studio/`` without
  ``migrations/``), concatenated in sorted path order, each under a ``# ---- <path>`` comment, until
  the file reaches 25,000 lines; a module that does not parse after the ones before it (a late
  ``from __future__`` import) is skipped.
- ``synthetic/``: two tenant-owned Django models, then request handlers full of queries (an unscoped
  ``get``, a scoped ``get_object_or_404``, a query narrowed only under a condition, a loop calling a
  helper that looks rows up by id), each with its helper, until 25,000 lines.

Each is alone in a project (its own ``pyproject.toml``). ``orgguard check --no-cache`` is timed on each
(wall time, CPU time and peak RSS of the largest process, ``wait4``), median of ``--runs``. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("ORGGUARD_CORPUS", Path.home() / ".cache" / "orgguard-corpus"))
TARGET = 25_000

SYNTHETIC_HEAD = """\
from django.db import models
from django.shortcuts import get_object_or_404

class Organization(models.Model):
    name = models.CharField(max_length=10)

class Invoice(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    status = models.CharField(max_length=10)
"""

SYNTHETIC_UNIT = """
def view_{n}(request, pk):
    invoice = Invoice.objects.get(pk=pk)
    other = get_object_or_404(Invoice, pk=pk, organization=request.organization)
    rows = Invoice.objects.filter(status='open')
    if request.GET.get('x'):
        rows = rows.filter(organization=request.organization)
    for r in rows:
        helper_{n}(r, pk)
    return invoice

def helper_{n}(row, pk):
    return Invoice.objects.filter(pk=pk).count()
"""


def real_source(root: Path) -> str:
    parts: list[str] = []
    count = 0
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent)
        if "migrations" in rel.parts:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        chunk = f"# ---- {rel.as_posix()}\n{text}" + ("" if text.endswith("\n") else "\n")
        try:
            compile("".join([*parts, chunk]), "big.py", "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            continue
        parts.append(chunk)
        count += chunk.count("\n")
        if count >= TARGET:
            break
    return "".join(parts)


def synthetic_source() -> str:
    parts = [SYNTHETIC_HEAD]
    count = SYNTHETIC_HEAD.count("\n")
    n = 0
    while count < TARGET:
        unit = SYNTHETIC_UNIT.format(n=n)
        parts.append(unit)
        count += unit.count("\n")
        n += 1
    return "".join(parts)


def build(out: Path) -> dict[str, Path]:
    projects = {
        "real": (out / "real", real_source(CORPUS / "label-studio" / "label_studio")),
        "synthetic": (out / "synthetic", synthetic_source()),
    }
    for project, source in projects.values():
        project.mkdir(parents=True, exist_ok=True)
        (project / "pyproject.toml").write_text("[project]\nname = 'big'\nversion = '0'\n")
        (project / "big.py").write_text(source, encoding="utf-8")
    return {name: project for name, (project, _) in projects.items()}


def timed(cmd: list[str], cwd: Path) -> tuple[float, float, int, int]:
    """Wall seconds, CPU seconds (user + system), peak RSS in kB, exit status."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    return wall, usage.ru_utime + usage.ru_stime, int(usage.ru_maxrss), os.waitstatus_to_exitcode(status)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("/tmp/orgguard-bigfile"))
    parser.add_argument("--build-only", action="store_true")
    args = parser.parse_args()
    projects = build(args.out)
    for name, project in projects.items():
        size = (project / "big.py").read_bytes().count(b"\n")
        print(f"{name}: {project / 'big.py'} ({size} lines)", file=sys.stderr)
    if args.build_only:
        return 0
    # orgguard's bytecode, as a wheel install leaves it (see bench.py: PYTHONDONTWRITEBYTECODE=1 would recompile it)
    import orgguard

    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(orgguard.__file__).parent)], check=True)
    cmd = [sys.executable, "-m", "orgguard", "check", "-q", "--no-cache", "--format", "json", "--file-timeout", "0"]
    print(f"load average at the start: {os.getloadavg()}")
    print("\n| file | median wall (s) | runs (s) | median CPU (s) | peak RSS (MB) |\n|---|---:|---|---:|---:|")
    for name, project in projects.items():
        walls, cpus, rss = [], [], []
        for _ in range(args.runs):
            wall, cpu, peak, status = timed([*cmd, "big.py"], project)
            if status not in (0, 1):
                print(f"{name}: exit {status}", file=sys.stderr)
            walls.append(wall)
            cpus.append(cpu)
            rss.append(peak)
        runs = ", ".join(f"{w:.2f}" for w in walls)
        print(
            f"| {name} | {statistics.median(walls):.2f} | {runs} | {statistics.median(cpus):.2f} | {max(rss) / 1024:.0f} |"
        )
    print(f"load average at the end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
