"""The development corpus: twelve real apps, pinned, in one cache directory; runs and triage samples.

Usage:
    python scripts/corpus.py fetch [--dest DIR] [--mirrors DIR] [APP ...]
    python scripts/corpus.py run [--dest DIR] [--out DIR] [APP ...]
    python scripts/corpus.py sample [--out DIR] [--size 40] [--seed 14] [APP ...]

``fetch`` puts every app's pinned tree under DEST (default ``$ORGGUARD_CORPUS`` or
``~/.cache/orgguard-corpus``): the six wheels of the shared corpus (the same pins as ``../shared/corpus/fetch.sh``,
downloaded from the package index, ``.py`` files only) and six application repositories extracted at recorded commits
from local git snapshots (``MIRRORS/<owner>+<name>/repo``, a bare git directory; fetch it first).
Only ``.py`` files and the top-level ``pyproject.toml`` are extracted. Re-running skips what is there.

``run`` checks each app with its configuration (``scripts/corpus_configs/<app>.toml``, written from the
app's models before looking at any finding) and writes ``OUT/<app>.json`` (the CLI's JSON) and a
table of counts per app and code. ``sample`` prints the rows to triage: every finding of an app with
fewer than ``--size``, else a seeded random sample of ``--size`` stratified by code.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIGS = HERE / "corpus_configs"


@dataclass(frozen=True)
class Wheel:
    name: str
    spec: str
    python: str


@dataclass(frozen=True)
class Repo:
    name: str
    github: str  # owner/name
    commit: str


WHEELS = (
    Wheel("label-studio", "label-studio==1.23.2", "3.12"),
    Wheel("django", "django==6.1.3", "3.12"),
    Wheel("netbox", "netbox==4.7.3", "3.12"),
    Wheel("dj-stripe", "dj-stripe==2.11.0", "3.12"),
    Wheel("django-organizations", "django-organizations==2.7.0", "3.12"),
    Wheel("apache-superset", "apache-superset==6.1.0", "3.11"),
)

REPOS = (
    Repo("redash", "getredash/redash", "ca79fe988d81cdac9675b412f3dfcab107bc1fbc"),
    Repo("mealie", "mealie-recipes/mealie", "b5643a9399465d8b4ea339e7a6639df2d697741b"),
    Repo("openwisp-controller", "openwisp/openwisp-controller", "a795388fe0633f23e9cdd23ca72a8a113a33db3d"),
    Repo("recipes", "TandoorRecipes/recipes", "d206eddbd32bd3c40feff70ad780b0f91f325eaa"),
    Repo("taiga-back", "taigaio/taiga-back", "3bea7114007afd83478a8d6f2a70afd70d94dc21"),
    Repo("pretalx", "pretalx/pretalx", "5a3c2f61ecafc83cfa85aa518cc5af3d564b16ef"),
)

APPS = tuple(w.name for w in WHEELS) + tuple(r.name for r in REPOS)


def default_dest() -> Path:
    return Path(os.environ.get("ORGGUARD_CORPUS", Path.home() / ".cache" / "orgguard-corpus"))


def fetch_wheel(wheel: Wheel, dest: Path) -> None:
    target = dest / wheel.name
    if target.is_dir():
        return
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:"),
                *("--python-version", wheel.python, wheel.spec, "-d", tmp),
            ],
            check=True,
        )
        (whl,) = Path(tmp).glob("*.whl")
        staging = dest / f"{wheel.name}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        with zipfile.ZipFile(whl) as archive:
            for member in archive.namelist():
                if member.endswith(".py") and ".dist-info/" not in member:
                    archive.extract(member, staging)
        staging.rename(target)
    print(f"{wheel.name}: {sum(1 for _ in target.rglob('*.py'))} files")


def fetch_repo(repo: Repo, dest: Path, mirrors: Path) -> None:
    target = dest / repo.name
    if target.is_dir():
        return
    git_dir = mirrors / repo.github.replace("/", "+") / "repo"
    if not git_dir.is_dir():
        raise SystemExit(f"{repo.name}: no snapshot at {git_dir} (fetch github:{repo.github} first)")
    specs = ["*.py"]
    has_pyproject = subprocess.run(
        ["git", f"--git-dir={git_dir}", "cat-file", "-e", f"{repo.commit}:pyproject.toml"],
        check=False,
        capture_output=True,
    )
    if has_pyproject.returncode == 0:
        specs.append(":(top)pyproject.toml")
    archive = subprocess.run(  # pathspecs: a snapshot lacks its largest files, which are never .py
        ["git", f"--git-dir={git_dir}", "archive", "--format=tar", repo.commit, "--", *specs],
        check=True,
        capture_output=True,
    ).stdout
    staging = dest / f"{repo.name}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            if member.name.endswith(".py") or member.name == "pyproject.toml":
                handle = tar.extractfile(member)
                if handle is None:
                    continue
                out = staging / member.name
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(handle.read())
    staging.rename(target)
    (target / ".corpus-commit").write_text(f"{repo.github} {repo.commit}\n", encoding="utf-8")
    print(f"{repo.name}: {sum(1 for _ in target.rglob('*.py'))} files at {repo.commit[:12]}")


def config_for(app: str) -> Path | None:
    path = CONFIGS / f"{app}.toml"
    return path if path.is_file() else None


def run_app(app: str, dest: Path, out: Path, extra: list[str]) -> dict[str, object]:
    root = dest / app
    cmd = [sys.executable, "-m", "orgguard", "check", "--no-cache", "--format", "json", "-j", "2"]
    config = config_for(app)
    if config is not None:
        cmd += ["--config", str(config)]
    proc = subprocess.run([*cmd, *extra, "."], check=False, cwd=root, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{app}: exit {proc.returncode}\n{proc.stderr}")
    data = json.loads(proc.stdout)
    (out / f"{app}.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return data


def sample_rows(findings: list[dict[str, object]], size: int, seed: int) -> list[dict[str, object]]:
    """Every finding when there are fewer than ``size``; else ``size`` drawn per code in proportion."""
    if len(findings) <= size:
        return findings
    rng = random.Random(seed)
    by_code: dict[str, list[dict[str, object]]] = {}
    for f in findings:
        by_code.setdefault(str(f["code"]), []).append(f)
    quota = {code: max(1, round(size * len(rows) / len(findings))) for code, rows in by_code.items()}
    while sum(quota.values()) > size:
        biggest = max(quota, key=lambda c: quota[c])
        quota[biggest] -= 1
    while sum(quota.values()) < size:
        spare = [c for c in quota if quota[c] < len(by_code[c])]
        quota[max(spare, key=lambda c: len(by_code[c]) - quota[c])] += 1
    picked: list[dict[str, object]] = []
    for code in sorted(by_code):
        picked.extend(rng.sample(by_code[code], min(quota[code], len(by_code[code]))))
    return sorted(picked, key=lambda f: (str(f["path"]), int(str(f["line"])), str(f["code"])))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_fetch = sub.add_parser("fetch")
    p_fetch.add_argument("--dest", type=Path, default=default_dest())
    p_fetch.add_argument("--mirrors", type=Path, default=Path(os.environ.get("ORGGUARD_MIRRORS", "/work/.mirror")))
    p_fetch.add_argument("apps", nargs="*")  # none: every app
    p_run = sub.add_parser("run")
    p_run.add_argument("--dest", type=Path, default=default_dest())
    p_run.add_argument("--out", type=Path, default=Path("corpus-results"))
    p_run.add_argument("--select", default="")
    p_run.add_argument("apps", nargs="*")
    p_sample = sub.add_parser("sample")
    p_sample.add_argument("--out", type=Path, default=Path("corpus-results"))
    p_sample.add_argument("--size", type=int, default=40)
    p_sample.add_argument("--seed", type=int, default=14)
    p_sample.add_argument("apps", nargs="*")
    args = parser.parse_args(argv)

    if args.command == "fetch":
        args.dest.mkdir(parents=True, exist_ok=True)
        wanted = set(args.apps or APPS)
        unknown = sorted(wanted - set(APPS))
        if unknown:
            raise SystemExit(f"unknown app(s): {', '.join(unknown)}; known: {', '.join(APPS)}")
        for wheel in WHEELS:
            if wheel.name in wanted:
                fetch_wheel(wheel, args.dest)
        for repo in REPOS:
            if repo.name in wanted:
                fetch_repo(repo, args.dest, args.mirrors)
        print(f"corpus at {args.dest}")
        return 0
    apps = args.apps or list(APPS)
    unknown = sorted(set(apps) - set(APPS))
    if unknown:
        raise SystemExit(f"unknown app(s): {', '.join(unknown)}; known: {', '.join(APPS)}")
    if args.command == "run":
        args.out.mkdir(parents=True, exist_ok=True)
        extra = ["--select", args.select] if args.select else []
        total: Counter[str] = Counter()
        for app in apps:
            data = run_app(app, args.dest, args.out, extra)
            findings = data["findings"]
            assert isinstance(findings, list)
            counts = Counter(str(f["code"]) for f in findings)
            total.update(counts)
            errors = data.get("errors") or []
            shown = ", ".join(f"{c} {n}" for c, n in sorted(counts.items())) or "-"
            print(f"{app:22} {len(findings):5}  {shown}" + (f"  ({len(errors)} errors)" if errors else ""))
        print(f"{'total':22} {sum(total.values()):5}  " + ", ".join(f"{c} {n}" for c, n in sorted(total.items())))
        return 0
    for app in apps:
        data = json.loads((args.out / f"{app}.json").read_text(encoding="utf-8"))
        rows = sample_rows(data["findings"], args.size, args.seed)
        print(f"## {app}: {len(rows)} of {len(data['findings'])}")
        for f in rows:
            print(f"{f['path']}:{f['line']}:{f['column']}: {f['code']} {f['message']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
