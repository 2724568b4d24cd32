"""The JSON Schema of `[tool.orgguard]` (docs/orgguard.schema.json): generated from the validator's key
table, never drifting, valid draft 7, and in agreement with the validator on real and broken tables."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from orgguard.config import SCHEMA, ConfigError, parse_settings
from orgguard.registry import known_codes

from .conftest import REPO, fixture_apps

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

sys.path.insert(0, str(REPO / "scripts"))
import gen_docs

SCHEMA_FILE = REPO / "docs" / "orgguard.schema.json"
CORPUS_CONFIGS = sorted(p for p in (REPO / "scripts" / "corpus_configs").glob("*.toml") if not p.stem.endswith("-pack"))


def _schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return loaded


def _validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(_schema())


def _table(path: Path) -> dict[str, Any]:
    table: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))["tool"]["orgguard"]
    return table


def test_the_committed_schema_is_what_the_generator_writes() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == gen_docs.config_schema_text(), (
        "docs/orgguard.schema.json is stale: run `python scripts/gen_docs.py`"
    )


def test_the_schema_is_valid_draft_7_and_covers_every_key() -> None:
    schema = _schema()
    jsonschema.Draft7Validator.check_schema(schema)
    assert list(schema["properties"]) == [s.key for s in SCHEMA]
    assert schema["additionalProperties"] is False
    for setting in SCHEMA:
        assert schema["properties"][setting.key]["description"] == setting.doc


@pytest.mark.parametrize(
    "path",
    [*(app / "pyproject.toml" for app in fixture_apps()), REPO / "pyproject.toml", *CORPUS_CONFIGS],
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_every_table_the_project_ships_is_valid(path: Path) -> None:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    table = data.get("tool", {}).get("orgguard")
    if table is None:  # a fixture app on the defaults
        assert "[tool.orgguard]" not in path.read_text(encoding="utf-8")
        return
    errors = [e.message for e in _validator().iter_errors(table)]
    assert errors == []


def test_the_defaults_are_valid() -> None:
    defaults = {s.key: s.default for s in SCHEMA if s.default is not None}
    assert list(_validator().iter_errors(defaults)) == []
    parse_settings(defaults, root=REPO, source=None, known_codes=known_codes())


BROKEN = [
    {"tenant-modle": "Team"},
    {"tenant-model": 3},
    {"tenant-model": ["Team", 3]},
    {"select": "ORG101"},
    {"select": ["E501"]},
    {"ignore": ["org101"]},
    {"exclude": [""]},
    {"per-file-ignores": {"legacy/*.py": "ORG101"}},
    {"per-file-ignores": {"legacy/*.py": ["F401"]}},
    {"per-file-ignores": ["legacy/*.py"]},
    {"respect-gitignore": "yes"},
    {"require-suppression-reason": 1},
    {"target-version": "3.12"},
    {"target-version": "py27"},
]


@pytest.mark.parametrize("table", BROKEN, ids=json.dumps)
def test_the_schema_and_the_validator_refuse_the_same_tables(table: dict[str, Any]) -> None:
    assert list(_validator().iter_errors(table)), "the schema accepts it"
    with pytest.raises(ConfigError):
        parse_settings(table, root=REPO, source=None, known_codes=known_codes())


def test_a_corpus_config_is_read_by_the_validator_too() -> None:
    assert CORPUS_CONFIGS, "scripts/corpus_configs/ has the corpus settings"
    for path in CORPUS_CONFIGS:
        parse_settings(_table(path), root=REPO, source=path, known_codes=known_codes())
