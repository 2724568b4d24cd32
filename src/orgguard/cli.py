"""``orgguard`` command line: a thin adapter over the engine (no rule logic here).

Commands: ``check`` (the linter), ``explain CODE`` (a rule's docs), ``rules`` (the catalog) and
``init`` (a starter ``[tool.orgguard]`` section detected from the project).

Exit codes: 0 clean, 1 findings (or files that could not be read), 2 usage or configuration error
(a path that does not exist is one, reported before anything is read or written). ``--exit-zero``
turns 1 into 0. A text run ends with a summary line on stderr; the text format is coloured on a
terminal (``NO_COLOR``/``FORCE_COLOR`` honoured); the other formats keep stdout machine-readable.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import gc
import json
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from orgguard import __version__
from orgguard.config import ConfigError
from orgguard.docs import rule_text
from orgguard.engine.baseline import Baseline, BaselineError, compare, key_of
from orgguard.engine.runner import (
    DEFAULT_FILE_TIMEOUT,
    DEFAULT_MAX_FILE_SIZE,
    WORKER_GC_THRESHOLD,
    Project,
    RunResult,
    discover,
    load_project,
    run,
)
from orgguard.registry import Rule, all_rules
from orgguard.reporters import FORMATS, ReportContext, render
from orgguard.reporters.text import colour_wanted, statistics, summary

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a tool the closed pipe stopped
PROGRESS_DELAY = 1.0  # seconds before a run counts as long enough to show progress
PROGRESS_FILES = 2000  # or this many files: show progress at once


def _codes(value: str) -> list[str]:
    return [c.strip().upper() for c in value.split(",") if c.strip()]


def _number(value: str, what: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {value!r}") from None
    if not number >= 0 or number == float("inf"):
        raise argparse.ArgumentTypeError(f"expected {what}, got {value!r}")
    return number


def _jobs(value: str) -> int:
    number = _number(value, "a number of processes (0: one per core)")
    if number != int(number):
        raise argparse.ArgumentTypeError(f"expected a whole number of processes, got {value!r}")
    return int(number)


def _seconds(value: str) -> float:
    return _number(value, "a number of seconds (0: no limit)")


def _megabytes(value: str) -> int:
    number = _number(value, "a size in MB")
    if number <= 0:
        raise argparse.ArgumentTypeError(f"expected a size in MB above 0, got {value!r}")
    return int(number * 1_000_000)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orgguard",
        description="Find tenant-isolation bugs in multi-tenant Python SaaS code.",
    )
    parser.add_argument("--version", action="version", version=f"orgguard {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = sub.add_parser("check", help="check files or directories (default: .)")
    check.add_argument("paths", nargs="*", type=Path, help="files or directories to check")
    check.add_argument("--format", choices=FORMATS, default="text", help="output format")
    check.add_argument("--select", type=_codes, help="comma-separated codes or prefixes to enable")
    check.add_argument("--ignore", type=_codes, help="comma-separated codes or prefixes to disable")
    check.add_argument("--config", type=Path, help="settings file (pyproject.toml or orgguard.toml)")
    check.add_argument(
        "-j", "--jobs", type=_jobs, default=0, metavar="N", help="worker processes; 0 (the default): one per core"
    )
    check.add_argument(
        "--no-cache",
        action="store_true",
        help="neither read nor write the cache (.orgguard_cache/ at the project root)",
    )
    check.add_argument(
        "--cache-dir", type=Path, metavar="DIR", help="cache directory (default: .orgguard_cache/ at the project root)"
    )
    check.add_argument(
        "--file-timeout",
        type=_seconds,
        default=DEFAULT_FILE_TIMEOUT,
        metavar="SECONDS",
        help=f"analysis time per file before it is reported as timed out (default: {DEFAULT_FILE_TIMEOUT:g}; 0: none)",
    )
    check.add_argument(
        "--max-file-size",
        type=_megabytes,
        default=DEFAULT_MAX_FILE_SIZE,
        metavar="MB",
        help=f"files bigger than this are reported and skipped (default: {DEFAULT_MAX_FILE_SIZE / 1e6:g})",
    )
    check.add_argument("--output", "-o", type=Path, help="write the report to this file")
    check.add_argument(
        "--baseline", type=Path, metavar="FILE", help="report only findings not recorded in this baseline file"
    )
    check.add_argument(
        "--write-baseline",
        type=Path,
        metavar="FILE",
        help="record today's findings in this baseline file (and report none)",
    )
    check.add_argument(
        "--exit-zero", action="store_true", help="exit 0 even when there are findings (2 still means a usage error)"
    )
    check.add_argument(
        "--statistics",
        action="store_true",
        help="print the number of findings per code instead of the findings (--format text or json)",
    )
    check.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing but findings (no progress, no summaries)"
    )

    explain = sub.add_parser("explain", help="print a rule's documentation")
    explain.add_argument("code", help="rule code (ORG101) or name (unscoped-tenant-query)")

    rules = sub.add_parser("rules", help="list every rule: code, name, path class, severity")
    rules.add_argument("--format", choices=("text", "json"), default="text", help="output format")

    init = sub.add_parser("init", help="write a starter [tool.orgguard] section into ./pyproject.toml")
    init.add_argument("--stdout", action="store_true", help="print the section instead of writing it")
    init.add_argument(
        "path", nargs="?", type=Path, default=Path("."), help="project directory (default: the current one)"
    )
    return parser


# ---------------------------------------------------------------------------------------------------
# progress


def progress_wanted(stream: TextIO, env: Mapping[str, str], quiet: bool) -> bool:
    """Progress goes to a terminal only: never in pipes, files, CI or with --quiet."""
    if quiet or env.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


class Progress:
    """A one-line "checking N files... 3s" status on stderr, shown only once the run is long."""

    def __init__(self, stream: TextIO, files: int, *, delay: float = PROGRESS_DELAY, interval: float = 0.25) -> None:
        self.stream = stream
        self.files = files
        self.delay = 0.0 if files >= PROGRESS_FILES else delay
        self.interval = interval
        self.shown = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="orgguard-progress", daemon=True)
        self._start = time.monotonic()

    def __enter__(self) -> Progress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()

    def _loop(self) -> None:
        if self._stop.wait(self.delay):
            return
        while not self._stop.is_set():
            elapsed = time.monotonic() - self._start
            noun = "file" if self.files == 1 else "files"
            self.stream.write(f"\rorgguard: checking {self.files} {noun}... {elapsed:.0f}s")
            self.stream.flush()
            self.shown = True
            self._stop.wait(self.interval)


# ---------------------------------------------------------------------------------------------------
# check


def _say(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(f"orgguard: {message}", file=sys.stderr)


def _run(project: Project, args: argparse.Namespace, paths: list[Path]) -> RunResult:
    timeout = args.file_timeout or None
    if not progress_wanted(sys.stderr, os.environ, args.quiet):
        return run(project, paths, jobs=args.jobs, file_timeout=timeout)
    files, _ = discover(paths, project.config)
    with Progress(sys.stderr, len(files)):
        return run(project, paths, jobs=args.jobs, file_timeout=timeout)


def _usage_error(message: str) -> int:
    print(f"orgguard: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _check(args: argparse.Namespace) -> int:
    paths: list[Path] = args.paths or [Path(".")]
    # usage errors first, before anything is read or written (no cache directory left behind)
    missing = [str(p) for p in paths if not p.exists() and not p.is_symlink()]
    if missing:
        return _usage_error(f"{', '.join(missing)}: no such file or directory")
    if args.statistics and args.format not in ("text", "json"):
        return _usage_error(f"--statistics prints text or json, not {args.format}")
    baseline: Baseline | None = None
    if args.baseline is not None and args.write_baseline is None:
        try:
            baseline = Baseline.load(args.baseline)
        except BaselineError as exc:
            return _usage_error(str(exc))
    # this process is orgguard's own: collect young objects as seldom as its workers do (a file checked
    # here, a small run or one big file, builds hundreds of thousands of acyclic nodes)
    gc.set_threshold(WORKER_GC_THRESHOLD, 50, 100)
    try:
        project = load_project(
            paths[0],
            config_path=args.config,
            select=args.select,
            ignore=args.ignore,
            cache=False if args.no_cache else (args.cache_dir or True),
            max_file_size=args.max_file_size,
            jobs=args.jobs,
            named=paths,
        )
    except ConfigError as exc:
        return _usage_error(str(exc))
    cwd = Path.cwd()
    result = run_result = _run(project, args, paths)
    if not run_result.files and not run_result.errors:
        _say(args, "warning: no Python files found")
    colour = args.format == "text" and args.output is None and colour_wanted(sys.stdout, os.environ)
    ctx = ReportContext(cwd=cwd, root=project.config.root, rules=project.rules, colour=colour)
    keys = (
        {f: key_of(f, ctx.lines(f.path), ctx.root_relative(f.path)) for f in run_result.findings}
        if (baseline is not None or args.write_baseline is not None)
        else {}
    )

    if args.write_baseline is not None:
        try:
            Baseline.from_keys(keys.values()).write(args.write_baseline)
        except BaselineError as exc:
            return _usage_error(str(exc))
        _say(args, f"wrote {len(keys)} finding(s) to baseline {args.write_baseline}")
        for error in result.errors:
            print(f"orgguard: error: {error.path}: {error.message}", file=sys.stderr)
        return _exit_code(args, bool(result.errors))

    if baseline is not None:
        files, _ = discover(paths, project.config)
        checked = {ctx.root_relative(str(p)) for p in files}
        comparison = compare(run_result.findings, baseline, keys, checked_paths=checked)
        result = RunResult(
            findings=comparison.new,
            errors=run_result.errors,
            files=run_result.files,
            suppressed=run_result.suppressed,
        )
        ctx = ReportContext(
            cwd=cwd, root=project.config.root, rules=project.rules, baseline_stale=comparison.stale, colour=colour
        )
        if comparison.known:
            _say(args, f"{comparison.known} finding(s) recorded in baseline {args.baseline} not reported")
        if comparison.stale:
            gone = sum(int(e["count"]) for e in comparison.stale)
            _say(
                args,
                f"{gone} baseline finding(s) in {len(comparison.stale)} stale entr"
                f"{'y' if len(comparison.stale) == 1 else 'ies'} no longer occur (fixed or changed); "
                f"shrink the baseline with --write-baseline {args.baseline}",
            )
            if args.format == "text" and not args.quiet:
                for entry in comparison.stale:
                    print(
                        f"orgguard:   stale: {entry['path']}: {entry['code']} in {entry['function']}: "
                        f"{entry['statement']} (x{entry['count']})",
                        file=sys.stderr,
                    )

    output = statistics(result, ctx, fmt=args.format) if args.statistics else render(args.format, result, ctx)
    if args.output:
        args.output.write_text(output, encoding="utf-8")
    else:
        sys.stdout.write(output)
        sys.stdout.flush()  # the findings before the errors and the summary on a terminal
    if args.format == "text":
        for error in result.errors:
            print(f"orgguard: error: {error.path}: {error.message}", file=sys.stderr)
        if (run_result.files or result.errors) and not args.quiet:
            print(summary(result), file=sys.stderr)
    return _exit_code(args, bool(result.findings or result.errors))


def _exit_code(args: argparse.Namespace, failed: bool) -> int:
    return EXIT_FINDINGS if failed and not args.exit_zero else EXIT_CLEAN


# ---------------------------------------------------------------------------------------------------
# explain, rules, init


def _find_rule(text: str, rules: Mapping[str, Rule]) -> Rule | None:
    wanted = text.strip()
    if wanted.upper() in rules:
        return rules[wanted.upper()]
    by_name = {rule.name: rule for rule in rules.values()}
    return by_name.get(wanted.lower())


def _closest(text: str, rules: Mapping[str, Rule]) -> str | None:
    """The code closest to a mistyped code or name."""
    wanted = text.strip()
    if wanted.upper().startswith("ORG") or wanted.isdigit():
        code = wanted.upper() if wanted.upper().startswith("ORG") else f"ORG{wanted}"
        prefixed = sorted(c for c in rules if c.startswith(code))
        if prefixed:
            return prefixed[0]
        close = difflib.get_close_matches(code, list(rules), n=1, cutoff=0.0)
        return close[0] if close else None
    by_name = {rule.name: code for code, rule in rules.items()}
    close = difflib.get_close_matches(wanted.lower(), list(by_name), n=1, cutoff=0.0)
    return by_name[close[0]] if close else None


def _explain(args: argparse.Namespace) -> int:
    rules = all_rules()
    rule = _find_rule(args.code, rules)
    if rule is None:
        hint = ""
        close = _closest(args.code, rules)
        if close is not None:
            hint = f"; did you mean '{close}'?"
        print(f"orgguard: error: unknown rule '{args.code}'{hint} (`orgguard rules` lists them)", file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.write(rule_text(rule))
    return EXIT_CLEAN


def _rules(args: argparse.Namespace) -> int:
    rules = sorted(all_rules().values(), key=lambda r: r.code)
    if args.format == "json":
        doc = [
            {
                "code": r.code,
                "name": r.name,
                "path_class": r.path_class,
                "severity": r.severity,
                "cwe": r.cwe,
                "precision": r.precision,
                "summary": r.summary,
            }
            for r in rules
        ]
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return EXIT_CLEAN
    rows = [("CODE", "NAME", "PATH CLASS", "SEVERITY", "SUMMARY")]
    rows += [(r.code, r.name, r.path_class, r.severity, r.summary) for r in rules]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        sys.stdout.write("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4] + "\n")
    return EXIT_CLEAN


def _init(args: argparse.Namespace) -> int:
    from orgguard import init

    root: Path = args.path
    if not root.is_dir():
        print(f"orgguard: error: {root}: not a directory", file=sys.stderr)
        return EXIT_USAGE
    section = init.render(init.detect(root))
    if args.stdout:
        sys.stdout.write(section)
        return EXIT_CLEAN
    try:
        target = init.write(root, section)
    except init.InitError as exc:
        print(f"orgguard: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(
        f"orgguard: wrote a [tool.orgguard] section to {target}; review it, then run `orgguard check`", file=sys.stderr
    )
    return EXIT_CLEAN


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _dispatch(parser, args)
    except KeyboardInterrupt:
        print("orgguard: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left (`orgguard check . | head`): stop quietly, as a C tool would
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush cannot fail
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # last resort: one line, not a traceback (ORGGUARD_DEBUG=1 shows it)
        if os.environ.get("ORGGUARD_DEBUG"):
            raise
        what = f"{type(exc).__name__}: {exc}".splitlines()[0]
        print(f"orgguard: internal error: {what} (set ORGGUARD_DEBUG=1 for the traceback)", file=sys.stderr)
        return EXIT_USAGE


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "check":
        return _check(args)
    if args.command == "explain":
        return _explain(args)
    if args.command == "rules":
        return _rules(args)
    if args.command == "init":
        return _init(args)
    parser.print_help(sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
