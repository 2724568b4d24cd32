"""The one registry of rules, loaded from ``rules/ORGnnn.toml``.

In a wheel the catalog ships as ``orgguard/_rules``; in a source checkout (editable install) it is the
top-level ``rules/`` directory.
"""

from __future__ import annotations

import functools
import re
import string
import sys
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PATH_CLASSES = ("public", "admin", "webhook replay", "export", "accountability", "syntax")
SEVERITIES = ("error", "warning", "note")
_CODE = re.compile(r"^ORG\d{3}$")


def rules_dir() -> Path:
    """Where the rule catalog lives (wheel or source checkout)."""
    here = Path(__file__).resolve().parent
    packaged = here / "_rules"
    if packaged.is_dir():
        return packaged
    source = here.parent.parent / "rules"
    if source.is_dir():
        return source
    raise RuntimeError(f"orgguard rule catalog not found (looked in {packaged} and {source})")


@dataclass(frozen=True)
class RuleDocs:
    what: str
    why: str
    example: str
    use_instead: str
    options: str
    references: tuple[str, ...]


@dataclass(frozen=True)
class Trait:
    """A fact about a finding that picks a variant of a message template (``rules/messages.toml``)."""

    name: str
    doc: str
    modules: tuple[str, ...]  # a file importing one of these (or a submodule) has the trait


@dataclass(frozen=True)
class Template:
    """One named message template: its text, or its texts per combination of traits.

    ``variants`` maps ``"default"`` and trait combinations (``"django"``, ``"django+shortcut"``) to text.
    The variant used is the one whose traits the finding all has, with the most traits; ties go to the
    trait declared first in ``rules/messages.toml``; ``default`` when none applies.
    """

    name: str
    variants: Mapping[str, str]

    def text(self, traits: Collection[str], order: Sequence[str]) -> str:
        best: tuple[int, int] | None = None
        chosen = self.variants[DEFAULT]
        for key, text in self.variants.items():
            if key == DEFAULT:
                continue
            needs = key.split("+")
            if not all(t in traits for t in needs):
                continue
            rank = (len(needs), -min(order.index(t) for t in needs))
            if best is None or rank > best:
                best, chosen = rank, text
        return chosen

    def fields(self) -> list[str]:
        """Every ``{field}`` any variant names, in order of first use."""
        out: list[str] = []
        for text in self.variants.values():
            out.extend(f for f in template_fields(text) if f not in out)
        return out


@dataclass(frozen=True)
class Rule:
    """One rule of the catalog, as declared in its TOML file."""

    code: str
    name: str
    path_class: str
    seed: str
    severity: str
    message: str
    summary: str
    checker: str
    cwe: str
    precision: str
    docs: RuleDocs
    # every template the rule's messages are made of: "message", its [messages] shapes, its [parts] and the
    # shared parts of rules/messages.toml; field name -> meaning, for the docs
    templates: Mapping[str, Template] = field(default_factory=dict)
    shapes: tuple[str, ...] = ("message",)
    parts: tuple[str, ...] = ()  # the rule's own [parts], in file order
    fields: Mapping[str, str] = field(default_factory=dict)
    traits: tuple[Trait, ...] = ()

    def format(self, **values: str) -> str:
        """The message template with its placeholders filled."""
        return self.render(values)

    def render(self, values: Mapping[str, str], *, shape: str = "message", traits: Collection[str] = ()) -> str:
        """The message of one finding: the ``shape`` template (the rule's ``message`` by default) with its
        fields filled from ``values`` and, for fields the checker does not give, from the rule's parts of
        that name (rendered the same way, in the variant the finding's ``traits`` pick)."""
        return self._render(shape, values, traits, 0)

    def phrase(self, name: str, values: Mapping[str, str], traits: Collection[str] = ()) -> str:
        """One part of the rule's messages, filled (what a checker passes as the value of a field)."""
        return self._render(name, values, traits, 0)

    def _render(self, name: str, values: Mapping[str, str], traits: Collection[str], depth: int) -> str:
        template = self.templates.get(name)
        if template is None:
            raise KeyError(f"{self.code} has no message template {name!r}")
        if depth > MAX_DEPTH:
            raise ValueError(f"{self.code}: message template {name!r} nests too deep")
        order = [t.name for t in self.traits]
        text = template.text(traits, order)
        filled: dict[str, str] = {}
        for key in template_fields(text):
            if key in values:
                filled[key] = values[key]
            elif key in self.templates:
                filled[key] = self._render(key, values, traits, depth + 1)
            else:
                raise KeyError(f"{self.code} message template {name!r} needs a value for {{{key}}}")
        return text.format_map(filled)


