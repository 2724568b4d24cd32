"""The walk leaves out exactly the files the patterns match (git's rule), whatever the tree and patterns."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from orgguard.config import DEFAULT_EXCLUDE, Config
from orgguard.engine.discover import iter_python_files, path_patterns

PART = st.sampled_from(["a", "b", "app", "migrations", "tests", "conf", "build", "venv", "keep"])
NAME = st.sampled_from(["x.py", "test_x.py", "keep.py", "conf.py", "b.py"])
PATTERN = st.sampled_from(
    [
        *DEFAULT_EXCLUDE,
        "tests/",
        "test_*.py",
        "*.py",
        "x.py",
        "app/x.py",
        "/app/x.py",
        "a/b/",
        "a/*/x.py",
        "a/**/x.py",
        "**/b/*.py",
        "conf",
        "b",
        "app/b/",
        "*/x.py",
        "!keep.py",
        "!keep/",
        "!migrations/",
        "!a/b/x.py",
        "keep/*",
        "!**/conf.py",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.lists(PART, max_size=3), NAME), min_size=1, max_size=8), st.lists(PATTERN, max_size=6))
def test_the_walk_agrees_with_the_patterns(files: list[tuple[list[str], str]], patterns: list[str]) -> None:
    rels = {"/".join([*dirs, name]) for dirs, name in files}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp).resolve()
        for rel in rels:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text("x = 1\n")
        config = Config(root=root, exclude=tuple(patterns), respect_gitignore=False)
        walked = {p.relative_to(root).as_posix() for p in iter_python_files(root, config)}
        # a named file is excluded by the same rule
        named = {rel for rel in rels if not config.is_excluded(root / rel)}
    expected = {rel for rel in rels if not path_patterns(tuple(patterns)).matches(rel)}
    assert walked == expected == named


def test_default_excludes_keep_application_code() -> None:
    excluded = path_patterns(DEFAULT_EXCLUDE)
    assert not excluded.matches("app/models.py")
    assert excluded.matches("app/migrations/0001_initial.py")
    assert excluded.matches("src/pkg.egg-info/x.py")
    assert excluded.matches(".venv/lib/python3.12/site-packages/django/db/models.py")
