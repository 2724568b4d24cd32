"""Benchmark orgguard against flake8 and Fixit on label-studio + django (migrations excluded for every tool).

Usage (from the repository root):

    python tests/benchmarks/bench.py [--runs 3] [--fixit-every 4] [--markdown]

Fetches the two wheels with ``scripts/corpus.py fetch`` (skips what is there), copies label-studio's and
django's package directories without their ``migrations/`` into a scratch project, installs flake8
(the version this interpreter has) and fixit==2.2.1 into their own virtualenvs under the scratch
directory (so flake8 runs with its default plugins only, not orgguard's), then times, alternating
the tools within each round:

- orgguard cold: ``orgguard check --no-cache .`` (default jobs = one per core);
- orgguard warm: ``orgguard check .`` again, nothing changed;
- flake8: ``flake8 -j2 --exclude migrations .``;
- Fixit: ``fixit lint`` on a fixed subset (every Nth file), scaled to the whole tree by line count;
- pre-commit shaped: ``orgguard check <10 files>`` with a warm project index (results of those 10
  files not cached); the same after appending a comment to the 10 files (their facts are rescanned,
  and are unchanged); and after appending a new function to each (new facts: the index is rebuilt).

It reports the median wall time, ratios and the peak RSS of the largest process (``wait4``). Not
collected by pytest (the file name does not start with ``test_``).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FETCH = REPO / "scripts" / "corpus.py"
CORPUS = Path(os.environ.get("ORGGUARD_CORPUS", Path.home() / ".cache" / "orgguard-corpus"))
SCRATCH = Path(os.environ.get("ORGGUARD_BENCH_DIR", "/tmp/orgguard-bench"))
PACKAGES = (("label-studio", "label_studio"), ("django", "django"))


@dataclass
class Timing:
    name: str
    walls: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)
    note: str = ""

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    @property
    def rss_mb(self) -> float:
        return max(self.rss_kb) / 1024


def sh(cmd: list[str], cwd: Path | None = None) -> None:
    subprocess.run(cmd, cwd=cwd, check=True)


def timed(cmd: list[str], cwd: Path) -> tuple[float, int, int]:
    """Wall seconds, peak RSS in kB of the largest process of the tree, exit status."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, int(usage.ru_maxrss), proc.returncode


