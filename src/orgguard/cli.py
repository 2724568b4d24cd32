"""``orgguard`` command line: a thin adapter over the engine (no rule logic here).

Exit codes: 0 clean, 1 findings (or files that could not be read), 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from orgguard import __version__
from orgguard.config import ConfigError
from orgguard.engine.runner import load_project, run
from orgguard.reporters import REPORTERS

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def _codes(value: str) -> list[str]:
    return [c.strip().upper() for c in value.split(",") if c.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orgguard",
        description="Find tenant-isolation bugs in multi-tenant Python SaaS code.",
    )
    parser.add_argument("--version", action="version", version=f"orgguard {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = sub.add_parser("check", help="check files or directories (default: .)")
    check.add_argument("paths", nargs="*", type=Path, help="files or directories to check")
    check.add_argument("--format", choices=sorted(REPORTERS), default="text", help="output format")
    check.add_argument("--select", type=_codes, help="comma-separated codes or prefixes to enable")
    check.add_argument("--ignore", type=_codes, help="comma-separated codes or prefixes to disable")
    check.add_argument("--config", type=Path, help="settings file (pyproject.toml or orgguard.toml)")
    check.add_argument("-j", "--jobs", type=int, default=0, help="worker processes (default: all cores)")
    check.add_argument("--output", "-o", type=Path, help="write the report to this file")
    return parser


def _check(args: argparse.Namespace) -> int:
    paths: list[Path] = args.paths or [Path(".")]
    try:
        project = load_project(paths[0], config_path=args.config, select=args.select, ignore=args.ignore)
    except ConfigError as exc:
        print(f"orgguard: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    result = run(project, paths, jobs=args.jobs)
    output = REPORTERS[args.format](result)
    if args.output:
        args.output.write_text(output, encoding="utf-8")
    else:
        sys.stdout.write(output)
    if args.format == "text":
        for error in result.errors:
            print(f"orgguard: error: {error.path}: {error.message}", file=sys.stderr)
    return EXIT_FINDINGS if result.findings or result.errors else EXIT_CLEAN


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "check":
        return _check(args)
    parser.print_help(sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