DEFAULT = "default"
MAX_DEPTH = 8
_REQUIRED = ("code", "name", "path_class", "seed", "severity", "message", "summary", "checker", "docs")
_OPTIONAL = ("cwe", "precision", "messages", "parts", "fields")
_DOC_KEYS = ("what", "why", "example", "use_instead", "options", "references")
_FIELD = re.compile(r"^[a-z][a-z0-9_]*$")
MESSAGES_FILE = "messages.toml"


def template_fields(text: str) -> list[str]:
    """The ``{field}`` names of a template (``ValueError`` for anything but plain names)."""
    out: list[str] = []
    for _literal, name, spec, conversion in string.Formatter().parse(text):
        if name is None:
            continue
        if not _FIELD.match(name) or spec or conversion:
            raise ValueError(f"placeholder {{{name}}} must be a plain lower-case name, as {{model}}")
        if name not in out:
            out.append(name)
    return out


@dataclass(frozen=True)
class _Shared:
    """The shared part of every rule's messages (``rules/messages.toml``)."""

    traits: tuple[Trait, ...]
    parts: Mapping[str, Template]
    fields: Mapping[str, str]


def _template(where: str, name: str, raw: object, trait_names: Collection[str], table: str = "") -> Template:
    """The template ``name`` (of the TOML table ``table``) from its string or table of variants."""
    shown = f"{table}.{name}" if table else name
    if isinstance(raw, str):
        variants = {DEFAULT: raw}
    elif isinstance(raw, dict) and all(isinstance(v, str) for v in raw.values()):
        variants = dict(raw)
    else:
        raise ValueError(f"{where}: {shown} must be a string or a table of trait variants to strings")
    if DEFAULT not in variants:
        raise ValueError(f"{where}: {shown} needs a `default` variant")
    for key, text in variants.items():
        if key != DEFAULT:
            unknown = [t for t in key.split("+") if t not in trait_names]
            if unknown:
                known = sorted(trait_names)
                raise ValueError(f"{where}: {shown}.{key}: unknown trait {unknown[0]!r} (traits: {known})")
        try:
            template_fields(text)
        except ValueError as exc:
            raise ValueError(f"{where}: {shown}: {exc}") from None
    return Template(name, variants)


@functools.lru_cache(maxsize=4)
def _load_shared(path: Path) -> _Shared:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    unknown = set(data) - {"traits", "parts", "fields"}
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
    traits = []
    for name, spec in data.get("traits", {}).items():
        if not _FIELD.match(name) or set(spec) - {"doc", "modules"} or "doc" not in spec:
            raise ValueError(f"{path}: [traits.{name}] needs a lower-case name and `doc` (and optional `modules`)")
        traits.append(Trait(name, spec["doc"].strip(), tuple(spec.get("modules", ()))))
    names = {t.name for t in traits}
    parts = {name: _template(str(path), name, raw, names, "parts") for name, raw in data.get("parts", {}).items()}
    return _Shared(tuple(traits), parts, dict(data.get("fields", {})))


def _check_templates(path: Path, templates: Mapping[str, Template], fields: Mapping[str, str]) -> None:
    """Every placeholder is a declared field or another template; no template contains itself."""
    for template in templates.values():
        for name in template.fields():
            if name not in fields and name not in templates:
                raise ValueError(f"{path}: {template.name} uses {{{name}}}, neither a declared field nor a part")

    def visit(name: str, stack: tuple[str, ...]) -> None:
        if name in stack:
            raise ValueError(f"{path}: message template {name!r} contains itself ({' -> '.join((*stack, name))})")
        for inner in templates[name].fields():
            if inner in templates:
                visit(inner, (*stack, name))

    for name in templates:
        visit(name, ())