def prepare(fixit_every: int) -> tuple[Path, list[Path], dict[str, Path]]:
    sh([sys.executable, str(FETCH), "fetch", "--dest", str(CORPUS), *(dist for dist, _ in PACKAGES)])
    tree = SCRATCH / "tree"
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    for dist, package in PACKAGES:
        shutil.copytree(CORPUS / dist / package, tree / package, ignore=shutil.ignore_patterns("migrations"))
    (tree / "pyproject.toml").write_text("[project]\nname = 'bench'\nversion = '0'\n")
    files = sorted(p for p in tree.rglob("*.py"))
    subset = files[::fixit_every]
    tools = {}
    import flake8

    for name, spec in (("flake8", f"flake8=={flake8.__version__}"), ("fixit", "fixit==2.2.1")):
        venv = SCRATCH / f"venv-{name}"
        if not (venv / "bin" / name).exists():
            sh([sys.executable, "-m", "venv", str(venv)])
            sh([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", spec])
        tools[name] = venv / "bin" / name
    # orgguard's own bytecode, as a wheel install leaves it (pip compiles what it installs; the tools' virtualenvs
    # have theirs): an editable install under PYTHONDONTWRITEBYTECODE=1 would recompile every module on each run
    import orgguard

    sh([sys.executable, "-m", "compileall", "-q", str(Path(orgguard.__file__).parent)])
    return tree, subset, tools


def lines(paths: list[Path]) -> int:
    return sum(p.read_bytes().count(b"\n") for p in paths)


def pick_ten(tree: Path) -> list[str]:
    """Ten application files of label-studio, spread over the tree (views, APIs, models...)."""
    candidates = sorted(
        p.relative_to(tree).as_posix()
        for p in (tree / "label_studio").rglob("*.py")
        if p.name in ("api.py", "views.py", "models.py", "functions.py", "serializers.py") and "tests" not in p.parts
    )
    step = max(1, len(candidates) // 10)
    return candidates[::step][:10]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--fixit-every", type=int, default=4, help="Fixit runs on every Nth file (scaled)")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    tree, subset, tools = prepare(args.fixit_every)
    all_files = sorted(tree.rglob("*.py"))
    total_lines = lines(all_files)  # before the pre-commit rounds append to ten of them
    scale = total_lines / lines(subset)
    orgguard = [sys.executable, "-m", "orgguard", "check", "-q", "--format", "json"]
    ten = pick_ten(tree)
    cache = tree / ".orgguard_cache"
    timings = {
        name: Timing(name)
        for name in ("orgguard cold", "orgguard warm", "flake8 -j2", "fixit (scaled)", "pre-commit 10 files", "pre-commit 10 edited", "pre-commit 10 new code")
    }  # fmt: skip
    timings["fixit (scaled)"].note = f"{len(subset)} of {len(all_files)} files, x{scale:.2f}"
    subset_args = [str(p.relative_to(tree)) for p in subset]
    for round_ in range(args.runs):
        print(f"round {round_ + 1}/{args.runs}", file=sys.stderr, flush=True)
        steps = [
            ("orgguard cold", [*orgguard, "--no-cache", "."], None),
            ("flake8 -j2", [str(tools["flake8"]), "-j2", "--exclude", "migrations", "."], None),
            ("orgguard warm", [*orgguard, "."], "prime"),
            ("fixit (scaled)", [str(tools["fixit"]), "lint", *subset_args], None),
            ("pre-commit 10 files", [*orgguard, *ten], "drop-results"),
            ("pre-commit 10 edited", [*orgguard, *ten], "edit-ten"),
            ("pre-commit 10 new code", [*orgguard, *ten], "code-ten"),
        ]
        for name, cmd, setup in steps:
            if setup == "prime":
                timed([*orgguard, "."], tree)
            elif setup == "drop-results":
                timed([*orgguard, "."], tree)  # warm everything, then forget the results (the index stays)
                for results in (*cache.glob("v*/results"), *cache.glob("v*/runs")):
                    shutil.rmtree(results, ignore_errors=True)
            elif setup == "edit-ten":
                timed([*orgguard, "."], tree)
                for rel in ten:
                    with open(tree / rel, "a", encoding="utf-8") as handle:
                        handle.write(f"# edited in round {round_}\n")
            elif setup == "code-ten":
                timed([*orgguard, "."], tree)
                for n, rel in enumerate(ten):
                    with open(tree / rel, "a", encoding="utf-8") as handle:
                        handle.write(f"\n\ndef _bench_added_{round_}_{n}(value):\n    return helper_{n}(value)\n")
            wall, rss, status = timed(cmd, tree)
            if name == "fixit (scaled)":
                wall *= scale
            timings[name].walls.append(wall)
            timings[name].rss_kb.append(rss)
            print(f"  {name}: {wall:.2f} s, {rss / 1024:.0f} MB, exit {status}", file=sys.stderr, flush=True)

    cold = timings["orgguard cold"].wall
    f8 = timings["flake8 -j2"].wall
    fx = timings["fixit (scaled)"].wall
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, {platform.platform()}")  # fmt: skip
    print(f"tree: {len(all_files)} files, {total_lines} lines (label-studio + django, no migrations)")
    print(f"load average at the end: {os.getloadavg()}")
    print("\n| run | median wall (s) | runs (s) | peak RSS (MB) | ratio |")
    print("|---|---:|---|---:|---|")
    ratios = {
        "orgguard cold": f"{cold / f8:.2f}x flake8 -j2, {cold / fx:.3f}x Fixit",
        "orgguard warm": f"{timings['orgguard warm'].wall / cold:.3f}x cold",
        "flake8 -j2": "1.00x",
        "fixit (scaled)": f"{fx / f8:.1f}x flake8 -j2 ({timings['fixit (scaled)'].note})",
        "pre-commit 10 files": "target <= 1.5 s",
        "pre-commit 10 edited": "target <= 1.5 s (a comment added: facts rescanned, unchanged)",
        "pre-commit 10 new code": "target <= 1.5 s (a function added: index rebuilt)",
    }
    for name, t in timings.items():
        runs = ", ".join(f"{w:.2f}" for w in t.walls)
        print(f"| {name} | {t.wall:.2f} | {runs} | {t.rss_mb:.0f} | {ratios[name]} |")
    print(f"\npre-commit files: {' '.join(ten)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
