"""``orgguard init``: a starter ``[tool.orgguard]`` section detected from the project.

Detects the frameworks (imports in the project's Python files, and the dependency declarations in
pyproject.toml / requirements*.txt / setup.cfg / Pipfile) and the tenant model: the model classes named
like a tenant (Organization, Team, Workspace, Account, Tenant, Company, Project, ...) that other models
have foreign keys to, most referenced first, from the same project index the checks use. Never
overwrites an existing ``[tool.orgguard]`` section.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from orgguard import __version__
from orgguard.config import Config, parse_settings
from orgguard.engine.discover import iter_python_files
from orgguard.engine.join import build_index
from orgguard.engine.names import membership_candidates, tenant_candidates
from orgguard.knowledge import load_knowledge
from orgguard.registry import known_codes

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# import / distribution name -> the framework it means
FRAMEWORKS = {
    "django": "Django",
    "rest_framework": "Django REST framework",
    "djangorestframework": "Django REST framework",
    "flask": "Flask",
    "flask_sqlalchemy": "Flask-SQLAlchemy",
    "flask-sqlalchemy": "Flask-SQLAlchemy",
    "fastapi": "FastAPI",
    "starlette": "Starlette",
    "sqlalchemy": "SQLAlchemy",
    "sqlmodel": "SQLModel",
    "celery": "Celery",
    "rq": "RQ",
    "dramatiq": "Dramatiq",
    "stripe": "Stripe",
}
MAX_FILES = 5000
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
DOCS_URI = "https://orgguard.readthedocs.io/en/latest/configuration/"


class InitError(Exception):
    """Nothing was written; the message says why."""


@dataclass(frozen=True)
class Detection:
    frameworks: tuple[str, ...]
    tenant_candidates: tuple[tuple[str, int], ...]  # (model, number of models with a relation to it)
    membership_models: tuple[str, ...]

    @property
    def tenant_model(self) -> str:
        return self.tenant_candidates[0][0] if self.tenant_candidates else "Organization"


def _declared_dependencies(root: Path) -> set[str]:
    names: set[str] = set()
    candidates = [*root.glob("requirements*.txt"), *root.glob("requirements/*.txt"), root / "requirements.in"]
    for path in candidates:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            m = _REQUIREMENT.match(line)
            if m and not line.lstrip().startswith(("#", "-")):
                names.add(m.group(1).lower())
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError):
            data = {}
        project = data.get("project", {})
        deps = list(project.get("dependencies", []))
        for extra in project.get("optional-dependencies", {}).values():
            deps.extend(extra)
        poetry = data.get("tool", {}).get("poetry", {})
        deps.extend(poetry.get("dependencies", {}))
        for dep in deps:
            m = _REQUIREMENT.match(str(dep))
            if m:
                names.add(m.group(1).lower())
    for other in ("setup.cfg", "Pipfile", "setup.py"):
        try:
            text = (root / other).read_text(encoding="utf-8", errors="replace").lower()
        except OSError:
            continue
        names.update(name for name in FRAMEWORKS if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text))
    return names


def imported_modules(files: list[Path]) -> set[str]:
    """Top-level packages the files import (files that do not parse are skipped)."""
    names: set[str] = set()
    for path in files:
        try:
            tree = ast.parse(path.read_bytes())
        except (SyntaxError, ValueError, OSError, RecursionError, MemoryError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return names


def detect(root: Path) -> Detection:
    """Frameworks and tenant-model candidates of the project at ``root``."""
    config = Config(root=root.resolve())
    files = []
    for path in iter_python_files(root, config):
        files.append(path)
        if len(files) >= MAX_FILES:
            break
    used = {name.lower() for name in imported_modules(files)} | _declared_dependencies(root)
    frameworks = tuple(dict.fromkeys(label for name, label in FRAMEWORKS.items() if name in used))

    index = build_index(config.root, config, load_knowledge(), files=files)
    tenant_like = tenant_candidates(index)
    members = membership_candidates(index, tenant_like[0][0]) if tenant_like else []
    return Detection(frameworks, tuple(tenant_like), tuple(members))


def _toml_list(values: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def render(detection: Detection) -> str:
    """The starter section (valid TOML, validated against the settings schema)."""
    lines = ["[tool.orgguard]", f"# Written by `orgguard init` (orgguard {__version__}). Every key: {DOCS_URI}"]
    if detection.frameworks:
        lines.append(f"# Detected frameworks: {', '.join(detection.frameworks)}.")
    else:
        lines.append("# No web framework detected in imports or dependencies.")
    if detection.tenant_candidates:
        found = ", ".join(
            f"{m} ({n} {'models relate' if n != 1 else 'model relates'} to it)" for m, n in detection.tenant_candidates
        )
        lines.append(f"# Tenant model candidates: {found}.")
        lines.append(f'tenant-model = "{detection.tenant_model}"')
    else:
        lines.append("# No tenant model detected: set the class your app isolates by (Team, Workspace, User, ...).")
        lines.append('tenant-model = "Organization"')
    if detection.membership_models:
        lines.append(f"membership-model = {_toml_list(detection.membership_models)}")
    lines.append("# Tests and seed scripts are never reported (`exempt-files`); exclude vendored code here:")
    lines.append("extend-exclude = []")
    lines.append("# `# orgguard: ignore[ORG101] -- reason` needs a reason (ORG001 otherwise).")
    lines.append("require-suppression-reason = true")
    text = "\n".join(lines) + "\n"
    table = tomllib.loads(text)["tool"]["orgguard"]
    parse_settings(table, root=Path("."), source=None, known_codes=known_codes())  # raises if invalid
    return text


def write(root: Path, section: str) -> Path:
    """Append ``section`` to ``root/pyproject.toml`` (created when missing); never clobbers."""
    target = root / "pyproject.toml"
    existing = ""
    if target.exists():
        try:
            existing = target.read_text(encoding="utf-8")
            data = tomllib.loads(existing)
        except (OSError, UnicodeDecodeError) as exc:
            raise InitError(f"{target}: cannot read: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise InitError(f"{target}: invalid TOML, nothing written: {exc}") from None
        tool = data.get("tool", {})
        if isinstance(tool, dict) and "orgguard" in tool:
            raise InitError(
                f"{target}: already has a [tool.orgguard] section; nothing written "
                "(`orgguard init --stdout` prints the suggestion)"
            )
    separator = "" if not existing else ("\n" if existing.endswith("\n") else "\n\n")
    combined = existing + separator + section
    try:
        tomllib.loads(combined)
    except tomllib.TOMLDecodeError as exc:  # pragma: no cover - the section is valid on its own
        raise InitError(f"{target}: the result would not be valid TOML ({exc}); nothing written") from None
    try:
        target.write_text(combined, encoding="utf-8")
    except OSError as exc:
        raise InitError(f"{target}: cannot write: {exc.strerror or exc}") from None
    return target


__all__ = ["Detection", "InitError", "detect", "render", "write"]
