"""``[tool.orgguard]`` settings: loading and validation.

Every key is declared once in :data:`SCHEMA`; unknown keys and wrong types are errors that name the
file, the key, what was expected and (for a misspelling) the closest valid key. The path patterns are
matched in :mod:`orgguard.engine.discover`, which also says which patterns are usable.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orgguard.engine.discover import (
    excluded_by,
    find_root,
    ignored_codes,
    path_patterns,
    pattern_problem,
    relative_to_root,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

DEFAULT_EXCLUDE: tuple[str, ...] = (
    ".git/",
    ".hg/",
    ".svn/",
    ".tox/",
    ".nox/",
    ".venv/",
    "venv/",
    ".eggs/",
    "*.egg-info/",
    "__pycache__/",
    "node_modules/",
    "site-packages/",
    "build/",
    "dist/",
    ".mypy_cache/",
    ".ruff_cache/",
    ".pytest_cache/",
    ".orgguard_cache/",
    "migrations/",
)

DEFAULT_EXEMPT: tuple[str, ...] = (
    "tests/",
    "test/",
    "test_*.py",
    "*_test.py",
    "tests.py",
    "conftest.py",
    "*seed*.py",
)


#: ``target-version`` values (as Ruff spells them): the grammars orgguard can parse with.
TARGET_VERSIONS: tuple[str, ...] = tuple(f"py3{minor}" for minor in range(7, 15))


class ConfigError(Exception):
    """A setting that cannot be used; the message is one line naming the file and the key."""


@dataclass(frozen=True)
class Setting:
    key: str
    # "str", "strlist", "str-or-strlist", "bool", "target-version", "codes" (rule codes or prefixes),
    # "patterns" (path patterns), "table-strlist" (path pattern = rule codes)
    kind: str
    default: Any
    doc: str


SCHEMA: tuple[Setting, ...] = (
    Setting(
        "tenant-model",
        "str-or-strlist",
        ["Organization"],
        "Class name(s) of the tenant model: Organization, Team, Workspace, Account, Project, User... A name "
        "the project does not have is an error (see [Names that must exist](#names-that-must-exist)).",
    ),
    Setting(
        "tenant-fields",
        "strlist",
        [],
        "Field names that hold the tenant on a model even when no foreign key names the tenant model "
        "(for example a bare `org_id` column).",
    ),
    Setting(
        "membership-model",
        "str-or-strlist",
        ["Membership", "OrganizationMembership", "OrganizationUser"],
        "Class name(s) of the model linking users to tenants. A name the project does not have is an error.",
    ),
    Setting(
        "shared-models",
        "strlist",
        [],
        "Class names of models that point at a tenant but that every tenant reads by design (a public template "
        "catalog its authors' workspaces publish to, a marketplace listing): they are not tenant-owned, and no "
        "tenant path passes through them (a template's versions are not owned through the template). A name "
        "the project does not have is an error.",
    ),
    Setting("select", "codes", ["ORG"], "Rule codes or prefixes to enable."),
    Setting("ignore", "codes", [], "Rule codes or prefixes to disable."),
    Setting(
        "exclude",
        "patterns",
        list(DEFAULT_EXCLUDE),
        "Path patterns never checked (replaces the defaults), in gitignore syntax (see [Path patterns]"
        "(#path-patterns)). Applies to paths passed explicitly too.",
    ),
    Setting(
        "extend-exclude",
        "patterns",
        [],
        "Path patterns never checked, in addition to `exclude` (read after it, so `!migrations/` takes a "
        "default back).",
    ),
    Setting(
        "respect-gitignore",
        "bool",
        True,
        "Whether files the project's `.gitignore` files (and `.git/info/exclude`) ignore are left out when "
        "orgguard walks directories. A file named on the command line is checked all the same.",
    ),
    Setting(
        "exempt-files",
        "patterns",
        list(DEFAULT_EXEMPT),
        "Path patterns of tests and seed scripts: never reported, not even for a syntax error (their own "
        "test run reports that).",
    ),
    Setting(
        "per-file-ignores",
        "table-strlist",
        {},
        "Map of path pattern to rule codes ignored in matching files; a `!pattern` key stands for the "
        "files the pattern does not match.",
    ),
    Setting(
        "extend-rules",
        "strlist",
        [],
        "Extra knowledge packs (TOML, same shape as rules/frameworks/*.toml), relative to the config file.",
    ),
    Setting(
        "target-version",
        "target-version",
        None,
        "The Python version whose grammar the project's files are parsed with, spelled as in Ruff "
        f"(`{TARGET_VERSIONS[0]}` to `{TARGET_VERSIONS[-1]}`). Not set: the lowest version `[project] "
        "requires-python` admits (`>=3.12` is `py312`), else the newest grammar orgguard knows. The grammar "
        "is never older than that of the Python running orgguard: newer grammars accept older code, so a "
        "file valid for the project's Python is never a parse error (ORG000).",
    ),
    Setting(
        "require-suppression-reason",
        "bool",
        True,
        "Whether `# orgguard: ignore[...]` needs a `-- reason`.",
    ),
)

_BY_KEY = {s.key: s for s in SCHEMA}


@dataclass(frozen=True)
class Config:
    """Validated settings for one project."""

    root: Path
    source: Path | None = None
    tenant_models: tuple[str, ...] = ("Organization",)
    tenant_fields: tuple[str, ...] = ()
    membership_models: tuple[str, ...] = ("Membership", "OrganizationMembership", "OrganizationUser")
    shared_models: tuple[str, ...] = ()
    select: tuple[str, ...] = ("ORG",)
    ignore: tuple[str, ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    extend_exclude: tuple[str, ...] = ()
    exempt_files: tuple[str, ...] = DEFAULT_EXEMPT
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    respect_gitignore: bool = True
    extend_rules: tuple[Path, ...] = ()
    require_suppression_reason: bool = True
    # (major, minor) of the project's Python grammar; None: not known (the newest grammar is used)
    target_version: tuple[int, int] | None = None
    explicit_keys: tuple[str, ...] = ()  # the keys the table sets (the names they give must exist)

    def with_selection(self, select: Sequence[str] | None, ignore: Sequence[str] | None) -> Config:
        """The same settings with command-line --select/--ignore applied (they replace the file's)."""
        from dataclasses import replace

        return replace(
            self,
            select=tuple(select) if select is not None else self.select,
            ignore=tuple(ignore) if ignore is not None else self.ignore,
        )

    def relpath(self, path: Path) -> str:
        """``path`` relative to the project root, POSIX style (outside the root: absolute, no leading /)."""
        return relative_to_root(self.root, path)

    def is_excluded(self, path: Path, *, is_dir: bool | None = None) -> bool:
        """Whether ``exclude``/``extend-exclude`` match the path (or a directory above it)."""
        if is_dir is None:
            is_dir = path.is_dir()
        return excluded_by(self).matches(self.relpath(path), is_dir=is_dir)

    def is_exempt(self, path: Path) -> bool:
        return self.is_exempt_rel(self.relpath(path))

    def is_exempt_rel(self, rel: str) -> bool:
        """Whether ``exempt-files`` match a root-relative path."""
        return path_patterns(self.exempt_files).matches(rel)

    def ignored_codes_for(self, path: Path) -> frozenset[str]:
        return ignored_codes(self.relpath(path), self.per_file_ignores)


def _check_type(source: str, key: str, value: Any, kind: str) -> Any:
    def fail(expected: str) -> ConfigError:
        return ConfigError(
            f"{source}: [tool.orgguard] key '{key}' must be {expected}, got {type(value).__name__} {value!r}"
        )

    if kind == "bool":
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise fail("a string")
        return value
    if kind == "target-version":
        if value not in TARGET_VERSIONS:
            text = value if isinstance(value, str) else str(value)
            close = difflib.get_close_matches(text.replace(".", "").lower(), TARGET_VERSIONS, n=1, cutoff=0.5)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(
                f"{source}: [tool.orgguard] key '{key}' must be one of {TARGET_VERSIONS[0]} ... "
                f"{TARGET_VERSIONS[-1]}, got {type(value).__name__} {value!r}{hint}"
            )
        return value
    if kind == "str-or-strlist" and isinstance(value, str):
        return [value]
    if kind in ("strlist", "str-or-strlist", "codes", "patterns"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail("a string or a list of strings" if kind == "str-or-strlist" else "a list of strings")
        return value
    if kind == "table-strlist":
        if not isinstance(value, dict):
            raise fail("a table of pattern = [codes]")
        for pattern, codes in value.items():
            if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
                raise ConfigError(
                    f"{source}: [tool.orgguard] key '{key}' entry '{pattern}' must be a list of rule codes, "
                    f"got {type(codes).__name__} {codes!r}"
                )
        return value
    raise AssertionError(kind)  # pragma: no cover


def check_codes(source: str, key: str, codes: Sequence[str], known: Sequence[str]) -> None:
    for code in codes:
        if not any(k.startswith(code) for k in known) or not code.startswith("ORG"):
            close = difflib.get_close_matches(code, known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(
                f"{source}: [tool.orgguard] key '{key}' names unknown rule code '{code}' "
                f"(expected a code or prefix of {', '.join(known[:3])}, ...){hint}"
            )


def check_pattern(source: str, key: str, written: str, pattern: str) -> None:
    problem = pattern_problem(pattern)
    if problem is not None:
        raise ConfigError(f"{source}: [tool.orgguard] key '{key}' pattern {written!r} {problem}")


_SPECIFIER = re.compile(r"\s*(~=|===|==|!=|<=|>=|<|>)\s*v?([0-9][0-9A-Za-z.*+!-]*)\s*")
_RELEASE_PART = re.compile(r"[0-9]+")


def lowest_python(spec: str) -> tuple[int, int] | None:
    """The lowest Python ``(major, minor)`` a ``requires-python`` specifier (PEP 440) admits.

    ``>=3.12``, ``~=3.12.1``, ``==3.12.*`` and ``>3.11`` (3.11.1 is above 3.11) give their version;
    ``!=X.Y.*`` moves the floor past an excluded minor version. None when the specifier has no lower
    bound (``<4``) or does not read as one: it says nothing about the grammar.
    """
    floor: tuple[int, int] | None = None
    excluded: set[tuple[int, int]] = set()
    for clause in spec.split(","):
        if not clause.strip():
            continue
        match = _SPECIFIER.fullmatch(clause)
        if match is None:
            return None
        op, version = match[1], match[2]
        parts = version.split(".")
        release = [m[0] for m in (_RELEASE_PART.match(p) for p in parts[:2]) if m is not None]
        if not release:
            return None
        major, minor = int(release[0]), int(release[1]) if len(release) > 1 else 0
        if op in (">=", ">", "~=", "==", "==="):
            floor = (major, minor) if floor is None else max(floor, (major, minor))
        elif op == "!=" and len(parts) == 3 and parts[2] == "*" and len(release) == 2:
            excluded.add((major, minor))
    if floor is None:
        return None
    while floor in excluded:
        floor = (floor[0], floor[1] + 1)
    return floor


def _target_version(value: str | None, requires_python: str | None) -> tuple[int, int] | None:
    if value is not None:  # "py312"
        return (int(value[2]), int(value[3:]))
    if requires_python is not None:
        return lowest_python(requires_python)
    return None


def parse_settings(
    table: Mapping[str, Any],
    *,
    root: Path,
    source: Path | None,
    known_codes: Sequence[str],
    requires_python: str | None = None,
) -> Config:
    """Validate a ``[tool.orgguard]`` table and build a :class:`Config`.

    ``requires_python``: the project's ``[project] requires-python``, for the grammar when the table has
    no ``target-version``.
    """
    where = str(source) if source else "configuration"
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _BY_KEY:
            close = difflib.get_close_matches(key, list(_BY_KEY), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; valid keys: {', '.join(_BY_KEY)}"
            raise ConfigError(f"{where}: [tool.orgguard] unknown key '{key}'{hint}")
        values[key] = _check_type(where, key, value, _BY_KEY[key].kind)

    def get(key: str) -> Any:
        return values.get(key, _BY_KEY[key].default)

    for setting in SCHEMA:
        if setting.key not in values:
            continue
        if setting.kind == "codes":
            check_codes(where, setting.key, values[setting.key], known_codes)
        elif setting.kind == "patterns":
            for pattern in values[setting.key]:
                check_pattern(where, setting.key, pattern, pattern)
        elif setting.kind == "table-strlist":
            for pattern, codes in values[setting.key].items():
                check_pattern(where, setting.key, pattern, pattern[1:] if pattern.startswith("!") else pattern)
                check_codes(where, setting.key, codes, known_codes)
    pfi = get("per-file-ignores")
    base = source.parent if source else root
    extend_rules = []
    for raw in get("extend-rules"):
        pack = (base / raw).resolve()
        if not pack.is_file():
            raise ConfigError(f"{where}: [tool.orgguard] key 'extend-rules' names a missing file '{raw}'")
        extend_rules.append(pack)
    return Config(
        root=root,
        source=source,
        tenant_models=tuple(get("tenant-model")),
        tenant_fields=tuple(get("tenant-fields")),
        membership_models=tuple(get("membership-model")),
        shared_models=tuple(get("shared-models")),
        select=tuple(get("select")),
        ignore=tuple(get("ignore")),
        exclude=tuple(get("exclude")),
        extend_exclude=tuple(get("extend-exclude")),
        exempt_files=tuple(get("exempt-files")),
        per_file_ignores=tuple((k, tuple(v)) for k, v in sorted(pfi.items())),
        respect_gitignore=bool(get("respect-gitignore")),
        extend_rules=tuple(extend_rules),
        require_suppression_reason=bool(get("require-suppression-reason")),
        target_version=_target_version(values.get("target-version"), requires_python),
        explicit_keys=tuple(sorted(values)),
    )


def load_config(*, start: Path, explicit: Path | None = None, known_codes: Sequence[str]) -> Config:
    """Find and load the settings for the project that holds ``start``.

    With ``explicit`` (``--config``), that file is read: a pyproject.toml (its ``[tool.orgguard]``
    table) or an orgguard TOML file whose top level is the table itself.
    """
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"{explicit}: config file not found")
        source: Path | None = explicit.resolve()
        root = find_root(start)
    else:
        root = find_root(start)
        candidate = root / "pyproject.toml"
        source = candidate if candidate.is_file() else None
    project_file = root / "pyproject.toml"
    if source is None:
        return parse_settings(
            {}, root=root, source=None, known_codes=known_codes, requires_python=_requires_python(project_file)
        )
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror}") from None
    if source.name == "pyproject.toml":
        table = data.get("tool", {}).get("orgguard", {})
    else:
        table = data.get("tool", {}).get("orgguard", data)
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [tool.orgguard] must be a table")
    requires = _requires_python(project_file, data if source == project_file.resolve() else None)
    return parse_settings(table, root=root, source=source, known_codes=known_codes, requires_python=requires)


def _requires_python(pyproject: Path, data: Mapping[str, Any] | None = None) -> str | None:
    """``[project] requires-python`` of the project's pyproject.toml (None: absent, or not readable).

    It is the packaging tools' key, not orgguard's: a file or value they would refuse is theirs to report.
    """
    if data is None:
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            return None
    project = data.get("project")
    value = project.get("requires-python") if isinstance(project, dict) else None
    return value if isinstance(value, str) else None
