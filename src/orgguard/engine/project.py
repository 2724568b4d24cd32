"""What every file of a run shares: settings, knowledge, the rules, the project index (loaded lazily).

Built by :func:`orgguard.engine.runner.load_project`; read by the checking of each file
(engine/checking.py), in the main process or in worker processes that inherit it when forked.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from orgguard.config import Config
from orgguard.engine.blank import Triggers
from orgguard.engine.findings import RunError
from orgguard.engine.records import Layout, ProjectIndex
from orgguard.knowledge import Knowledge
from orgguard.registry import Rule

DEFAULT_MAX_FILE_SIZE = 2_000_000  # bytes; bigger files are reported and skipped (LibCST needs ~500x in memory)
PART_BYTES = 262_144  # bytes of a file's kept definitions per part, at most, when it is checked in parts


@dataclass(frozen=True)
class Project:
    """Everything that is the same for every file of a run (inherited by forked workers).

    The index is materialised on first use: a run whose every result is cached never decodes it.
    """

    config: Config
    knowledge: Knowledge
    index_source: Callable[[], ProjectIndex]
    rules: dict[str, Rule]
    checkers: tuple[str, ...]  # "module:Class" of every checker with an enabled rule
    # what every per-file result depends on besides the file itself ("" = results are not cached)
    fingerprint: str = ""
    cache_dir: Path | None = None  # .orgguard_cache/ (None: no cache)
    parsed: frozenset[str] = frozenset()  # sha256 of sources the index pass parsed with ast (syntax known good)
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    errors: tuple[RunError, ...] = ()  # problems met while loading, reported by every run
    precheck: bool = True  # skip the LibCST parse of files holding no checker's trigger (off: parse all)
    # sha256 of every project file by path, as the index pass took it (read, or vouched for by its stat)
    shas: Mapping[str, str] = field(default_factory=dict, repr=False)
    # where the top-level statements are, by sha256, for the sources the index pass parsed in this run
    # (blanking before the LibCST parse reads them instead of parsing the file again)
    layouts: Mapping[str, Layout] = field(default_factory=dict, repr=False)

    @functools.cached_property
    def index(self) -> ProjectIndex:
        return self.index_source()

    @functools.cached_property
    def tokens(self) -> tuple[bytes, ...] | None:
        """Pre-check: one of these must occur in a file for any enabled checker to report; None = always."""
        if not self.precheck:
            return None
        from orgguard.engine.plugins import tokens_for  # LibCST is imported only once a file is checked

        return tokens_for(self.checkers, self.knowledge, self.index)

    @functools.cached_property
    def blank_triggers(self) -> Triggers | None:
        """What a module-level definition must say to be parsed with LibCST (engine/blank.py; None: all are)."""
        if not self.precheck:
            return None
        from orgguard.engine.plugins import blank_triggers_for

        return blank_triggers_for(self.checkers, self.knowledge, self.index)

    @functools.cached_property
    def file_tokens(self) -> dict[str, tuple[bytes, ...]]:
        """Pre-check, per file (by path from the project root): more tokens that count there only."""
        from orgguard.engine.plugins import file_tokens_for

        return file_tokens_for(self.checkers, self.knowledge, self.index)


__all__ = ["DEFAULT_MAX_FILE_SIZE", "PART_BYTES", "Project"]
