"""Framework knowledge as data: ``rules/frameworks/*.toml`` and users' ``extend-rules`` packs.

A pack is a TOML file with a ``name``, a ``description`` and sections of string lists. Packs merge by
union, so a user's pack only adds (its own membership helper, org resolver, tenant header...). Every
section and key is declared in ``rules/frameworks/_schema.toml``; anything else is an error naming the key.
"""

from __future__ import annotations

import difflib
import hashlib
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orgguard.config import ConfigError
from orgguard.registry import rules_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SCHEMA_FILE = "_schema.toml"


def pack_schema() -> dict[str, dict[str, str]]:
    """section -> key -> one-line meaning, from ``rules/frameworks/_schema.toml``."""
    data = tomllib.loads((rules_dir() / "frameworks" / SCHEMA_FILE).read_text(encoding="utf-8"))
    return {section: dict(keys) for section, keys in data.items()}


@dataclass(frozen=True)
class Knowledge:
    """The merged packs: ``knowledge["queries.methods"]`` is a frozen set of names."""

    values: Mapping[str, frozenset[str]] = field(default_factory=dict)
    digest: str = ""

    def __getitem__(self, key: str) -> frozenset[str]:
        try:
            return self.values[key]
        except KeyError:
            raise KeyError(f"knowledge key {key!r} is not declared in rules/frameworks/{SCHEMA_FILE}") from None


def _validate_pack(
    path: Path, data: Mapping[str, Any], schema: Mapping[str, Mapping[str, str]]
) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for section, body in data.items():
        if section in ("name", "description"):
            if not isinstance(body, str):
                raise ConfigError(f"{path}: key '{section}' must be a string")
            continue
        if section not in schema:
            close = difflib.get_close_matches(section, list(schema), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; valid: {', '.join(schema)}"
            raise ConfigError(f"{path}: unknown section '{section}'{hint}")
        if not isinstance(body, dict):
            raise ConfigError(f"{path}: '{section}' must be a table")
        for key, value in body.items():
            if key not in schema[section]:
                close = difflib.get_close_matches(key, list(schema[section]), n=1)
                hint = f"; did you mean '{section}.{close[0]}'?" if close else ""
                raise ConfigError(f"{path}: unknown key '{section}.{key}'{hint}")
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{path}: key '{section}.{key}' must be a list of strings")
            out[f"{section}.{key}"] = value
    return out


def load_pack(path: Path, schema: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, list[str]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read knowledge pack: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return _validate_pack(path, data, schema if schema is not None else pack_schema())


def builtin_packs() -> list[Path]:
    return sorted(p for p in (rules_dir() / "frameworks").glob("*.toml") if p.name != SCHEMA_FILE)


def load_knowledge(extra: Iterable[Path] = ()) -> Knowledge:
    """Merge the built-in framework packs with the user's ``extend-rules`` packs."""
    schema = pack_schema()
    merged: dict[str, set[str]] = {f"{section}.{key}": set() for section, keys in schema.items() for key in keys}
    digest = hashlib.sha256()
    for path in [*builtin_packs(), *extra]:
        digest.update(path.read_bytes())
        for key, values in load_pack(path, schema).items():
            merged[key].update(values)
    return Knowledge({k: frozenset(v) for k, v in merged.items()}, digest.hexdigest()[:16])
