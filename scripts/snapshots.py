"""Message snapshots of the fixture apps: every finding's position, code and message, one file per app.

``tests/snapshots/<app>.txt`` holds one line per finding of ``fixtures/<app>/``, sorted, in the text
format (``path:line:col: CODE message``). ``tests/test_fixtures.py`` fails with a diff when a message,
a column or a finding changes; after a deliberate change, rewrite the snapshots and review the diff:

    python scripts/snapshots.py --update    # rewrite tests/snapshots/*.txt
    python scripts/snapshots.py             # check only: print the diff of every stale snapshot, exit 1
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from orgguard.engine.findings import Finding

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
SNAPSHOTS = REPO / "tests" / "snapshots"
UPDATE = "python scripts/snapshots.py --update"


def fixture_apps() -> list[Path]:
    """Every fixture app: a directory under fixtures/ with its own pyproject.toml."""
    return sorted(p.parent for p in FIXTURES.glob("*/pyproject.toml"))


def snapshot_path(app: Path) -> Path:
    return SNAPSHOTS / f"{app.name}.txt"


def snapshot_text(findings: list[Finding]) -> str:
    """The snapshot of one app's findings (paths relative to the app)."""
    lines = sorted(f"{f.path}:{f.line}:{f.column}: {f.code} {f.message}" for f in findings)
    return "".join(f"{line}\n" for line in lines)


def app_findings(app: Path) -> list[Finding]:
    """The app's findings; ``RuntimeError`` when the run reports errors (a crashed checker skips a file:
    a snapshot of that would pin the loss)."""
    from orgguard.engine.runner import load_project, run

    result = run(load_project(app), [app], jobs=1, cwd=app)
    if result.errors:
        raise RuntimeError("; ".join(f"{app.name}/{e.path}: {e.message}" for e in result.errors))
    return result.findings


def snapshot_diff(app: Path, text: str) -> str:
    """A unified diff from the stored snapshot to ``text`` ("" when they agree)."""
    path = snapshot_path(app)
    stored = path.read_text(encoding="utf-8") if path.is_file() else ""
    rel = path.relative_to(REPO).as_posix()
    return "".join(
        difflib.unified_diff(
            stored.splitlines(keepends=True), text.splitlines(keepends=True), f"{rel} (stored)", f"{rel} (now)"
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true", help="rewrite the snapshots instead of checking them")
    parser.add_argument("apps", nargs="*", help="fixture app names (default: all)")
    args = parser.parse_args(argv)
    apps = [a for a in fixture_apps() if not args.apps or a.name in args.apps]
    SNAPSHOTS.mkdir(parents=True, exist_ok=True)
    stale = 0
    for app in apps:
        try:
            text = snapshot_text(app_findings(app))
        except RuntimeError as exc:
            print(f"not snapshotted, the run has errors: {exc}")
            return 2
        diff = snapshot_diff(app, text)
        if not diff:
            continue
        stale += 1
        sys.stdout.write(diff)
        if args.update:
            snapshot_path(app).write_text(text, encoding="utf-8")
    if not args.apps:
        known = {snapshot_path(a) for a in fixture_apps()}
        for orphan in sorted(set(SNAPSHOTS.glob("*.txt")) - known):
            stale += 1
            print(f"{orphan.relative_to(REPO)}: no fixture app of that name")
            if args.update:
                orphan.unlink()
    if args.update:
        print(f"{stale} snapshot(s) rewritten")
        return 0
    if stale:
        print(f"{stale} snapshot(s) stale: review the diff above, then run `{UPDATE}`")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