def _parse_rule(path: Path, data: Mapping[str, Any], shared: _Shared) -> Rule:
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise ValueError(f"{path}: missing keys {missing}")
    unknown = set(data) - {*_REQUIRED, *_OPTIONAL}
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
    code = data["code"]
    if not _CODE.match(code) or path.stem != code:
        raise ValueError(f"{path}: code {code!r} must be ORGnnn and match the file name")
    if data["path_class"] not in PATH_CLASSES:
        raise ValueError(f"{path}: path_class must be one of {PATH_CLASSES}")
    if data["severity"] not in SEVERITIES:
        raise ValueError(f"{path}: severity must be one of {SEVERITIES}")
    docs = data["docs"]
    missing_docs = [k for k in _DOC_KEYS if k not in docs]
    if missing_docs:
        raise ValueError(f"{path}: docs missing {missing_docs}")
    trait_names = {t.name for t in shared.traits}
    where = str(path)
    own: dict[str, Template] = {"message": _template(where, "message", data["message"], trait_names)}
    shapes = ["message"]
    parts: list[str] = []
    for table in ("messages", "parts"):
        for name, raw in data.get(table, {}).items():
            if name in own:
                raise ValueError(f"{path}: {table}.{name}: the name is taken by another template of the rule")
            own[name] = _template(where, name, raw, trait_names, table)
            (shapes if table == "messages" else parts).append(name)
            if table == "messages" and (name in shared.fields or name in data.get("fields", {})):
                raise ValueError(f"{path}: messages.{name}: a message shape cannot share its name with a field")
    templates = {**shared.parts, **own}
    fields = {**shared.fields, **data.get("fields", {})}
    _check_templates(path, templates, fields)
    used = {f for name in (*shapes, *parts) for f in (name, *_reachable(name, templates))}
    unused = sorted(set(data.get("fields", {})) - used)
    if unused:
        raise ValueError(f"{path}: [fields] {unused} are used by no message template of the rule")
    return Rule(
        code=code,
        name=data["name"],
        path_class=data["path_class"],
        seed=data["seed"],
        severity=data["severity"],
        message=own["message"].variants[DEFAULT],
        summary=data["summary"],
        checker=data["checker"],
        cwe=data.get("cwe", "CWE-639"),
        precision=data.get("precision", "high"),
        docs=RuleDocs(
            what=docs["what"].strip(),
            why=docs["why"].strip(),
            example=docs["example"].strip("\n"),
            use_instead=docs["use_instead"].strip("\n"),
            options=docs["options"].strip(),
            references=tuple(docs["references"]),
        ),
        templates=templates,
        shapes=tuple(shapes),
        parts=tuple(parts),
        fields={k: v.strip() for k, v in fields.items() if k in used and k not in own},
        traits=shared.traits,
    )


def _reachable(name: str, templates: Mapping[str, Template]) -> list[str]:
    """Every field and part a template uses, directly or through its parts."""
    out: list[str] = []
    stack = [name]
    while stack:
        for inner in templates[stack.pop()].fields():
            if inner not in out:
                out.append(inner)
                if inner in templates:
                    stack.append(inner)
    return out


@functools.lru_cache(maxsize=4)
def load_rules(directory: Path) -> tuple[Rule, ...]:
    """Every rule of a catalog directory (``ORGnnn.toml`` files and their ``messages.toml``), validated:
    ``ValueError`` naming the file and the key for anything malformed."""
    shared = _load_shared(directory / MESSAGES_FILE)
    rules = []
    for path in sorted(directory.glob("ORG*.toml")):
        rules.append(_parse_rule(path, tomllib.loads(path.read_text(encoding="utf-8")), shared))
    return tuple(rules)


def traits() -> tuple[Trait, ...]:
    """The traits message variants are picked by, in priority order (``rules/messages.toml``)."""
    return _load_shared(rules_dir() / MESSAGES_FILE).traits


def shared_parts() -> Mapping[str, Template]:
    """The message parts every rule may use (``rules/messages.toml``)."""
    return _load_shared(rules_dir() / MESSAGES_FILE).parts


def all_rules() -> Mapping[str, Rule]:
    """Every rule of the catalog, by code (read once per process; the catalog is immutable)."""
    return {rule.code: rule for rule in load_rules(rules_dir())}


def known_codes() -> list[str]:
    return sorted(all_rules())


def enabled_codes(select: tuple[str, ...], ignore: tuple[str, ...]) -> frozenset[str]:
    """Codes enabled by select/ignore prefixes; the longest matching prefix wins, as in Ruff."""
    enabled = set()
    for code in all_rules():
        best_sel = max((len(p) for p in select if code.startswith(p)), default=-1)
        best_ign = max((len(p) for p in ignore if code.startswith(p)), default=-1)
        if best_sel >= 0 and best_sel > best_ign:
            enabled.add(code)
    return frozenset(enabled)
