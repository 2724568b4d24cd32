"""The walk's fast exclusion test for files gives path_matches' answer whenever the file's directories were kept."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from orgguard.config import DEFAULT_EXCLUDE, path_matches, walked_file_matcher

PART = st.sampled_from(["a", "b", "app", "migrations", "tests", "x.py", "test_x.py", "conf", "build", "venv"])
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
        "conf",
        "b",
        "app/b/",
        "*/x.py",
    ]
)


@settings(max_examples=3000, deadline=None)
@given(st.lists(PART, min_size=1, max_size=5), st.lists(PATTERN, max_size=6))
def test_walked_file_matcher_agrees_with_path_matches(parts: list[str], patterns: list[str]) -> None:
    *dirs, name = parts
    if not name.endswith(".py"):
        name += ".py"
    rel = "/".join([*dirs, name])
    ancestors = ["/".join(dirs[:i]) for i in range(1, len(dirs) + 1)]
    if any(path_matches(d, p) for d in ancestors for p in patterns):
        return  # the walk never enters such a directory
    expected = any(path_matches(rel, p) for p in patterns)
    assert walked_file_matcher(tuple(patterns))(name, rel) is expected


def test_default_excludes_never_cost_a_file_match() -> None:
    assert walked_file_matcher(DEFAULT_EXCLUDE)("models.py", "app/models.py") is False
    assert walked_file_matcher(("test_*.py",))("test_models.py", "app/test_models.py") is True
