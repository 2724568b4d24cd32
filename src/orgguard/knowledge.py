"""Framework knowledge as data: ``rules/frameworks/*.toml`` and users' ``extend-rules`` packs.

A pack is a TOML file with a ``name``, a ``description`` and sections of string lists. Packs merge by
union, so a user's pack only adds (its own membership helper, org resolver, tenant header...). Every
section and key is declared in :data:`PACK_SCHEMA`; anything else is an error naming the key.
"""

from __future__ import annotations

import difflib
import hashlib
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from orgguard.config import ConfigError
from orgguard.registry import rules_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# section -> key -> one-line meaning (the docs' configuration reference reads this too)
PACK_SCHEMA: Mapping[str, Mapping[str, str]] = {
    "models": {
        "bases": "Base classes that make a class an ORM model (last dotted component is matched).",
        "foreign_keys": "Calls declaring a relation to another model; the target is the first argument "
        "or `to=` (Django ForeignKey, SQLAlchemy ForeignKey('table.col'), SQLModel Field(foreign_key=)).",
        "managers": "Class attributes through which a model is queried (`Invoice.objects`).",
        "user_model_refs": "Expressions that name the user model in a relation (settings.AUTH_USER_MODEL).",
    },
    "queries": {
        "methods": "Query-building or evaluating methods that continue a query chain.",
        "lookup_methods": "Methods whose keyword arguments are field lookups (`filter(organization=...)`).",
        "shortcuts": "Functions whose first argument is a model or query and the rest lookups (get_object_or_404).",
        "scoping_methods": "Methods that scope a query to one tenant by themselves (`for_org`).",
        "predicate_builders": "Calls that wrap lookups (`Q(...)`); their keywords count as lookups.",
    },
    "requests": {
        "handler_params": "Parameter names that make a function a request handler (`request`).",
        "view_bases": "Base classes of class-based views and viewsets.",
        "view_decorators": "Decorators that make a function a request handler.",
        "class_query_attrs": "Class attributes of views that hold a model or queryset.",
        "queryset_hooks": "View methods that narrow the class queryset (`get_queryset`).",
    },
    "trusted": {
        "org_sources": "Dotted expressions that are a membership-verified tenant or the signed-in user "
        "(`request.organization`, `request.user`, `current_org()`); `self.` before `request` is implied.",
    },
}


@dataclass(frozen=True)
class Knowledge:
    """The merged packs, as frozen sets of names (fields are ``<section>_<key>``)."""

    models_bases: frozenset[str] = frozenset()
    models_foreign_keys: frozenset[str] = frozenset()
    models_managers: frozenset[str] = frozenset()
    models_user_model_refs: frozenset[str] = frozenset()
    queries_methods: frozenset[str] = frozenset()
    queries_lookup_methods: frozenset[str] = frozenset()
    queries_shortcuts: frozenset[str] = frozenset()
    queries_scoping_methods: frozenset[str] = frozenset()
    queries_predicate_builders: frozenset[str] = frozenset()
    requests_handler_params: frozenset[str] = frozenset()
    requests_view_bases: frozenset[str] = frozenset()
    requests_view_decorators: frozenset[str] = frozenset()
    requests_class_query_attrs: frozenset[str] = frozenset()
    requests_queryset_hooks: frozenset[str] = frozenset()
    trusted_org_sources: frozenset[str] = frozenset()
    packs: tuple[str, ...] = ()
    digest: str = ""


_FIELD_NAMES = {f.name for f in fields(Knowledge)}


def _validate_pack(path: Path, data: Mapping[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for section, body in data.items():
        if section in ("name", "description"):
            if not isinstance(body, str):
                raise ConfigError(f"{path}: key '{section}' must be a string")
            continue
        if section not in PACK_SCHEMA:
            close = difflib.get_close_matches(section, list(PACK_SCHEMA), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; valid: {', '.join(PACK_SCHEMA)}"
            raise ConfigError(f"{path}: unknown section '{section}'{hint}")
        if not isinstance(body, dict):
            raise ConfigError(f"{path}: '{section}' must be a table")
        for key, value in body.items():
            if key not in PACK_SCHEMA[section]:
                close = difflib.get_close_matches(key, list(PACK_SCHEMA[section]), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise ConfigError(f"{path}: unknown key '{section}.{key}'{hint}")
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{path}: key '{section}.{key}' must be a list of strings")
            out[f"{section}_{key}"] = value
    return out


def load_pack(path: Path) -> dict[str, list[str]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read knowledge pack: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return _validate_pack(path, data)


def builtin_packs() -> list[Path]:
    return sorted((rules_dir() / "frameworks").glob("*.toml"))


def load_knowledge(extra: Iterable[Path] = ()) -> Knowledge:
    """Merge the built-in framework packs with the user's ``extend-rules`` packs."""
    merged: dict[str, set[str]] = {name: set() for name in _FIELD_NAMES - {"packs", "digest"}}
    names: list[str] = []
    digest = hashlib.sha256()
    for path in [*builtin_packs(), *extra]:
        digest.update(path.read_bytes())
        names.append(path.stem)
        for key, values in load_pack(path).items():
            merged[key].update(values)
    kwargs: dict[str, Any] = {k: frozenset(v) for k, v in merged.items()}
    return Knowledge(**kwargs, packs=tuple(names), digest=digest.hexdigest()[:16])
